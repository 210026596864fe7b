/**
 * Columns for plan errors and warnings. Instructions carry only line ranges,
 * so when the caller hands in the Dockerfile's lines (ParseResult.lines),
 * words are found again in the lines of their instruction; without them,
 * locations have no column.
 */
import type { SourceRange } from '../dockerfile/index.ts';
import type { SourceLocation } from '../errors.ts';

export class SourceText {
  constructor(
    readonly file: string,
    private readonly lines: readonly string[] | undefined,
  ) {}

  /** The instruction's first line, at its keyword. */
  at(range: SourceRange): SourceLocation {
    const line = this.lines?.[range.start - 1];
    const loc: SourceLocation = { file: this.file, line: range.start };
    if (range.end !== range.start) loc.endLine = range.end;
    if (line === undefined) return loc;
    return { ...loc, column: column(line, line.length - line.trimStart().length) };
  }

  /**
   * The `nth` (0-based) occurrence of `needle` in the instruction's lines,
   * else the keyword. Flags come before arguments, so searching from the
   * start finds the flag, not a look-alike in a command.
   */
  find(range: SourceRange, needle: string, nth = 0): SourceLocation {
    if (this.lines === undefined) return this.at(range);
    let seen = 0;
    for (let n = range.start; n <= range.end; n++) {
      const text = this.lines[n - 1] ?? '';
      for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length)) {
        if (seen++ === nth) return { file: this.file, line: n, column: column(text, i) };
      }
    }
    return this.at(range);
  }

  /** The first word after the keyword and its `--flags` on the instruction's first line (FROM's image), else the keyword. */
  firstArgument(range: SourceRange): SourceLocation {
    const text = this.lines?.[range.start - 1];
    if (text === undefined) return this.at(range);
    const words = [...text.matchAll(/\S+/g)];
    const word = words.slice(1).find((w) => !w[0].startsWith('--'));
    return word === undefined ? this.at(range) : { file: this.file, line: range.start, column: column(text!, word.index) };
  }

  /** The last word of the instruction's first line (FROM's stage name), else the keyword. */
  lastWord(range: SourceRange): SourceLocation {
    const text = this.lines?.[range.start - 1];
    const words = text === undefined ? [] : [...text.matchAll(/\S+/g)];
    const word = words[words.length - 1];
    return word === undefined ? this.at(range) : { file: this.file, line: range.start, column: column(text!, word.index) };
  }
}

/** 1-based column of UTF-16 offset `i`, counted in code points. */
function column(text: string, i: number): number {
  return [...text.slice(0, i)].length + 1;
}
