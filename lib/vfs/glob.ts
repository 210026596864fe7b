import { VfsError } from './errors.ts';
import type { DirNode, Node } from './node.ts';
import { compareNames, resolvePath, type EscapePolicy } from './tree.ts';

/** True when `s` holds a Go `filepath.Match` metacharacter (`*`, `?`, `[`, `\`). */
export function hasWildcards(s: string): boolean {
  return /[*?[\\]/.test(s);
}

/**
 * Compiles one path component of a Go `filepath.Match` pattern: `*` any run
 * of characters, `?` one character, `[a-z]`/`[^…]` classes, `\` escapes.
 * A malformed pattern gives `PATTERN_INVALID` (Go's ErrBadPattern).
 */
export function compileComponent(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\') {
      if (i + 1 >= pattern.length) bad(pattern);
      re += escapeRe(pattern[++i]!);
    } else if (c === '[') {
      const { source, end } = compileClass(pattern, i);
      re += source;
      i = end;
    } else re += escapeRe(c);
  }
  return new RegExp(`^${re}$`, 'su');
}

function compileClass(pattern: string, start: number): { source: string; end: number } {
  // Go's getEsc: `-` or `]` where a range bound is expected, or a class running to the end
  // of the pattern, is ErrBadPattern; a reversed range (`[z-a]`) is valid and matches nothing.
  let i = start + 1;
  let negate = false;
  if (pattern[i] === '^') {
    negate = true;
    i++;
  }
  const bound = (): string => {
    if (i >= pattern.length || pattern[i] === '-' || pattern[i] === ']') bad(pattern);
    if (pattern[i] === '\\' && ++i >= pattern.length) bad(pattern);
    const c = String.fromCodePoint(pattern.codePointAt(i)!); // whole code point: Go works on runes
    i += c.length;
    if (i >= pattern.length) bad(pattern);
    return c;
  };
  let body = '';
  for (let ranges = 0; !(pattern[i] === ']' && ranges > 0); ranges++) {
    const lo = bound();
    let hi = lo;
    if (pattern[i] === '-') {
      i++;
      hi = bound();
    }
    if (lo.codePointAt(0)! <= hi.codePointAt(0)!) body += lo === hi ? escapeClass(lo) : `${escapeClass(lo)}-${escapeClass(hi)}`;
  }
  // An empty JavaScript class `[]` matches nothing, `[^/]` anything: what Go does for all-reversed ranges.
  return { source: negate ? `[^/${body}]` : `[${body}]`, end: i };
}

function bad(pattern: string): never {
  throw new VfsError('PATTERN_INVALID', `syntax error in pattern ${JSON.stringify(pattern)}`, { pattern });
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

function escapeClass(c: string): string {
  return c.replace(/[\]\\^-]/g, '\\$&');
}

/**
 * Expands a pattern against a tree as BuildKit's fsutil ResolveWildcards
 * does: the components before the first wildcard are resolved following
 * symlinks (confined by `escape`); below that, the tree is walked without
 * following symlinks (Go's filepath.Walk), and each further component is
 * matched with Go `filepath.Match`. Returns the matching paths (prefix as
 * written), sorted; a pattern without wildcards is returned as is when it
 * exists.
 */
export function glob(root: DirNode, pattern: string, escape: EscapePolicy): string[] {
  const comps = pattern.split('/').filter((c) => c !== '' && c !== '.');
  const first = comps.findIndex(hasWildcards);
  const prefix = first < 0 ? comps : comps.slice(0, first);
  const base = resolvePath(root, `/${prefix.join('/')}`, { followFinal: first >= 0, escape });
  if (first < 0) return base.node === undefined ? [] : [prefix.join('/')];
  let matches: { path: string[]; node: Node }[] = base.node === undefined ? [] : [{ path: prefix, node: base.node }];
  for (const comp of comps.slice(first)) {
    const re = hasWildcards(comp) ? compileComponent(comp) : undefined;
    const next: typeof matches = [];
    for (const m of matches) {
      if (m.node.kind !== 'dir') continue;
      for (const name of [...m.node.children.keys()].sort(compareNames)) {
        if (re ? re.test(name) : name === comp) next.push({ path: [...m.path, name], node: m.node.children.get(name)! });
      }
    }
    matches = next;
  }
  return matches.map((m) => m.path.join('/'));
}
