/**
 * One `.dockerignore` pattern, compiled the way moby/patternmatcher does it:
 * syntax checked with Go's `filepath.Match` rules, then classified as an
 * exact, prefix (`dir/**`), suffix (`**\/name`) or regular-expression match.
 * The classes are not a detail: a suffix pattern such as `**file` matches
 * `xfile`, while the regular expression for `**file*` would not.
 *
 * Known deviations from upstream, all in patterns no real file uses: upstream
 * pastes the glob text into a Go regexp, so inside `[...]` a `*` or `?` turns
 * into regexp syntax, `\d`/`\w`/`\b` become Perl classes or anchors, `^`
 * outside a class is an anchor and `[[:alpha:]]` a POSIX class. Here `\x`
 * is always the literal `x`, and `[...]` holds exactly the characters and
 * ranges `filepath.Match` would read.
 */

/** A piece of a compiled pattern. */
type Token =
  | { kind: 'literal'; ch: string }
  | { kind: 'star' } // `*`: any run without `/`
  | { kind: 'one' } // `?`: one character but `/`
  | { kind: 'class'; negated: boolean; ranges: Array<[number, number]> }
  | { kind: 'dirs' } // `**/` or inner `**`: `(.*/)?`
  | { kind: 'rest' } // trailing `**` of a pattern that is already a regexp: `.*`
  | { kind: 'caret' }; // unescaped `^`: upstream's regexp reads it as the start anchor

export type MatchKind = 'exact' | 'prefix' | 'suffix' | 'regexp';

/** Thrown for a pattern `filepath.Match` would reject; the caller wraps it. */
export class GlobSyntaxError extends Error {}

export interface CompiledPattern {
  readonly kind: MatchKind;
  /** The pattern the matcher was given, cleaned, without `!`. */
  readonly pattern: string;
  /** True when the pattern is valid glob syntax but cannot be compiled; matching it throws. */
  readonly bad: boolean;
  /** Whether `path` matches (not its parents). Throws GlobSyntaxError when `bad`. */
  match(path: string): boolean;
  /** Whether some path strictly below `dir` could match. Conservative: true when unsure. */
  couldMatchBelow(dir: string): boolean;
}

/** Compiles a cleaned pattern (without `!`). Throws GlobSyntaxError on bad syntax. */
export function compilePattern(pattern: string): CompiledPattern {
  const chars = Array.from(pattern);
  let kind: MatchKind = 'exact';
  let badEscape = false;
  const tokens: Token[] = [];
  for (let pos = 0, index = 0; pos < chars.length; index++) {
    const ch = chars[pos++]!;
    if (ch === '*' && chars[pos] === '*') {
      pos++;
      if (chars[pos] === '/') pos++;
      if (pos < chars.length) tokens.push({ kind: 'dirs' });
      else if (kind !== 'exact') tokens.push({ kind: 'rest' });
      kind = pos < chars.length || kind !== 'exact' ? 'regexp' : 'prefix';
      if (index === 0) kind = 'suffix';
      continue;
    }
    if (ch === '[') {
      const parsed = parseClass(chars, pos);
      tokens.push(parsed.token);
      pos = parsed.end;
      badEscape ||= parsed.badEscape;
    } else if (ch === '\\') {
      if (pos >= chars.length) throw new GlobSyntaxError('trailing escape');
      const escaped = chars[pos++]!;
      badEscape ||= !isRegexpLiteralEscape(escaped);
      tokens.push({ kind: 'literal', ch: escaped });
    } else if (ch === '*' || ch === '?') {
      tokens.push({ kind: ch === '*' ? 'star' : 'one' });
    } else {
      tokens.push(ch === '^' ? { kind: 'caret' } : { kind: 'literal', ch });
      if (ch !== ']') continue;
    }
    kind = 'regexp';
  }
  return build(pattern, kind, tokens, badEscape);
}

/**
 * Go's regexp takes `\c` as the literal `c` only for ASCII punctuation,
 * space and controls. Escaped letters, digits and non-ASCII characters are
 * errors or mean something else there (`\d`, `\t`, `\x41`); kiln rejects
 * them all, when the pattern is first used, as upstream does for most.
 */
function isRegexpLiteralEscape(ch: string): boolean {
  return ch.length === 1 && ch < '\x80' && !/[0-9A-Za-z]/.test(ch);
}

/**
 * Parses a class body starting after `[` with `filepath.Match`'s rules: an
 * optional `^`, then at least one item (`c` or `c-d`, each possibly `\`
 * escaped, neither starting with `-` or `]`), then `]`.
 */
