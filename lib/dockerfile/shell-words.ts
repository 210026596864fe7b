/**
 * Word splitting for `ShellLexer.processWords`: characters that came from
 * unquoted text or variable values split on whitespace; "raw" characters
 * (from quotes, escapes, heredoc markers) never split.
 */

/** Go's `unicode.IsSpace`: the White_Space property (note: not U+FEFF). */
const GO_SPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/u;

/** True for a code point that Go's `unicode.IsSpace` accepts. */
export function isShellSpace(ch: string): boolean {
  return GO_SPACE.test(ch);
}

/** Collects the words of one processed span. Empty words are never emitted. */
export class WordCollector {
  private current = '';
  private inWord = false;
  private readonly words: string[] = [];

  /** A character that splits when it is whitespace. */
  addChar(ch: string): void {
    if (!isShellSpace(ch)) {
      this.addRawChar(ch);
    } else if (this.inWord && this.current !== '') {
      this.words.push(this.current);
      this.current = '';
      this.inWord = false;
    }
  }

  /** A character that is always part of the current word. */
  addRawChar(ch: string): void {
    this.current += ch;
    this.inWord = true;
  }

  /** Expanded text whose whitespace splits (variable values). */
  addString(text: string): void {
    for (const ch of text) this.addChar(ch);
  }

  /** Text that never splits (quoted strings). */
  addRawString(text: string): void {
    this.current += text;
    this.inWord = true;
  }

  /** The words so far, including the one in progress. */
  finish(): string[] {
    if (this.current !== '') {
      this.words.push(this.current);
      this.current = '';
      this.inWord = false;
    }
    return this.words;
  }
}
