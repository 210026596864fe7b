/**
 * The values of `--cache-to` and `--cache-from`, in buildx's words, parsed
 * into typed exports and imports. A value is one CSV record (Go's
 * encoding/csv, as buildx reads it: `"` quotes a field, `""` is a quote
 * inside one) of `key=value` fields, or of bare references: buildx reads
 * `--cache-from REF` (and `--cache-to REF`) as `type=registry,ref=REF`, one
 * per field. Anything kiln cannot honour is refused (CACHE_SPEC_INVALID)
 * rather than ignored: a cache flag that silently does nothing costs a CI
 * fleet every build.
 */
import { type Digest, parseDigest } from '../digest/index.ts';
import { formatRef, type ImageRef, parseRef } from '../ref/index.ts';
import { CacheError } from './build-error.ts';

/** `min`: the final stage's steps; `max`: every stage's (buildx's cache modes). */
export type CacheMode = 'min' | 'max';

/** Where `--cache-to` writes a cache. */
export type CacheExport =
  | { readonly type: 'registry'; readonly ref: ImageRef; readonly mode: CacheMode }
  /** An OCI image layout at `dest`, the cache's manifest named `tag` in its index.json. */
  | { readonly type: 'local'; readonly dest: string; readonly tag: string; readonly mode: CacheMode };

/** Where `--cache-from` reads a cache (tried in the order given). */
export type CacheImport =
  | { readonly type: 'registry'; readonly ref: ImageRef }
  /** An OCI image layout at `src`: the manifest named `tag` in its index.json, or the one with `digest` when given. */
  | { readonly type: 'local'; readonly src: string; readonly tag: string; readonly digest: Digest | undefined };

/** The name a layout's index gives the cache when no `tag=` is given (BuildKit's default too). */
export const DEFAULT_CACHE_TAG = 'latest';

// image-spec annotations.md, org.opencontainers.image.ref.name grammar (what `tag=` becomes in index.json).
const REF_NAME = /^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:\/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$/;

type Direction = 'to' | 'from';

/** The keys each flag and type takes. `oci-mediatypes` / `image-manifest` are buildx's; kiln always does both, so only `true` is accepted. */
const KEYS: Record<Direction, Record<'registry' | 'local', readonly string[]>> = {
  to: { registry: ['ref', 'mode', 'oci-mediatypes', 'image-manifest'], local: ['dest', 'tag', 'mode', 'oci-mediatypes', 'image-manifest'] },
  from: { registry: ['ref'], local: ['src', 'tag', 'digest'] },
};

/** Parses every `--cache-to` value, in order. Throws CACHE_SPEC_INVALID. */
export function parseCacheTo(values: readonly string[]): CacheExport[] {
  return values.flatMap((v) => parseOne(v, 'to') as CacheExport[]);
}

/** Parses every `--cache-from` value, in order (the order caches are tried in). Throws CACHE_SPEC_INVALID. */
export function parseCacheFrom(values: readonly string[]): CacheImport[] {
  return values.flatMap((v) => parseOne(v, 'from') as CacheImport[]);
}

/** How a cache is named in messages: `REG/REPO:TAG`, or `local DIR:TAG` / `local DIR@DIGEST`. */
export function describeCache(spec: CacheExport | CacheImport): string {
  switch (spec.type) {
    case 'registry': return formatRef(spec.ref);
    case 'local': {
      const dir = 'dest' in spec ? spec.dest : spec.src;
      return 'digest' in spec && spec.digest !== undefined ? `local ${dir}@${spec.digest}` : `local ${dir}:${spec.tag}`;
    }
  }
}

function flagName(dir: Direction): string {
  return dir === 'to' ? '--cache-to' : '--cache-from';
}

function invalid(dir: Direction, value: string, why: string, cause?: unknown): CacheError {
  return new CacheError('CACHE_SPEC_INVALID', `invalid ${flagName(dir)} ${JSON.stringify(value)}: ${why}`, { cause, value });
}

