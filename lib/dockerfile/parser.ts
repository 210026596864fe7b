/**
 * Dockerfile text → AST, with BuildKit's `dockerfile:1` line rules: parser
 * directives, BOM, CRLF, escape-character continuations (comments and blank
 * lines inside them skipped), heredoc bodies, per-keyword argument splitting.
 */
import type { AstNode, Directives, ParseResult, ParseWarning } from './ast.ts';
import { DirectiveScanner, DirectiveSyntaxError } from './directives.ts';
import { DockerfileError, InstructionError } from './errors.ts';
import { heredocsFromLine } from './heredoc.ts';
import { ShellError } from './shell-error.ts';
import type { Heredoc } from './instructions.ts';
import { parseLine } from './parser-args.ts';
import type { LineNode } from './parser-args.ts';
import { trimGo, trimLeft } from './parser-text.ts';

/** Go's bufio.Scanner limit: a line (with its newline) must fit in 64 KiB. */
const MAX_LINE_BYTES = 65536;
const HEREDOC_KEYWORDS = new Set(['run', 'copy', 'add']);
const EMPTY_CONTINUATION_URL = 'https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/';

/**
 * Parses a Dockerfile. `text` may be bytes (decoded as UTF-8; invalid
 * sequences become U+FFFD) or a string. Words are not expanded and
 * instructions are not validated beyond what the line rules need (see
 * toInstructions). Throws DockerfileError with code DOCKERFILE_EMPTY,
 * DOCKERFILE_SYNTAX, DIRECTIVE_INVALID, JSON_NON_STRING or INSTRUCTION_INVALID
 * (ENV/LABEL without a value, `name` without `=`), located at `file`:line.
 */
export function parseDockerfile(text: string | Uint8Array, file = 'Dockerfile'): ParseResult {
  return new Parser(decode(text), file).run();
}

function decode(text: string | Uint8Array): string {
  // TextDecoder drops a leading BOM by default; strings get the same treatment.
  if (typeof text !== 'string') return new TextDecoder('utf-8').decode(text);
  return text.startsWith('\ufeff') ? text.slice(1) : text;
}

/** Physical lines with their terminators, and the 1-based number of the last one read. */
class LineReader {
  private readonly lines: string[];
  private index = 0;

  constructor(text: string, private readonly file: string) {
    this.lines = text.split(/(?<=\n)/);
    if (this.lines[this.lines.length - 1] === '') this.lines.pop();
  }

  /** Every physical line without its terminator. */
  all(): string[] {
    return this.lines.map((raw) => raw.replace(/\r?\n$/, ''));
  }

  /** Number of lines read so far (= 1-based number of the last one). */
  get line(): number {
    return this.index;
  }

  next(): string | undefined {
    const raw = this.lines[this.index];
    if (raw === undefined) return undefined;
    this.index++;
    const body = raw.endsWith('\n') ? raw.slice(0, -1) : raw;
    if (body.length * 3 >= MAX_LINE_BYTES && Buffer.byteLength(body) >= MAX_LINE_BYTES) {
      throw new DockerfileError('DOCKERFILE_SYNTAX', `dockerfile line greater than max allowed size of ${MAX_LINE_BYTES - 1}`, {
        file: this.file,
        line: this.index,
        column: 1,
      });
    }
    return raw;
  }
}

class Parser {
  private readonly reader: LineReader;
  private readonly scanner = new DirectiveScanner();
  private readonly directives: Directives = { escape: '\\' };
  private readonly nodes: AstNode[] = [];
  private readonly warnings: ParseWarning[] = [];
  private comments: string[] = [];

  constructor(text: string, private readonly file: string) {
    this.reader = new LineReader(text, file);
  }

  run(): ParseResult {
    for (let raw = this.reader.next(); raw !== undefined; raw = this.reader.next()) {
      this.collectComment(raw);
      const first = this.processLine(raw, true);
      const start = this.reader.line;
      const [text, ended] = trimContinuation(first, this.directives.escape);
      if (ended && text === '') continue;
      const column = indentColumn(raw);
      const line = ended ? text : this.readContinuation(text);
      this.addNode(line, start, column);
      this.comments = [];
    }
    if (this.nodes.length === 0) {
      throw new DockerfileError('DOCKERFILE_EMPTY', 'file with no instructions', { file: this.file, line: Math.max(1, this.reader.line), column: 1 });
    }
    return {
      file: this.file, directives: this.directives, escapeToken: this.directives.escape, nodes: this.nodes, warnings: this.warnings,
      lines: this.reader.all(),
    };
  }

  /** Joins continuation lines onto `text` until a line does not continue or input ends. */
  private readContinuation(text: string): string {
    let line = text;
    let sawEmpty = false;
    let ended = false;
    while (!ended) {
      const raw = this.reader.next();
      if (raw === undefined) break;
      const processed = this.processLine(raw, false);
      if (isComment(raw)) continue;
      if (trimLeft(trimNewline(processed)) === '') {
        sawEmpty = true;
        continue;
      }
      let piece: string;
      [piece, ended] = trimContinuation(processed, this.directives.escape);
      line += piece;
    }
    if (sawEmpty) {
      this.warnings.push({
        code: 'EMPTY_CONTINUATION',
        message: `Empty continuation line found in: ${line}`,
        detail: 'Empty continuation lines will become errors in a future release',
        url: EMPTY_CONTINUATION_URL,
        line: this.reader.line,
      });
    }
    return line;
  }

