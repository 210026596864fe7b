/**
 * Moving a format v1 build cache (./cache-manifest.ts) to and from where
 * `--cache-to` / `--cache-from` name: a registry repository, or an OCI image
 * layout on a (shared) disk.
 *
 * Concurrency. Several builders may export to the same cache at once; the
 * cache is never corrupted, because every write is either content-addressed
 * or one atomic replacement:
 * - blobs (layers, then the config) go first; a blob is named by its
 *   digest, so two writers of one blob write the same bytes, and a registry
 *   (or the layout's store: temp file + rename) shows a blob whole or not at
 *   all;
 * - the manifest goes last, under the tag: a registry's tag update is one
 *   atomic write, and a layout's index.json is replaced atomically (temp
 *   file + rename) in a read-modify-write under `index.json.lock`, the lock
 *   kiln's own store uses. The last writer wins the tag; a reader sees the
 *   previous cache or the new one, each complete, since the registry
 *   refuses a manifest whose blobs it lacks and the layout gets its blobs
 *   before the index names them.
 * The manifests that lose the tag stay as untagged manifests (a registry's
 * garbage collection with `--delete-untagged` removes them and their
 * unshared blobs; in a layout they stay until removed by hand).
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ContentStore } from '../content/index.ts';
import type { Digest } from '../digest/index.ts';
import { KilnError } from '../errors.ts';
import type { CacheEntry } from '../executor/index.ts';
import { type Descriptor, type Index, MediaType, canonicalJsonBytes } from '../oci/index.ts';
import { formatRef } from '../ref/index.ts';
import { MAX_MANIFEST_BYTES, mapLimit, type RegistryClient, type RepositoryRef } from '../registry/index.ts';
import { REF_NAME, readLayoutIndex, withFileLock, writeFileAtomic } from '../transport/index.ts';
import { CacheError } from './build-error.ts';
import { CACHE_ARTIFACT_TYPE, EMPTY_BLOB, type EncodedCache, cacheLayers, encodeCache, isEmptyDescriptor, parseCache, parseCacheManifest } from './cache-manifest.ts';
import { type CacheExport, type CacheImport, describeCache } from './cache-spec.ts';

const LAYOUT_HEADER = canonicalJsonBytes({ imageLayoutVersion: '1.0.0' });
const DEFAULT_CONCURRENCY = 4;

export interface ExportCacheOptions {
  /** Needed for a registry target (CACHE_EXPORT_FAILED without it). */
  client?: RegistryClient | undefined;
  /** The content store the entries' layer blobs are in ($KILN_HOME's). */
  store: ContentStore;
  signal?: AbortSignal | undefined;
  /** A repository of the target's registry a layer may be mounted from (a pulled base's, an imported cache's), when the target lacks it. */
  mountFrom?: ((layer: Descriptor) => string | undefined) | undefined;
  /** Blobs transferred at once (default 4). */
  concurrency?: number;
  /** A layer blob `store` lacks (an imported cache's hit no step read), read from where it is, to upload it. */
  openMissing?: ((layer: Descriptor) => Promise<Readable> | undefined) | undefined;
}

export interface ExportCacheResult {
  /** The cache manifest written (with its `artifactType`). */
  manifest: Descriptor;
  /** How the blobs (layers and config) got there: already present, mounted from another repository, or copied/uploaded. */
  blobs: { present: number; mounted: number; copied: number };
}

/**
 * Writes `entries` as a format v1 cache to `target`: to a registry, every
 * layer blob the repository lacks (HEAD, then a mount when `mountFrom`
 * names a source, else an upload from `store`), then the config, then the
 * manifest under the tag; to a layout, the same blobs copied from `store`
 * into `DIR/blobs`, then `index.json` naming the manifest by the tag. See
 * the module comment for what concurrent exports do. Throws the registry's
 * or the store's typed errors (a layer `store` lacks and the target does
 * not have: BLOB_NOT_FOUND), CACHE_TOO_LARGE / CACHE_INVALID from encoding,
 * CACHE_EXPORT_FAILED when a layout cannot be written.
 */
export async function exportCache(target: CacheExport, entries: ReadonlyMap<string, CacheEntry>, opts: ExportCacheOptions): Promise<ExportCacheResult> {
  const encoded = encodeCache(entries, { mode: target.mode });
  switch (target.type) {
    case 'registry': return exportToRegistry(target, encoded, opts);
    case 'local': return exportToLayout(target, encoded, opts);
  }
}

