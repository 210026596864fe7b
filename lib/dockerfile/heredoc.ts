import type { Heredoc } from './instructions.ts';
import { ShellLexer } from './shell-lexer.ts';

// BuildKit finds heredocs with its shell lexer's ProcessWords over an empty
// environment (SkipUnsetEnv keeps every `$VAR` as written) and escape `\`.
const NO_ENV: ReadonlyMap<string, string> = new Map();
const lexer = new ShellLexer('\\');
function shellWords(text: string, o: { rawQuotes: boolean; rawEscapes: boolean }): string[] {
  return lexer.processWords(text, NO_ENV, { ...o, skipUnsetEnv: true });
}

/** A heredoc opener found in an instruction line; `content` is filled by the parser. */
export type HeredocOpener = Omit<Heredoc, 'content'>;

// BuildKit: ^(\d*)<<(-?)\s*([^<]*)$ with RE2's ASCII \d and \s.
const HEREDOC_WORD = /^([0-9]*)<<(-?)[\t\n\f\r ]*([^<]*)$/;

/**
 * Recognises one word as a heredoc opener (`<<EOF`, `<<-'EOF'`, `3<<EOF`,
 * `<< EOF`). Returns undefined when it is not one; throws ShellError when
 * the delimiter has an unterminated quote (`<<'EOF`). `expand` is false when
 * any part of the delimiter is quoted.
 */
export function parseHeredocWord(word: string): HeredocOpener | undefined {
  const match = HEREDOC_WORD.exec(word);
  if (match === null) return undefined;
  const rest = match[3] ?? '';
  if (rest === '') return undefined;
  const words = shellWords(rest, { rawQuotes: false, rawEscapes: false });
  const name = words[0];
  if (words.length !== 1 || name === undefined) return undefined;
  const raw = shellWords(rest, { rawQuotes: true, rawEscapes: false })[0] ?? '';
  return {
    name,
    expand: countQuotes(name) === countQuotes(raw),
    chomp: match[2] === '-',
    fileDescriptor: match[1] === '' ? 0 : Number(match[1]),
  };
}

/** Like parseHeredocWord, but an invalid word counts as "not a heredoc". */
export function heredocWordOrUndefined(word: string): HeredocOpener | undefined {
  try {
    return parseHeredocWord(word);
  } catch {
    return undefined;
  }
}

/**
 * Every heredoc opener in a full instruction line, in order. The line is split
 * into shell words with quotes and escapes kept, so `'<<EOF'` and `"<<EOF"`
 * are not openers; a line the word splitter rejects has none.
 */
export function heredocsFromLine(line: string): HeredocOpener[] {
  let words: string[];
  try {
    words = shellWords(line, { rawQuotes: true, rawEscapes: true });
  } catch {
    return [];
  }
  const found: HeredocOpener[] = [];
  for (const word of words) {
    const opener = parseHeredocWord(word);
    if (opener !== undefined) found.push(opener);
  }
  return found;
}

/** Removes leading tabs from every line: the `<<-` form, applied by the consumer. */
export function chompHeredoc(content: string): string {
  return content.replace(/(^|\n)\t+/g, '$1');
}

function countQuotes(text: string): number {
  let n = 0;
  for (const ch of text) if (ch === "'" || ch === '"') n++;
  return n;
}
