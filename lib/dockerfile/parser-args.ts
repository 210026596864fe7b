/**
 * Turns one logical instruction line into keyword, flags and argument words,
 * following BuildKit's per-keyword line rules (parser/line_parsers.go and
 * split_command.go). Pure functions; errors are InstructionError with a code, the
 * parser adds the location.
 */
import { goQuote } from './ast.ts';
import { InstructionError } from './errors.ts';
import { isAsciiSpace, isGoSpace, splitAll, splitOnce, trimGo, trimLeft } from './parser-text.ts';

/** What the line rules produce for one instruction (no location yet). */
export interface LineNode {
  rawKeyword: string;
  keyword: string;
  flags: string[];
  args: string[];
  json: boolean;
  child?: LineNode;
}

interface Parsed {
  args: string[];
  json: boolean;
  child?: LineNode;
}

type LineRule = (rest: string, escape: string) => Parsed;

const plain = (args: string[]): Parsed => ({ args, json: false });

const RULES: Record<string, LineRule> = {
  add: maybeJsonToList,
  arg: (rest, escape) => plain(parseWords(rest, escape)),
  cmd: maybeJson,
  copy: maybeJsonToList,
  entrypoint: maybeJson,
  env: (rest, escape) => plain(parseNameVal(rest, 'ENV', escape)),
  expose: (rest) => plain(whitespaceDelimited(rest)),
  from: (rest) => plain(whitespaceDelimited(rest)),
  healthcheck: healthConfig,
  label: (rest, escape) => plain(parseNameVal(rest, 'LABEL', escape)),
  maintainer: (rest) => plain(rest === '' ? [] : [rest]),
  onbuild: (rest, escape) => (rest === '' ? plain([]) : { args: [], json: false, child: parseLine(rest, escape) }),
  run: maybeJson,
  shell: maybeJson,
  stopsignal: (rest) => plain(rest === '' ? [] : [rest]),
  user: (rest) => plain(rest === '' ? [] : [rest]),
  volume: maybeJsonToList,
  workdir: (rest) => plain(rest === '' ? [] : [rest]),
};

/**
 * Splits a logical line (continuations joined) into keyword, flags and args.
 * An unknown keyword is kept with args `[""]`, as BuildKit does; rejecting it
 * is toInstructions' job.
 */
export function parseLine(line: string, escape: string): LineNode {
  const [rawKeyword, after] = splitOnce(trimGo(line));
  let flags: string[] = [];
  let rest = '';
  if (after !== undefined) {
    const extracted = extractFlags(after, escape);
    flags = extracted.flags;
    rest = trimGo(extracted.rest);
  }
  const keyword = rawKeyword.toLowerCase();
  const rule = RULES[keyword];
  const parsed = rule === undefined ? plain(['']) : rule(rest, escape);
  return { rawKeyword, keyword, flags, ...parsed };
}

/**
 * Collects leading `--flag` words: quotes removed, the escape character
 * escapes the next character, a bare `--` ends the flags and is dropped.
 */
export function extractFlags(line: string, escape: string): { rest: string; flags: string[] } {
  const chars = Array.from(line);
  const flags: string[] = [];
  let pos = 0;
  for (;;) {
    while (pos < chars.length && isAsciiSpace(chars[pos] ?? '')) pos++;
    if (pos >= chars.length) return { rest: '', flags };
    if (chars[pos] !== '-' || chars[pos + 1] !== '-') return { rest: chars.slice(pos).join(''), flags };
    const word = readFlagWord(chars, pos, escape);
    pos = word.end;
    if (word.text === '--') return { rest: chars.slice(pos).join(''), flags };
    if (word.quoted || word.text.length > 0) flags.push(word.text);
  }
}

function readFlagWord(chars: string[], start: number, escape: string): { text: string; end: number; quoted: boolean } {
  let text = '';
  let quote: string | undefined;
  let quoted = false;
  let pos = start;
  for (; pos < chars.length; pos++) {
    let ch = chars[pos] ?? '';
    if (quote === undefined && isAsciiSpace(ch)) break;
    if (quote === undefined && (ch === "'" || ch === '"')) {
      quote = ch;
      quoted = true;
      continue;
    }
    if (quote !== undefined && ch === quote) {
      quote = undefined;
      continue;
    }
    if (ch === escape) {
      if (pos + 1 === chars.length) continue; // a trailing escape is dropped
      ch = chars[++pos] ?? '';
    }
    text += ch;
  }
  return { text, end: pos, quoted };
}