async function exportToRegistry(target: Extract<CacheExport, { type: 'registry' }>, enc: EncodedCache, opts: ExportCacheOptions): Promise<ExportCacheResult> {
  const client = opts.client;
  if (client === undefined) throw new CacheError('CACHE_EXPORT_FAILED', `exporting the cache to ${formatRef(target.ref)} needs a registry client`);
  const blobs = { present: 0, mounted: 0, copied: 0 };
  const count = (r: 'exists' | 'mounted' | 'uploaded'): void => {
    blobs[r === 'exists' ? 'present' : r === 'mounted' ? 'mounted' : 'copied']++;
  };
  const { signal } = opts;
  await mapLimit(enc.layers, opts.concurrency ?? DEFAULT_CONCURRENCY, async (d) => {
    const fromStore = async (): Promise<Readable> => {
      if ((await opts.store.stat(d.digest))?.size !== d.size) {
        const elsewhere = opts.openMissing?.(d);
        if (elsewhere !== undefined) return elsewhere;
      }
      return opts.store.open(d.digest, { size: d.size });
    };
    const open = isEmptyDescriptor(d) ? () => Readable.from([EMPTY_BLOB]) : fromStore;
    count(await client.pushBlob(target.ref, d, open, { signal, mountFrom: isEmptyDescriptor(d) ? undefined : opts.mountFrom?.(d) }));
  });
  count(await client.pushBlob(target.ref, enc.configDescriptor, () => Readable.from([enc.config]), { signal }));
  await client.putManifest(target.ref, enc.manifest, MediaType.OciManifest, { signal });
  return { manifest: enc.manifestDescriptor, blobs };
}

async function exportToLayout(target: Extract<CacheExport, { type: 'local' }>, enc: EncodedCache, opts: ExportCacheOptions): Promise<ExportCacheResult> {
  const dir = target.dest;
  const layout = new ContentStore(dir);
  const blobs = { present: 0, mounted: 0, copied: 0 };
  try {
    await prepareLayout(dir);
    await mapLimit(enc.layers, opts.concurrency ?? DEFAULT_CONCURRENCY, async (d) => {
      if ((await layout.stat(d.digest))?.size === d.size) {
        blobs.present++;
        return;
      }
      opts.signal?.throwIfAborted();
      if (isEmptyDescriptor(d)) await layout.putBytes(EMPTY_BLOB, d);
      else await layout.put(await opts.store.open(d.digest, { size: d.size }), d);
      blobs.copied++;
    });
    // putBytes skips a blob already there (same digest and size)
    if ((await layout.stat(enc.configDescriptor.digest))?.size === enc.configDescriptor.size) blobs.present++;
    else blobs.copied++;
    await layout.putBytes(enc.config, enc.configDescriptor);
    await layout.putBytes(enc.manifest, enc.manifestDescriptor);
    // The store's temp folder (`.kiln-tmp`, empty now) stays: removing it could fail a concurrent
    // exporter between its mkdir and its open. Tools reading the layout ignore it.
    opts.signal?.throwIfAborted();
    await withFileLock(join(dir, 'index.json.lock'), async () => {
      const base: Index | undefined = existsSync(join(dir, 'index.json')) ? await readLayoutIndex(dir) : undefined;
      const kept = (base?.manifests ?? []).filter((m) => m.annotations?.[REF_NAME] !== target.tag);
      const entry: Descriptor = { ...enc.manifestDescriptor, annotations: { [REF_NAME]: target.tag } };
      const index: Index = { ...base, schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [...kept, entry] };
      await writeFileAtomic(join(dir, 'index.json'), Readable.from([canonicalJsonBytes(index)]));
    });
  } catch (err) {
    if (err instanceof KilnError || opts.signal?.aborted) throw err;
    throw new CacheError('CACHE_EXPORT_FAILED', `cannot write the cache to ${dir}: ${(err as Error).message}`, { cause: err, path: dir });
  }
  return { manifest: enc.manifestDescriptor, blobs };
}

