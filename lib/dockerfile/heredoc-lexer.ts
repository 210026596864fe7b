/**
 * The slice of BuildKit's shell word splitter (`shell.Lex.ProcessWords`)
 * that heredoc detection needs: escape token `\`, an empty environment and
 * SkipUnsetEnv, so every `$VAR`/`${…}` stays as written. The full lexer with
 * expansion lives in shell-lexer.ts; this one is kept separate because the
 * parser must not depend on expansion semantics, and it mirrors BuildKit's
 * quirks (a shared word buffer, `<<` followed by blanks kept in one word).
 */

/** Unterminated quote or bad `${…}`; BuildKit's heredoc code surfaces these. */
export class ShellWordError extends Error {}

export interface WordLexOptions {
  /** Keep `'` and `"` in the output words. */
  rawQuotes: boolean;
  /** Keep escape characters in the output words. */
  rawEscapes: boolean;
}

const SPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/u;
const DIGIT = /^\p{Nd}$/u;
const LETTER = /^\p{L}$/u;
const ESCAPE = '\\';

const isSpace = (ch: string): boolean => SPACE.test(ch);

/** Word collector; the buffer is shared between nested scans as in BuildKit. */
class Words {
  readonly words: string[] = [];
  private inWord = false;
  constructor(private readonly shared: { text: string }) {}

  addChar(ch: string): void {
    if (isSpace(ch)) {
      if (this.inWord && this.shared.text.length !== 0) {
        this.words.push(this.shared.text);
        this.shared.text = '';
        this.inWord = false;
      }
      return;
    }
    this.addRaw(ch);
  }

  addString(text: string): void {
    for (const ch of text) this.addChar(ch);
  }

  addRaw(text: string): void {
    this.shared.text += text;
    this.inWord = true;
  }

  finish(): string[] {
    if (this.shared.text.length > 0) {
      this.words.push(this.shared.text);
      this.shared.text = '';
      this.inWord = false;
    }
    return this.words;
  }
}

/**
 * Splits `text` into shell words without expanding anything. Throws
 * ShellWordError on an unterminated quote or malformed `${…}`.
 */
export function shellWords(text: string, options: WordLexOptions): string[] {
  return new WordLexer(text, options).run();
}

class WordLexer {
  private readonly chars: string[];
  private pos = 0;
  private rawEscapes: boolean;
  private readonly rawQuotes: boolean;
  private readonly shared = { text: '' };

  constructor(text: string, options: WordLexOptions) {
    this.chars = Array.from(text);
    this.rawEscapes = options.rawEscapes;
    this.rawQuotes = options.rawQuotes;
  }

  run(): string[] {
    return this.scanUntil(undefined, this.rawEscapes).words;
  }

  private peek(): string | undefined {
    return this.chars[this.pos];
  }

  private next(): string | undefined {
    const ch = this.chars[this.pos];
    if (ch !== undefined) this.pos++;
    return ch;
  }

