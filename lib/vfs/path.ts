import { VfsError } from './errors.ts';

/**
 * Splits an image path into components, resolving `.` and `..` lexically and
 * confined to the root: `..` at the root stays at the root, as a container
 * runtime sees it. Relative paths are taken relative to `/`.
 */
export function splitPath(path: string): string[] {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return out;
}

/** The absolute, clean form of an image path (`/a/b`, `/` for the root). */
export function cleanPath(path: string): string {
  return `/${splitPath(path).join('/')}`;
}

/** Joins a relative path onto a base (an absolute path wins), cleaned. */
export function joinPath(base: string, rel: string): string {
  return cleanPath(rel.startsWith('/') ? rel : `${base}/${rel}`);
}

/**
 * Lexically cleans a path that must stay inside a root (a build context):
 * throws `PATH_OUTSIDE_ROOT` when `..` would climb above it.
 */
export function splitConfined(path: string, what: string): string[] {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) throw new VfsError('PATH_OUTSIDE_ROOT', `${what} ${JSON.stringify(path)} is outside the root`, { path });
      out.pop();
    } else out.push(part);
  }
  return out;
}

/**
 * Orders paths component by component in byte order, so a directory sorts
 * immediately before its own subtree (`a`, `a/b`, `a.b`), the order kiln
 * writes tar entries in.
 */
export function comparePaths(a: string, b: string): number {
  const as = a.split('/');
  const bs = b.split('/');
  const n = Math.min(as.length, bs.length);
  for (let i = 0; i < n; i++) {
    const c = compareBytes(as[i]!, bs[i]!);
    if (c !== 0) return c;
  }
  return as.length - bs.length;
}

function compareBytes(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
