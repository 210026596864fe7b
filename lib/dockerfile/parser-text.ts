/**
 * Text helpers with Go's exact notions of whitespace, because the dump format
 * and argument splitting depend on them: `unicode.IsSpace` for trimming and
 * word boundaries, `[\t\v\f\r ]+` for BuildKit's whitespace splitting.
 */
import { GO_SPACE } from './directives.ts';

const LEADING = new RegExp(`^[${GO_SPACE}]+`, 'u');
const TRAILING = new RegExp(`[${GO_SPACE}]+$`, 'u');
const ONE_SPACE = new RegExp(`^[${GO_SPACE}]$`, 'u');
/** BuildKit's reWhitespace. */
export const WHITESPACE_RUN = /[\t\v\f\r ]+/;

/**
 * unicode.IsSpace applied to one BYTE, as BuildKit's flag and HEALTHCHECK
 * scanners do: only ASCII whitespace counts (a multi-byte character is never
 * a separator there).
 */
export function isAsciiSpace(ch: string): boolean {
  return ch === ' ' || (ch >= '\t' && ch <= '\r');
}

/** Go's unicode.IsSpace for one character. */
export function isGoSpace(ch: string): boolean {
  return ONE_SPACE.test(ch);
}

/** strings.TrimLeftFunc(s, unicode.IsSpace). */
export function trimLeft(text: string): string {
  return text.replace(LEADING, '');
}

/** strings.TrimSpace. */
export function trimGo(text: string): string {
  return text.replace(LEADING, '').replace(TRAILING, '');
}

/** Go regexp.Split(s, n) semantics for n = 2: at most one cut at the first run. */
export function splitOnce(text: string): [string] | [string, string] {
  const m = WHITESPACE_RUN.exec(text);
  if (m === null) return [text];
  return [text.slice(0, m.index), text.slice(m.index + m[0].length)];
}

/** Go regexp.Split(s, -1) on WHITESPACE_RUN (empty pieces kept). */
export function splitAll(text: string): string[] {
  return text.split(WHITESPACE_RUN);
}
