/**
 * Path normalization and ordering shared by the tar reader and writer.
 * Names inside kiln's tar values are relative, slash-separated, with no
 * leading `/` or `./`, no trailing `/`, no empty or `.` segments; the root
 * directory itself is `.`.
 */

/**
 * Normalizes a tar member name: drops leading `/`, `.` and empty segments
 * (so `/a//./b/` becomes `a/b`); `..` segments are kept as they are — they
 * are the consumer's to confine. An empty result is the root, `.`.
 */
export function normalizeTarPath(name: string): string {
  let clean = true;
  // Fast path: most names are already clean.
  if (name.length === 0 || name.startsWith('/') || name.endsWith('/') || name.startsWith('./') || name === '.') clean = false;
  else if (name.includes('//') || name.includes('/./') || name.endsWith('/.')) clean = false;
  if (clean) return name;
  const kept = name.split('/').filter((s) => s !== '' && s !== '.');
  return kept.length === 0 ? '.' : kept.join('/');
}

/** UTF-8 segments of a normalized path; the root `.` has none. */
export function tarPathSegments(normalized: string): Buffer[] {
  if (normalized === '.') return [];
  return normalized.split('/').map((s) => Buffer.from(s, 'utf8'));
}

/**
 * Orders two segment lists component by component in byte order, so that a
 * directory sorts immediately before everything beneath it (`a`, `a/b`,
 * `a-b`), which plain string order (`a`, `a-b`, `a/b`) does not give.
 */
export function compareSegments(a: readonly Buffer[], b: readonly Buffer[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = Buffer.compare(a[i]!, b[i]!);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}