function parseClass(chars: string[], start: number): { token: Token; end: number; badEscape: boolean } {
  let pos = start;
  let badEscape = false;
  const negated = chars[pos] === '^';
  if (negated) pos++;
  const ranges: Array<[number, number]> = [];
  const item = (): number => {
    let ch = chars[pos];
    if (ch === undefined || ch === '-' || ch === ']') throw new GlobSyntaxError('bad character class');
    if (ch === '\\') {
      ch = chars[++pos];
      badEscape ||= ch !== undefined && !isRegexpLiteralEscape(ch);
    }
    if (ch === undefined || pos + 1 >= chars.length) throw new GlobSyntaxError('unterminated character class');
    pos++;
    return ch.codePointAt(0)!;
  };
  while (!(chars[pos] === ']' && ranges.length > 0)) {
    const lo = item();
    const hi = chars[pos] === '-' ? (pos++, item()) : lo;
    ranges.push([lo, hi]);
  }
  return { token: { kind: 'class', negated, ranges }, end: pos + 1, badEscape };
}

function build(pattern: string, kind: MatchKind, tokens: Token[], badEscape: boolean): CompiledPattern {
  // Go's regexp rejects a reversed range such as `[l-O]`; patternmatcher then
  // fails every match with that pattern rather than its construction.
  const bad = badEscape || tokens.some((t) => t.kind === 'class' && t.ranges.some(([lo, hi]) => lo > hi));
  const regexp = kind === 'regexp' && !bad ? new RegExp(`^${tokens.map(tokenSource).join('')}$`, 'u') : undefined;
  const match = (path: string): boolean => {
    if (bad) throw new GlobSyntaxError('character class cannot be compiled');
    switch (kind) {
      case 'exact':
        return path === pattern;
      case 'prefix':
        return path.startsWith(pattern.slice(0, -2));
      case 'suffix': {
        const suffix = pattern.slice(2);
        return path.endsWith(suffix) || (suffix.startsWith('/') && path === suffix.slice(1));
      }
      case 'regexp':
        return regexp!.test(path);
    }
  };
  const couldMatchBelow = (dir: string): boolean => {
    const below = `${dir}/`;
    switch (kind) {
      case 'exact':
        return pattern.startsWith(below);
      case 'prefix': {
        const prefix = pattern.slice(0, -2);
        return prefix.startsWith(below) || below.startsWith(prefix);
      }
      case 'suffix':
        return true;
      case 'regexp':
        return bad || canContinueAfter(tokens, below);
    }
  };
  return { kind, pattern, bad, match, couldMatchBelow };
}

/** Go's `.`: anything but a newline. */
const ANY = '[^\\n]';

function tokenSource(token: Token): string {
  switch (token.kind) {
    case 'literal':
      return /[\\^$.*+?()[\]{}|/]/.test(token.ch) ? `\\${token.ch}` : token.ch;
    case 'star':
      return '[^/]*';
    case 'one':
      return '[^/]';
    case 'dirs':
      return `(?:${ANY}*/)?`;
    case 'rest':
      return `${ANY}*`;
    case 'caret':
      return '^';
    case 'class': {
      const cp = (c: number) => `\\u{${c.toString(16)}}`;
      const body = token.ranges.map(([lo, hi]) => (lo === hi ? cp(lo) : `${cp(lo)}-${cp(hi)}`)).join('');
      return `[${token.negated ? '^' : ''}${body}]`;
    }
  }
}

/**
 * Runs the pattern as an automaton over `prefix` and reports whether it can
 * still go on matching something longer. State `2k` is "before token k",
 * `2k+1` is "inside the `(.*\/)?` of token k".
 */
function canContinueAfter(tokens: Token[], prefix: string): boolean {
  const skippable = new Set<Token['kind']>(['star', 'dirs', 'rest']);
  const closure = (states: Set<number>, atStart: boolean): Set<number> => {
    for (const s of states) {
      const t = tokens[s >> 1];
      if (s % 2 !== 0 || t === undefined) continue;
      if (skippable.has(t.kind) || (t.kind === 'caret' && atStart)) states.add(s + 2);
    }
    return states;
  };
  let states = closure(new Set([0]), true);
  for (const ch of prefix) {
    const next = new Set<number>();
    for (const s of states) {
      const k = s >> 1;
      const t = tokens[k];
      if (t === undefined) continue;
      if (t.kind === 'dirs') {
        if (ch !== '\n') next.add(2 * k + 1);
        if (ch === '/') next.add(2 * k + 2);
      } else if (t.kind === 'star' || t.kind === 'rest') {
        if (t.kind === 'rest' ? ch !== '\n' : ch !== '/') next.add(s);
      } else if (stepOne(t, ch)) {
        next.add(2 * k + 2);
      }
    }
    states = closure(next, false);
    if (states.size === 0) return false;
  }
  return [...states].some((s) => s !== 2 * tokens.length);
}

function stepOne(token: Token, ch: string): boolean {
  switch (token.kind) {
    case 'literal':
      return token.ch === ch;
    case 'one':
      return ch !== '/';
    case 'class': {
      const c = ch.codePointAt(0)!;
      return token.ranges.some(([lo, hi]) => lo <= c && c <= hi) !== token.negated;
    }
    default:
      return false;
  }
}