/** Makes `dir` an OCI layout if it is missing or empty; refuses a non-empty folder that is not one. */
async function prepareLayout(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  if (existsSync(join(dir, 'oci-layout'))) return;
  const names = (await readdir(dir)).filter((n) => n !== '.kiln-tmp' && !n.startsWith('.oci-layout.kiln-tmp-') && n !== 'blobs');
  if (names.length > 0) {
    throw new CacheError('CACHE_EXPORT_FAILED', `cannot write the cache to ${dir}: it exists and is not an OCI image layout or an empty directory`, { path: dir });
  }
  // Two exporters starting at once both write the same bytes; the rename makes either whole.
  await writeFileAtomic(join(dir, 'oci-layout'), Readable.from([LAYOUT_HEADER]));
}

/** Where a cache's blobs can be fetched from. */
export type CacheBlobSource =
  | { readonly kind: 'registry'; readonly repo: RepositoryRef }
  | { readonly kind: 'layout'; readonly dir: string };

/** A layer an imported cache's entries name, and where to fetch its blob. */
export interface CacheLayerSource {
  readonly descriptor: Descriptor;
  readonly from: CacheBlobSource;
}

/** A cache read by {@link importCache}. */
export interface ImportedCache {
  /** Entries by 64-hex key (see cacheKeyHex); those whose layer blob is missing are left out. */
  readonly entries: ReadonlyMap<string, CacheEntry>;
  /** The cache manifest read. */
  readonly manifest: Descriptor;
  /** Every layer the entries name, by digest: fetch them lazily with {@link openCacheLayer}. */
  readonly layers: ReadonlyMap<Digest, CacheLayerSource>;
}

export interface ImportCacheOptions {
  /** Needed for a registry source (without it, a warning and no cache). */
  client?: RegistryClient | undefined;
  signal?: AbortSignal | undefined;
  /** Told why a cache is not used, or only partly. */
  warn: (message: string) => void;
  /** Checks that every layer blob is there (registry: HEAD; layout: its size). Default true. */
  checkBlobs?: boolean;
  /** HEAD requests at once (default 8). */
  concurrency?: number;
}

/**
 * Reads the cache `source` names: its manifest (a format v1 cache manifest
 * only), its config, validated as {@link parseCache} does, and (unless
 * `checkBlobs` is false) the presence of every layer blob. Never throws but
 * for an abort of `signal`: a missing cache, a failure to reach it, a
 * manifest that is not a kiln cache or does not validate is a `warn` and
 * undefined (the build goes on without it); entries whose layer blob is
 * missing are dropped with a warning (they become misses; the others,
 * whose keys do not depend on the dropped ones' blobs, stay usable).
 */
export async function importCache(source: CacheImport, opts: ImportCacheOptions): Promise<ImportedCache | undefined> {
  const name = describeCache(source);
  try {
    const found = source.type === 'registry' ? await readFromRegistry(source, opts) : await readFromLayout(source);
    if (typeof found === 'string') {
      opts.warn(`cache ${name} ${found}; building without it`);
      return undefined;
    }
    const entries = parseCache(found.manifest, found.config);
    const layers = new Map<Digest, CacheLayerSource>();
    for (const [digest, descriptor] of cacheLayers(entries)) layers.set(digest, { descriptor, from: found.from });
    if (opts.checkBlobs === false) return { entries, manifest: found.descriptor, layers };
    const missing = await missingBlobs([...layers.values()], opts);
    if (missing.size === 0) return { entries, manifest: found.descriptor, layers };
    const kept = new Map([...entries].filter(([, e]) => e.layer === undefined || !missing.has(e.layer.descriptor.digest)));
    for (const d of missing) layers.delete(d);
    opts.warn(`cache ${name} lacks ${missing.size} of its ${missing.size + layers.size} layer blob(s) (${[...missing][0]}${missing.size > 1 ? ', …' : ''}); the ${entries.size - kept.size} step(s) that made them will run`);
    return { entries: kept, manifest: found.descriptor, layers };
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    const why = err instanceof KilnError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
    opts.warn(`cache ${name} is not used: ${why}`);
    return undefined;
  }
}

/** Opens a layer of an imported cache as a stream verified against its descriptor (the caller consumes or destroys it). */
export async function openCacheLayer(layer: CacheLayerSource, opts: { client?: RegistryClient | undefined; signal?: AbortSignal | undefined }): Promise<Readable> {
  const { from, descriptor } = layer;
  switch (from.kind) {
    case 'registry': {
      // importCache only yields registry sources when it was given a client
      if (opts.client === undefined) throw new KilnError('INTERNAL', `fetching layer ${descriptor.digest} of a registry cache needs a registry client`);
      return opts.client.openBlob(from.repo, descriptor, { signal: opts.signal });
    }
    case 'layout': return new ContentStore(from.dir).open(descriptor.digest, { size: descriptor.size });
  }
}

