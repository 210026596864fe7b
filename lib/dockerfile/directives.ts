/**
 * Parser directives (`# syntax=…`, `# escape=…`, `# check=…`): comment lines
 * of the form `#key=value` at the very top of a Dockerfile. Scanning stops at
 * the first line that is not a known directive (a blank line, an ordinary
 * comment, an instruction, an unknown key); keys are case-insensitive and may
 * appear once each.
 */

/** One directive found by the scanner; `line` is 1-based. */
export interface Directive {
  name: 'syntax' | 'escape' | 'check';
  value: string;
  line: number;
}

/** A directive error (repeated key); the caller adds the file/line. */
export class DirectiveSyntaxError extends Error {}

const KNOWN = new Set(['syntax', 'escape', 'check']);
// Go RE2 `\s` is [\t\n\f\r ] (no \v); `.+?` then trailing `\s*` trims the value.
const DIRECTIVE_RE = /^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*([^\n]+?)[\t\n\f\r ]*$/;

/** Go's unicode.IsSpace set. */
export const GO_SPACE = '\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000';
const LEADING_SPACE = new RegExp(`^[${GO_SPACE}]+`);

/**
 * Stateful line-by-line scanner, mirroring BuildKit's DirectiveParser: feed it
 * every line in order; once a line is not a directive it returns undefined for
 * all following lines.
 */
export class DirectiveScanner {
  private line = 0;
  private done = false;
  private readonly seen = new Set<string>();

  constructor(private readonly commentPrefix = '#', firstLine = 1) {
    this.line = firstLine - 1;
  }

  /** Whether scanning has ended. */
  get finished(): boolean {
    return this.done;
  }

  /**
   * Looks at the next line. Returns the directive or undefined; throws
   * DirectiveSyntaxError on a repeated directive.
   */
  scan(text: string): Directive | undefined {
    this.line++;
    if (this.done) return undefined;
    if (!text.startsWith(this.commentPrefix)) {
      this.done = true;
      return undefined;
    }
    const body = text.slice(this.commentPrefix.length).replace(LEADING_SPACE, '');
    const match = DIRECTIVE_RE.exec(body);
    const key = match?.[1]?.toLowerCase();
    if (match === null || key === undefined || !KNOWN.has(key)) {
      this.done = true;
      return undefined;
    }
    if (this.seen.has(key)) throw new DirectiveSyntaxError(`only one ${key} parser directive can be used`);
    this.seen.add(key);
    return { name: key as Directive['name'], value: match[2] ?? '', line: this.line };
  }
}

/** Result of `detectSyntax` / `findDirective`. */
export interface DirectiveMatch {
  /** Value up to the first space (`dockerfile:1` from `dockerfile:1 // opts`). */
  ref: string;
  /** The whole value. */
  cmdline: string;
  /** 1-based line of the directive (a skipped shebang counts). */
  line: number;
}

/**
 * Finds the `syntax` directive the way BuildKit's frontend selector does:
 * `#` comments first, then `//` comments, then a whole-document JSON object
 * with a string `syntax` key. A UTF-8 BOM and a `#!` first line are skipped.
 */
export function detectSyntax(text: string): DirectiveMatch | undefined {
  return lookup('syntax', text, true);
}

/** Finds directive `key` in `#` comments only (BuildKit's ParseDirective). */
export function findDirective(key: 'syntax' | 'escape' | 'check', text: string): DirectiveMatch | undefined {
  return lookup(key, text, false);
}

function lookup(key: string, text: string, anyFormat: boolean): DirectiveMatch | undefined {
  let body = text.startsWith('\ufeff') ? text.slice(1) : text;
  let firstLine = 1;
  const newline = body.indexOf('\n');
  const head = newline === -1 ? body : body.slice(0, newline);
  if (head.startsWith('#!')) {
    body = newline === -1 ? '' : body.slice(newline + 1);
    firstLine = 2;
  }
  const prefixes = anyFormat ? ['#', '//'] : ['#'];
  for (const prefix of prefixes) {
    const found = scanAll(new DirectiveScanner(prefix, firstLine), body).find((d) => d.name === key);
    if (found !== undefined) {
      return { ref: found.value.split(' ')[0] ?? '', cmdline: found.value, line: found.line };
    }
  }
  if (!anyFormat) return undefined;
  const value = jsonDirective(body, key);
  return value === undefined ? undefined : { ref: value, cmdline: value, line: firstLine - 1 };
}

/**
 * The leading `#` directives of a file (BuildKit's DirectiveParser.ParseAll):
 * stops at the first non-directive line or at a repeated directive.
 */
export function parseDirectives(text: string): Directive[] {
  return scanAll(new DirectiveScanner(), text);
}

function scanAll(scanner: DirectiveScanner, body: string): Directive[] {
  const found: Directive[] = [];
  for (const raw of body.split('\n')) {
    if (scanner.finished) break;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    try {
      const d = scanner.scan(line);
      if (d !== undefined) found.push(d);
    } catch {
      break; // BuildKit returns what it found before the error
    }
  }
  return found;
}

function jsonDirective(body: string, key: string): string | undefined {
  try {
    const doc: unknown = JSON.parse(body);
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return undefined;
    const value: unknown = (doc as Record<string, unknown>)[key];
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}
