/**
 * The glob patterns of `${v#p}`, `${v%p}` and `${v/p/r}`, with BuildKit's
 * semantics: `*` is any run of characters (shortest or longest), `?` one
 * character, `\*` `\?` `\\` literal, `\}` and `\/` a `}` or `/`; everything
 * else is literal (no bracket expressions). Matching runs on code points,
 * like Go's regexp on runes, and wildcards do not cross a newline (Go's `.`).
 */
import { ShellFailure } from './shell-error.ts';

/** Go's `.` without the `s` flag: any code point but `\n`. */
const ANY = '[^\\n]';
const REGEX_SPECIAL = new Set(['[', ']', '{', '}', '.', '+', '(', ')', '|', '^', '$']);

/**
 * Compiles a shell pattern to a RegExp (flags `u`, plus `g` when `global`).
 * Throws ShellFailure SHELL_BAD_PATTERN for an escape of anything but
 * `*`, `?`, `\` (`}` and `/` drop the backslash).
 */
export function shellPatternToRegExp(pattern: string, greedy: boolean, anchored: boolean, global = false): RegExp {
  const chars = Array.from(pattern);
  let out = anchored ? '^' : '';
  for (let i = 0; i < chars.length; i++) {
    const tok = chars[i]!;
    if (tok === '*') out += greedy ? `${ANY}*` : `${ANY}*?`;
    else if (tok === '?') out += ANY;
    else if (tok === '\\') {
      const next = chars[i + 1];
      if (next === '}' || next === '/') continue;
      if (next !== '*' && next !== '?' && next !== '\\') {
        throw badPattern(pattern, `invalid escape '\\${next ?? ''}'`);
      }
      out += `\\${next}`;
      i++;
    } else if (REGEX_SPECIAL.has(tok)) out += `\\${tok}`;
    else out += tok;
  }
  return new RegExp(out, global ? 'gu' : 'u');
}

function badPattern(pattern: string, why: string): ShellFailure {
  return new ShellFailure('SHELL_BAD_PATTERN', `invalid pattern (${pattern}) in substitution: ${why}`);
}

/** `${v#p}` / `${v##p}`: drops the shortest (longest when greedy) prefix of `value` matching `pattern`. */
export function trimPatternPrefix(pattern: string, value: string, greedy: boolean): string {
  const match = shellPatternToRegExp(pattern, greedy, true).exec(value);
  return match === null ? value : value.slice(match[0].length);
}

/**
 * `${v%p}` / `${v%%p}`: drops the shortest (longest) matching suffix. Like
 * BuildKit, reverses pattern and value so a leftmost match finds it.
 */
export function trimPatternSuffix(pattern: string, value: string, greedy: boolean): string {
  const trimmed = trimPatternPrefix(reversePattern(pattern), reverseString(value), greedy);
  return reverseString(trimmed);
}

/** Reverses a pattern but keeps each `\x` escape pair in order (`a\*c` → `c\*a`). */
function reversePattern(pattern: string): string {
  const chars = Array.from(pattern);
  const out: string[] = [];
  for (let i = 0; i < chars.length; ) {
    if (chars[i] === '\\' && i !== chars.length - 1) {
      out.unshift('\\' + chars[i + 1]!);
      i += 2;
    } else {
      out.unshift(chars[i]!);
      i++;
    }
  }
  return out.join('');
}

function reverseString(value: string): string {
  return Array.from(value).reverse().join('');
}

/**
 * `${v/p/r}` and `${v//p/r}`. The first form splices `replacement` in
 * verbatim; the second follows Go's `Regexp.ReplaceAllString`: an empty match
 * right after a previous match is not replaced, and `replacement` is a Go
 * template (`$$` is `$`, `$0`/`${0}` the match, any other `$name` empty).
 */
export function replacePattern(value: string, pattern: string, replacement: string, all: boolean): string {
  const re = shellPatternToRegExp(pattern, true, false, all);
  if (!all) {
    const m = re.exec(value);
    return m === null ? value : value.slice(0, m.index) + replacement + value.slice(m.index + m[0].length);
  }
  let out = '';
  let lastEnd = 0;
  let searchPos = 0;
  while (searchPos <= value.length) {
    re.lastIndex = searchPos;
    const m = re.exec(value);
    if (m === null) break;
    const start = m.index;
    const end = start + m[0].length;
    out += value.slice(lastEnd, start);
    if (end > lastEnd || start === 0) out += expandTemplate(replacement, m[0]);
    lastEnd = end;
    const width = searchPos < value.length ? String.fromCodePoint(value.codePointAt(searchPos)!).length : 1;
    searchPos = searchPos + width > end ? searchPos + width : end;
  }
  return out + value.slice(lastEnd);
}

const TEMPLATE_NAME = /^[\p{L}\p{Nd}_]+/u;

/** Go's `Regexp.Expand` for a pattern without capture groups. */
function expandTemplate(template: string, match: string): string {
  let out = '';
  let rest = template;
  for (let dollar = rest.indexOf('$'); dollar >= 0; dollar = rest.indexOf('$')) {
    out += rest.slice(0, dollar);
    rest = rest.slice(dollar + 1);
    if (rest.startsWith('$')) {
      out += '$';
      rest = rest.slice(1);
      continue;
    }
    const brace = rest.startsWith('{');
    const name = TEMPLATE_NAME.exec(brace ? rest.slice(1) : rest)?.[0];
    if (name === undefined || (brace && rest[1 + name.length] !== '}')) {
      out += '$';
      continue;
    }
    rest = rest.slice(name.length + (brace ? 2 : 0));
    if (name === '0') out += match;
  }
  return out + rest;
}