  private scanUntil(stop: string | undefined, rawEscapes: boolean): { result: string; words: string[] } {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      return this.scanLoop(stop);
    } finally {
      this.rawEscapes = saved;
    }
  }

  private scanLoop(stop: string | undefined): { result: string; words: string[] } {
    this.shared.text = '';
    const words = new Words(this.shared);
    let result = '';
    for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
      if (ch === stop) {
        this.next();
        return { result, words: words.finish() };
      }
      const special = this.special(ch);
      if (special !== undefined) {
        result += special;
        if (ch === '$') words.addString(special);
        else words.addRaw(special);
        continue;
      }
      this.next();
      if (ch === ESCAPE) {
        if (this.rawEscapes) {
          words.addRaw(ch);
          result += ch;
        }
        const escaped = this.next();
        if (escaped === undefined) break;
        words.addRaw(escaped);
        result += escaped;
      } else {
        words.addChar(ch);
        result += ch;
      }
    }
    if (stop !== undefined) throw new ShellWordError(`unexpected end of statement while looking for matching ${stop}`);
    return { result, words: words.finish() };
  }

  private special(ch: string): string | undefined {
    switch (ch) {
      case '$':
        return this.dollar();
      case '<':
        return this.possibleHeredoc();
      case "'":
        return this.singleQuote();
      case '"':
        return this.doubleQuote();
      default:
        return undefined;
    }
  }

  private singleQuote(): string {
    let out = this.rawQuotes ? (this.next() ?? '') : (this.next(), '');
    for (;;) {
      const ch = this.next();
      if (ch === undefined) throw new ShellWordError('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") return this.rawQuotes ? out + ch : out;
      out += ch;
    }
  }

  private doubleQuote(): string {
    let out = this.rawQuotes ? (this.next() ?? '') : (this.next(), '');
    for (;;) {
      const peek = this.peek();
      if (peek === undefined) throw new ShellWordError('unexpected end of statement while looking for matching double-quote');
      if (peek === '"') {
        this.next();
        return this.rawQuotes ? out + peek : out;
      }
      if (peek === '$') {
        out += this.dollar();
        continue;
      }
      let ch = this.next() ?? '';
      if (ch === ESCAPE) {
        if (this.rawEscapes) out += ch;
        const after = this.peek();
        if (after === undefined) continue;
        if (after === '"' || after === '$' || after === ESCAPE) ch = this.next() ?? '';
      }
      out += ch;
    }
  }

  /** `$name`, `${name}`, `${name<op>word}`, `${name/pat/rep}` — all unset, so rebuilt as text. */
  private dollar(): string {
    this.next();
    if (this.peek() !== '{') {
      const name = this.name();
      return name === '' ? '$' : `$${name}`;
    }
    this.next();
    const first = this.peek();
    if (first === undefined) throw new ShellWordError("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw new ShellWordError('syntax error: bad substitution');
    const name = this.name();
    let ch = this.next();
    let ops = ch ?? '';
    if (ch === '}') return `\${${name}}`;
    if (ch === '/') return this.substitution(name);
    const colon = ch === ':';
    if (colon) {
      ch = this.next();
      ops += ch ?? '';
    }
    if (!colon && !(ch !== undefined && '+-?#%'.includes(ch))) {
      throw new ShellWordError(`unsupported modifier (${ops}) in substitution`);
    }
    const rawEscapes = ch === '#' || ch === '%';
    if (colon && rawEscapes) throw new ShellWordError(`unsupported modifier (${ops}) in substitution`);
    const word = this.braced('}', rawEscapes);
    return `\${${name}${ops}${word}}`;
  }

  private substitution(name: string): string {
    if (this.peek() === '/') this.next();
    const pattern = this.braced('/', true, "syntax error: missing '/' in ${}");
    const replacement = this.braced('}', true);
    return `\${${name}/${pattern}/${replacement}}`;
  }

  private braced(stop: string, rawEscapes: boolean, eofMessage = "syntax error: missing '}'"): string {
    try {
      return this.scanUntil(stop, rawEscapes).result;
    } catch (err) {
      if (this.peek() === undefined) throw new ShellWordError(eofMessage);
      throw err;
    }
  }

  private name(): string {
    let name = '';
    for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
      if (name === '' && DIGIT.test(ch)) {
        while (this.peek() !== undefined && DIGIT.test(this.peek() ?? '')) name += this.next();
        return name;
      }
      if (name === '' && '@*#?-$!0'.includes(ch)) return this.next() ?? '';
      if (!LETTER.test(ch) && !DIGIT.test(ch) && ch !== '_') break;
      name += this.next();
    }
    return name;
  }

  private possibleHeredoc(): string {
    this.next();
    if (this.peek() !== '<') return '<';
    this.next();
    let out = '<<';
    for (let ch = this.peek(); ch === '\t' || ch === '\r' || ch === ' '; ch = this.peek()) out += this.next();
    return out;
  }
}
