import { normalizeRegistry } from '../ref/index.ts';
import { RegistryError } from './registry-error.ts';

/** Mirror base URLs by registry name (`docker.io`, `host:port`), tried in order. */
export type Mirrors = ReadonlyMap<string, readonly URL[]>;

/**
 * Parses mirror specifications, `REGISTRY=URL` each, given one per
 * `--registry-mirror` flag or comma-separated as in `KILN_REGISTRY_MIRRORS`
 * (`docker.io=http://127.0.0.1:5000,docker.io=https://m.example`). URLs
 * are http or https with an optional path prefix and no query; a registry
 * named several times keeps its mirrors in the order given.
 */
export function parseMirrors(specs: string | readonly string[]): Map<string, URL[]> {
  const list = (typeof specs === 'string' ? [specs] : specs).flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  const out = new Map<string, URL[]>();
  for (const spec of list) {
    const eq = spec.indexOf('=');
    const fail = (why: string): never => {
      const shown = spec.replace(/\/\/[^/@]*@/, '//[REDACTED]@');
      throw new RegistryError('MIRROR_INVALID', `invalid registry mirror ${JSON.stringify(shown)}: ${why} (expected REGISTRY=URL, e.g. docker.io=http://127.0.0.1:5000)`);
    };
    if (eq <= 0) fail('no "="');
    const registry = normalizeRegistry(spec.slice(0, eq));
    let url: URL;
    try {
      url = new URL(spec.slice(eq + 1).trim());
    } catch {
      return fail('not a URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') fail('the URL must be http or https');
    if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') fail('the URL may not carry a query, fragment or user info');
    const mirrors = out.get(registry) ?? [];
    mirrors.push(url);
    out.set(registry, mirrors);
  }
  return out;
}
