import { VfsError } from './errors.ts';
import type { DirNode } from './node.ts';
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
  let i = start + 1;
  let negate = false;
  if (pattern[i] === '^') {
    negate = true;
    i++;
  }
  let body = '';
  let first = true;
  for (;;) {
    if (i >= pattern.length) bad(pattern);
    let c = pattern[i]!;
    if (c === ']' && !first) break;
    first = false;
    if (c === '\\') {
      if (++i >= pattern.length) bad(pattern);
      c = pattern[i]!;
    }
    let lo = c;
    i++;
    if (pattern[i] === '-' && pattern[i + 1] !== undefined && pattern[i + 1] !== ']') {
      let hi = pattern[i + 1]!;
      i += 2;
      if (hi === '\\') {
        if (i >= pattern.length) bad(pattern);
        hi = pattern[i++]!;
      }
      if (hi < lo) bad(pattern);
      body += `${escapeClass(lo)}-${escapeClass(hi)}`;
    } else {
      body += escapeClass(lo);
    }
  }
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
 * Expands a pattern against a tree, component by component, following
 * symlinks of directories on the way (confined by `escape`). Returns the
 * matching paths (as written, not resolved), sorted. A pattern without
 * wildcards is returned as is when it exists.
 */
export function glob(root: DirNode, pattern: string, escape: EscapePolicy): string[] {
  let matches: string[][] = [[]];
  const comps = pattern.split('/').filter((c) => c !== '' && c !== '.');
  for (const comp of comps) {
    const next: string[][] = [];
    for (const base of matches) {
      if (comp === '..' || !hasWildcards(comp)) {
        next.push([...base, comp]);
        continue;
      }
      const dir = resolvePath(root, `/${base.join('/')}`, { followFinal: true, escape }).node;
      if (dir?.kind !== 'dir') continue;
      const re = compileComponent(comp);
      for (const name of [...dir.children.keys()].sort(compareNames)) if (re.test(name)) next.push([...base, name]);
    }
    matches = next;
  }
  return matches
    .filter((m) => resolvePath(root, `/${m.join('/')}`, { followFinal: false, escape }).node !== undefined)
    .map((m) => m.join('/'));
}
