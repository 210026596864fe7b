/**
 * The Go path helpers that `.dockerignore` semantics are defined by
 * (`filepath.Clean`, `filepath.Dir`, `strings.TrimSpace`), Unix flavour.
 */

const GO_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;

/** Go's `strings.TrimSpace`: trims Unicode White_Space (unlike String#trim, not U+FEFF). */
export function trimGoSpace(text: string): string {
  const chars = Array.from(text);
  let start = 0;
  let end = chars.length;
  while (start < end && GO_SPACE.test(chars[start]!)) start++;
  while (end > start && GO_SPACE.test(chars[end - 1]!)) end--;
  return start === 0 && end === chars.length ? text : chars.slice(start, end).join('');
}

/**
 * Go's `filepath.Clean` on Unix: collapses `//`, drops `.` segments,
 * resolves `..` lexically (never above `/` for rooted paths), drops a
 * trailing `/`; the empty result is `.`.
 */
export function cleanPath(path: string): string {
  if (path === '') return '.';
  const rooted = path.startsWith('/');
  const out: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment !== '..') out.push(segment);
    else if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
    else if (!rooted) out.push('..');
  }
  const joined = out.join('/');
  if (rooted) return `/${joined}`;
  return joined === '' ? '.' : joined;
}

/** Go's `filepath.Dir`: everything before the last `/`, cleaned (`.` when there is no `/`). */
export function dirPath(path: string): string {
  return cleanPath(path.slice(0, path.lastIndexOf('/') + 1));
}