function parseOne(value: string, dir: Direction): (CacheExport | CacheImport)[] {
  let fields: string[];
  try {
    fields = csvRecord(value);
  } catch (err) {
    throw invalid(dir, value, (err as Error).message);
  }
  if (fields.every((f) => !f.includes('='))) return fields.map((f) => registry(dir, value, f, 'min'));
  const attrs = new Map<string, string>();
  for (const field of fields) {
    const eq = field.indexOf('=');
    if (eq < 0) throw invalid(dir, value, `${JSON.stringify(field)} is not key=value`);
    const key = field.slice(0, eq).trim().toLowerCase();
    if (attrs.has(key)) throw invalid(dir, value, `${key}= is given twice`);
    attrs.set(key, field.slice(eq + 1));
  }
  const type = attrs.get('type');
  attrs.delete('type');
  if (type === undefined || type === '') throw invalid(dir, value, 'type= is required (type=registry or type=local)');
  if (type !== 'registry' && type !== 'local') throw invalid(dir, value, `kiln has no ${JSON.stringify(type)} cache; it supports type=registry and type=local`);
  const allowed = KEYS[dir][type];
  for (const key of attrs.keys()) {
    if (!allowed.includes(key)) throw invalid(dir, value, `type=${type} takes ${allowed.map((k) => `${k}=`).join(', ')}; not ${key}=`);
  }
  for (const key of ['oci-mediatypes', 'image-manifest']) {
    const v = attrs.get(key);
    if (v !== undefined && v !== 'true') throw invalid(dir, value, `${key}=${v}: kiln's cache is always an OCI image manifest (only ${key}=true is accepted)`);
  }
  const mode = cacheMode(dir, value, attrs.get('mode'));
  if (type === 'registry') return [registry(dir, value, required(dir, value, attrs, 'ref'), mode)];
  const tag = attrs.get('tag') ?? DEFAULT_CACHE_TAG;
  if (!REF_NAME.test(tag)) throw invalid(dir, value, `tag=${tag} is not a valid OCI layout reference name`);
  if (dir === 'to') return [{ type: 'local', dest: required(dir, value, attrs, 'dest'), tag, mode }];
  const digestText = attrs.get('digest');
  let digest: Digest | undefined;
  if (digestText !== undefined) {
    try {
      digest = parseDigest(digestText);
    } catch (cause) {
      throw invalid(dir, value, `digest=${digestText} is not a digest`, cause);
    }
  }
  return [{ type: 'local', src: required(dir, value, attrs, 'src'), tag, digest }];
}

function required(dir: Direction, value: string, attrs: ReadonlyMap<string, string>, key: string): string {
  const v = attrs.get(key);
  if (v === undefined || v === '') throw invalid(dir, value, `${key}= is required`);
  return v;
}

function cacheMode(dir: Direction, value: string, mode: string | undefined): CacheMode {
  if (mode === undefined || mode === 'min' || mode === 'max') return mode ?? 'min';
  throw invalid(dir, value, `mode=${mode}: min or max`);
}

function registry(dir: Direction, value: string, text: string, mode: CacheMode): CacheExport | CacheImport {
  let ref: ImageRef;
  try {
    ref = parseRef(text);
  } catch (cause) {
    throw invalid(dir, value, (cause as Error).message, cause);
  }
  if (dir === 'from') return { type: 'registry', ref };
  if (ref.digest !== undefined) throw invalid(dir, value, `a cache is exported under a tag, not a digest (${text})`);
  return { type: 'registry', ref, mode };
}

/**
 * The first record of `s` as Go's encoding/csv reads it (comma-separated,
 * no lazy quotes, no space trimming), which is what buildx does with these
 * flags. Stricter in one way: a line break outside quotes is refused
 * instead of silently ending the record.
 */
export function csvRecord(s: string): string[] {
  if (s === '') throw new Error('the value is empty');
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (s[i] === '"') {
      i++;
      for (;;) {
        if (i >= s.length) throw new Error('a quoted field has no closing quote');
        if (s[i] === '"') {
          if (s[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += s[i++];
      }
      if (i < s.length && s[i] !== ',') throw new Error(`extraneous characters after a quoted field at offset ${i}`);
    } else {
      while (i < s.length && s[i] !== ',') {
        const c = s[i]!;
        if (c === '"') throw new Error(`a bare " in an unquoted field at offset ${i} (quote the whole field)`);
        if (c === '\n' || c === '\r') throw new Error('the value holds a line break');
        field += c;
        i++;
      }
    }
    fields.push(field);
    if (i >= s.length) return fields;
    i++; // the comma
  }
}
