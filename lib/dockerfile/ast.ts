import type { Heredoc, SourceRange } from './instructions.ts';

/**
 * One instruction as the parser sees it: keyword, `--flags`, argument words
 * split by the keyword's line rule, heredoc bodies. Nothing is validated or
 * expanded yet; `toInstructions` does that.
 */
export interface AstNode {
  /** Keyword lower-cased (`run`); the dump and dispatch use this. */
  keyword: string;
  /** Keyword as written (`Run`), for messages such as "unknown instruction: Run". */
  rawKeyword: string;
  /** Source text with continuation lines joined (BuildKit's `Node.Original`). */
  original: string;
  /** Leading `--flag[=value]` words, quotes and escapes removed, in order. */
  flags: string[];
  /**
   * Arguments after the flags. For ENV/LABEL: (name, value, separator)
   * triples, separator `""` (legacy `K V`) or `"="`. For HEALTHCHECK: the type
   * word, then the command. For ONBUILD: empty, see `child`. For an unknown
   * keyword: `[""]` (as BuildKit's dump shows).
   */
  args: string[];
  /** ONBUILD's trigger, parsed as an instruction of its own. */
  child?: AstNode;
  /** True when the arguments were a JSON array (exec form). */
  json: boolean;
  /** Heredoc bodies consumed after the instruction line (RUN/COPY/ADD, also under ONBUILD). */
  heredocs: Heredoc[];
  /** Lines of the instruction including continuation lines and heredoc bodies. */
  range: SourceRange;
  /**
   * 1-based column of the keyword on the first line (after indentation);
   * an ONBUILD trigger's child carries the column of its own keyword.
   */
  column: number;
  /** Comment lines right before the instruction (BuildKit's `PrevComment`). */
  comments: string[];
}

/** Parser directives from the leading `# key=value` lines. */
export interface Directives {
  /** `# syntax=` value, as written (e.g. `docker/dockerfile:1`). */
  syntax?: string;
  /** The escape character in force: `\` (default) or `` ` ``. */
  escape: '\\' | '`';
  /** `# check=` value, as written (e.g. `skip=all;error=true`). */
  check?: string;
  /** 1-based line of the `# check=` directive, when there is one. */
  checkLine?: number;
}

/** A problem that does not stop the build (BuildKit prints these). */
export interface ParseWarning {
  /** Stable code: `EMPTY_CONTINUATION` for blank lines inside a continuation. */
  code: 'EMPTY_CONTINUATION';
  /** BuildKit's short text: "Empty continuation line found in: RUN …". */
  message: string;
  detail: string;
  url: string;
  /** Line where the instruction ended (BuildKit's choice). */
  line: number;
}

/** Result of `parseDockerfile`. */
export interface ParseResult {
  file: string;
  directives: Directives;
  /** Same as `directives.escape`. */
  escapeToken: '\\' | '`';
  /** Instructions in source order. Never empty (an empty file is an error). */
  nodes: AstNode[];
  warnings: ParseWarning[];
  /**
   * The physical lines of the file (BOM and line terminators removed), for
   * pointing errors at a column: `lines[n - 1]` is line n.
   */
  lines: readonly string[];
}

/**
 * Renders nodes in BuildKit's S-expression dump format (`Node.Dump`), one
 * instruction per line, each line ending in `\n`. Used by conformance tests
 * and for debugging; the format is stable.
 */
export function dumpAst(nodes: readonly AstNode[]): string {
  return nodes.map((n) => `(${dumpNode(n)})\n`).join('');
}

function dumpNode(node: AstNode): string {
  let out = node.keyword;
  if (node.flags.length > 0) out += ` [${node.flags.map(goQuote).join(' ')}]`;
  if (node.child !== undefined) return `${out} (${dumpNode(node.child)})`;
  for (const arg of node.args) out += ` ${goQuote(arg)}`;
  return out;
}

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;
const NAMED_ESCAPES: Record<string, string> = {
  '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v',
  '"': '\\"', '\\': '\\\\',
};

/**
 * Quotes `text` exactly as Go's `strconv.Quote` does for valid UTF-8 (the dump
 * format depends on it): printable runes as they are, named escapes, `\xHH`
 * below 0x20 and 0x7F, `\uHHHH`/`\UHHHHHHHH` for other non-printables. A lone
 * surrogate (impossible in Go strings) is written as U+FFFD.
 */
export function goQuote(text: string): string {
  let out = '"';
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    const named = NAMED_ESCAPES[ch];
    if (named !== undefined) out += named;
    else if (cp >= 0xd800 && cp <= 0xdfff) out += '\ufffd';
    else if (PRINTABLE.test(ch)) out += ch;
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${hex(cp, 2)}`;
    else if (cp < 0x10000) out += `\\u${hex(cp, 4)}`;
    else out += `\\U${hex(cp, 8)}`;
  }
  return `${out}"`;
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}