  private addNode(line: string, start: number, column: number): void {
    let parsed: LineNode;
    try {
      parsed = parseLine(line, this.directives.escape);
    } catch (err) {
      throw this.located(err, start, column);
    }
    const heredocs = canContainHeredoc(parsed) && line.includes('<<') ? this.readHeredocs(line, start, column) : [];
    const range = { start, end: this.reader.line };
    this.nodes.push({ ...toAst(parsed, line, range, column), heredocs, comments: this.comments });
  }

  private readHeredocs(line: string, start: number, column: number): Heredoc[] {
    let openers;
    try {
      openers = heredocsFromLine(line);
    } catch (err) {
      throw this.located(err, start, column);
    }
    return openers.map((opener) => {
      let content = '';
      for (let raw = this.reader.next(); raw !== undefined; raw = this.reader.next()) {
        let candidate = trimNewline(raw);
        if (opener.chomp) candidate = candidate.replace(/^\t+/, '');
        if (candidate === opener.name) return { ...opener, content };
        content += raw;
      }
      const at = line.indexOf('<<');
      throw new DockerfileError('DOCKERFILE_SYNTAX', 'unterminated heredoc', {
        file: this.file, line: start, endLine: this.reader.line, column: column + (at === -1 ? 0 : codePoints(line.slice(0, at))),
      });
    });
  }

  /** BuildKit's processLine: trim newline (and leading space), feed the directive scanner, drop comments. */
  private processLine(raw: string, stripLeft: boolean): string {
    let token = trimNewline(raw);
    if (stripLeft) token = trimLeft(token);
    try {
      const directive = this.scanner.scan(token);
      if (directive !== undefined) this.applyDirective(directive.name, directive.value);
    } catch (err) {
      if (err instanceof DirectiveSyntaxError) {
        throw new DockerfileError('DIRECTIVE_INVALID', err.message, { file: this.file, line: this.reader.line, column: 1 });
      }
      throw err;
    }
    return isComment(token) ? '' : token;
  }

  private applyDirective(name: 'syntax' | 'escape' | 'check', value: string): void {
    this.comments.pop(); // a directive line is not a doc comment
    if (name !== 'escape') {
      this.directives[name] = value;
      if (name === 'check') this.directives.checkLine = this.reader.line;
      return;
    }
    if (value !== '`' && value !== '\\') {
      throw new DirectiveSyntaxError(`invalid escape token '${value}' does not match \` or \\`);
    }
    this.directives.escape = value;
  }

  private collectComment(raw: string): void {
    if (!isComment(raw)) return;
    const comment = trimGo(raw.slice(1));
    // Push, not spread: a file of many comment lines must stay linear.
    if (comment === '') this.comments = [];
    else this.comments.push(comment);
  }

  private located(err: unknown, start: number, column: number): unknown {
    const location = { file: this.file, line: start, endLine: this.reader.line, column };
    if (err instanceof InstructionError) return new DockerfileError(err.code, err.message, location);
    if (err instanceof ShellError) return new DockerfileError('DOCKERFILE_SYNTAX', err.message, location);
    return err;
  }
}

function toAst(node: LineNode, original: string, range: { start: number; end: number }, column: number): Omit<AstNode, 'heredocs' | 'comments'> {
  let child: AstNode | undefined;
  if (node.child !== undefined) {
    // The trigger keyword follows ONBUILD on the same logical line.
    const at = original.indexOf(node.child.rawKeyword, node.rawKeyword.length);
    const childColumn = at === -1 ? column : column + codePoints(original.slice(0, at));
    child = { ...toAst(node.child, original, range, childColumn), heredocs: [], comments: [] };
  }
  return {
    keyword: node.keyword,
    rawKeyword: node.rawKeyword,
    original,
    flags: node.flags,
    args: node.args,
    json: node.json,
    range,
    column,
    ...(child === undefined ? {} : { child }),
  };
}

function codePoints(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** 1-based column of the first non-space character of a raw line. */
function indentColumn(raw: string): number {
  const line = trimNewline(raw);
  return 1 + codePoints(line.slice(0, line.length - trimLeft(line).length));
}

function canContainHeredoc(node: LineNode): boolean {
  const target = node.keyword === 'onbuild' && node.child !== undefined ? node.child : node;
  return HEREDOC_KEYWORDS.has(target.keyword) && !target.json;
}

function isComment(line: string): boolean {
  return trimLeft(line).startsWith('#');
}

function trimNewline(line: string): string {
  return line.replace(/[\r\n]+$/, '');
}

/**
 * BuildKit's continuation rule: the line continues when its last character
 * other than spaces/tabs is the escape token and is not itself escaped (or is
 * the only character). Returns the line without that token and whitespace.
 */
function trimContinuation(line: string, escape: string): [string, boolean] {
  let end = line.length;
  while (end > 0 && (line[end - 1] === ' ' || line[end - 1] === '\t')) end--;
  if (end === 0 || line[end - 1] !== escape) return [line, true];
  if (end === 1) return ['', false];
  if (line[end - 2] === escape) return [line, true];
  return [line.slice(0, end - 1), false];
}