/**
 * BuildKit's quote-aware word splitter for ARG/ENV/LABEL: splits on
 * whitespace outside quotes and keeps quotes and escape characters in the
 * words (they are removed during expansion). `'` quotes cannot escape.
 */
export function parseWords(rest: string, escape: string): string[] {
  const chars = Array.from(rest);
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let blankOk = false;
  let quote: string | undefined;
  for (let pos = 0; pos < chars.length; pos++) {
    let ch = chars[pos] ?? '';
    if (quote === undefined) {
      if (isGoSpace(ch)) {
        if (inWord && (blankOk || word.length > 0)) words.push(word);
        word = '';
        inWord = false;
        blankOk = false;
        continue;
      }
      inWord = true;
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOk = true;
      } else if (ch === escape) {
        if (pos + 1 === chars.length) continue;
        word += ch;
        ch = chars[++pos] ?? '';
      }
      word += ch;
      continue;
    }
    if (ch === quote) quote = undefined;
    else if (ch === escape && quote !== "'") {
      if (pos + 1 === chars.length) {
        quote = undefined;
        continue;
      }
      word += ch;
      ch = chars[++pos] ?? '';
    }
    word += ch;
  }
  if (inWord && (blankOk || word.length > 0)) words.push(word);
  return words;
}

/**
 * ENV/LABEL: legacy `NAME value…` (first word has no `=`) gives one triple
 * (name, rest verbatim, ""); otherwise one (name, value, "=") per word.
 */
export function parseNameVal(rest: string, key: 'ENV' | 'LABEL', escape: string): string[] {
  const words = parseWords(rest, escape);
  const first = words[0];
  if (first === undefined) return [];
  if (!first.includes('=')) {
    const parts = splitOnce(rest);
    if (parts.length < 2) throw new InstructionError('INSTRUCTION_INVALID', `${key} must have two arguments`);
    return [parts[0], parts[1] ?? '', ''];
  }
  const out: string[] = [];
  for (const word of words) {
    const eq = word.indexOf('=');
    if (eq === -1) {
      throw new InstructionError('INSTRUCTION_INVALID', `Syntax error - can't find = in ${goQuote(word)}. Must be of the form: name=value`);
    }
    out.push(word.slice(0, eq), word.slice(eq + 1), '=');
  }
  return out;
}

function whitespaceDelimited(rest: string): string[] {
  return rest === '' ? [] : splitAll(rest);
}

/**
 * Exec-form detection: the text must start with `[` (after whitespace) and be
 * a JSON array. Returns undefined when it is not JSON; throws JSON_NON_STRING
 * for a JSON array with a non-string element (no fallback then).
 */
export function parseJsonArray(rest: string): string[] | undefined {
  const text = trimLeft(rest);
  if (!text.startsWith('[')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  const items: unknown[] = value;
  if (!items.every((v): v is string => typeof v === 'string')) {
    throw new InstructionError('JSON_NON_STRING', 'when using JSON array syntax, arrays must be comprised of strings only');
  }
  return items;
}

function maybeJson(rest: string): Parsed {
  if (rest === '') return plain([]);
  const json = parseJsonArray(rest);
  return json === undefined ? plain([rest]) : { args: json, json: true };
}

function maybeJsonToList(rest: string): Parsed {
  const json = parseJsonArray(rest);
  return json === undefined ? plain(whitespaceDelimited(rest)) : { args: json, json: true };
}

function healthConfig(rest: string): Parsed {
  const chars = Array.from(rest);
  let sep = 0;
  while (sep < chars.length && !isAsciiSpace(chars[sep] ?? '')) sep++;
  if (sep === 0) return plain([]);
  let next = sep;
  while (next < chars.length && isAsciiSpace(chars[next] ?? '')) next++;
  const cmd = maybeJson(chars.slice(next).join(''));
  return { args: [chars.slice(0, sep).join(''), ...cmd.args], json: cmd.json };
}