interface FoundCache {
  manifest: Buffer;
  descriptor: Descriptor;
  config: Buffer;
  from: CacheBlobSource;
}

/** The cache's manifest and config, or why there is none to read (a sentence). */
async function readFromRegistry(source: Extract<CacheImport, { type: 'registry' }>, opts: ImportCacheOptions): Promise<FoundCache | string> {
  const client = opts.client;
  if (client === undefined) return 'cannot be read without a registry client';
  let fetched;
  try {
    fetched = await client.getManifest(source.ref, { signal: opts.signal });
  } catch (err) {
    if (err instanceof KilnError && (err.code === 'MANIFEST_UNKNOWN' || err.code === 'NAME_UNKNOWN')) return 'does not exist (yet)';
    throw err;
  }
  if (fetched.mediaType !== MediaType.OciManifest) {
    throw new CacheError('CACHE_INVALID', `not a valid kiln build cache: it is a ${fetched.mediaType}, not an OCI image manifest of type ${CACHE_ARTIFACT_TYPE}`);
  }
  const manifest = parseCacheManifest(fetched.bytes);
  const from: CacheBlobSource = { kind: 'registry', repo: { registry: source.ref.registry, repository: source.ref.repository } };
  const config = await readAll(await client.openBlob(from.repo, manifest.config, { signal: opts.signal }));
  const descriptor: Descriptor = { mediaType: MediaType.OciManifest, digest: fetched.digest, size: fetched.bytes.length, artifactType: CACHE_ARTIFACT_TYPE };
  return { manifest: fetched.bytes, descriptor, config, from };
}

async function readFromLayout(source: Extract<CacheImport, { type: 'local' }>): Promise<FoundCache | string> {
  const dir = source.src;
  if (!existsSync(join(dir, 'index.json'))) return 'does not exist (no index.json)';
  const index = await readLayoutIndex(dir);
  const want = (m: Descriptor): boolean => (source.digest !== undefined ? m.digest === source.digest : m.annotations?.[REF_NAME] === source.tag);
  const listed = index.manifests.filter(want).at(-1);
  if (listed === undefined) return source.digest !== undefined ? `lists no manifest ${source.digest}` : `has no manifest named ${JSON.stringify(source.tag)}`;
  if (listed.mediaType !== MediaType.OciManifest) {
    throw new CacheError('CACHE_INVALID', `not a valid kiln build cache: the index names a ${JSON.stringify(listed.mediaType)}, not an OCI image manifest`);
  }
  const store = new ContentStore(dir);
  if (listed.size > MAX_MANIFEST_BYTES) throw new CacheError('CACHE_INVALID', `not a valid kiln build cache: its manifest is ${listed.size} bytes`);
  const manifestBytes = await store.readBytes(listed.digest, MAX_MANIFEST_BYTES);
  if (manifestBytes.length !== listed.size) throw new CacheError('CACHE_INVALID', `not a valid kiln build cache: its manifest is ${manifestBytes.length} bytes, the index says ${listed.size}`);
  const manifest = parseCacheManifest(manifestBytes);
  const config = await store.readBytes(manifest.config.digest, manifest.config.size);
  const descriptor: Descriptor = { mediaType: MediaType.OciManifest, digest: listed.digest, size: listed.size, artifactType: CACHE_ARTIFACT_TYPE };
  return { manifest: manifestBytes, descriptor, config, from: { kind: 'layout', dir } };
}

/** The digests of the layers whose blob is not where the cache says. */
async function missingBlobs(layers: readonly CacheLayerSource[], opts: ImportCacheOptions): Promise<Set<Digest>> {
  const missing = new Set<Digest>();
  await mapLimit(layers, opts.concurrency ?? 8, async ({ descriptor: d, from }) => {
    const present = from.kind === 'registry'
      ? await opts.client!.blobExists(from.repo, d.digest, { signal: opts.signal })
      : (await new ContentStore(from.dir).stat(d.digest))?.size === d.size;
    if (!present) missing.add(d.digest);
  });
  return missing;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
