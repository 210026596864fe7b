import type { ContentStore } from '../content/index.ts';
import type { CacheEntry, CachedLayer, RemoteCache } from '../executor/index.ts';
import type { Readable } from 'node:stream';
import { type BlobOrigin, storeLayer } from '../image/index.ts';
import type { Descriptor } from '../oci/index.ts';
import type { RegistryClient } from '../registry/index.ts';
import { fetchedOnOpen, type TransportEvent } from '../transport/index.ts';
import { cacheKeyHex } from './cache-manifest.ts';
import type { CacheImport } from './cache-spec.ts';
import { type CacheLayerSource, importCache, openCacheLayer } from './cache-transfer.ts';

export interface ImportCachesOptions {
  client?: RegistryClient | undefined;
  /** The local content store ($KILN_HOME's): fetched layer blobs land there. */
  store: ContentStore;
  signal?: AbortSignal | undefined;
  /** Why a cache is not used, or only partly (the build goes on). */
  warn: (message: string) => void;
  onEvent?: ((event: TransportEvent) => void) | undefined;
}

/**
 * The `--cache-from` caches as the build's RemoteCache: each read once, up
 * front, in the order given (a key the first cache answers is taken from
 * it). A hit's layer is fetched from where its cache lives into the local
 * store when a step or an output first reads it, once. Undefined when no
 * cache could be read.
 */
/** The imported caches as the executor asks them, plus where each of their layer blobs is (for a later `--cache-to`). */
export interface ImportedCaches extends RemoteCache {
  /** The repository holding the blob, when it came from a registry cache. */
  origin(digest: string): BlobOrigin | undefined;
  /** The blob read from its cache (verified), or undefined when no imported cache names it. */
  openBlob(descriptor: Descriptor): Promise<Readable> | undefined;
}

export async function importCaches(sources: readonly CacheImport[], opts: ImportCachesOptions): Promise<ImportedCaches | undefined> {
  const entries = new Map<string, CacheEntry>();
  const layers = new Map<string, CacheLayerSource>();
  for (const source of sources) {
    const cache = await importCache(source, { client: opts.client, signal: opts.signal, warn: opts.warn });
    if (cache === undefined) continue;
    for (const [key, entry] of cache.entries) if (!entries.has(key)) entries.set(key, entry);
    for (const [digest, layer] of cache.layers) if (!layers.has(digest)) layers.set(digest, layer);
  }
  if (entries.size === 0) return undefined;
  const ctx = { concurrency: 1, emit: opts.onEvent ?? (() => {}), signal: opts.signal };
  const made = new Map<string, ReturnType<RemoteCache['layer']>>();
  // A cache in a registry is also where a push to that registry mounts the layer from.
  const originOf = (source: CacheLayerSource): BlobOrigin | undefined =>
    source.from.kind === 'registry' ? { registry: source.from.repo.registry, repository: source.from.repo.repository } : undefined;
  return {
    origin: (digest) => {
      const source = layers.get(digest);
      return source && originOf(source);
    },
    openBlob: (descriptor) => {
      const source = layers.get(descriptor.digest);
      return source && openCacheLayer(source, { client: opts.client, signal: opts.signal });
    },
    // The executor's keys are `sha256:HEX`; a cache files its entries by HEX.
    lookup: (key) => entries.get(cacheKeyHex(key)),
    layer(cached: CachedLayer) {
      const digest = cached.descriptor.digest;
      const source = layers.get(digest);
      if (source === undefined) return storeLayer(opts.store, cached);
      let layer = made.get(digest);
      if (layer === undefined) {
        const blob = { descriptor: source.descriptor, open: (signal?: AbortSignal) => openCacheLayer(source, { client: opts.client, signal }) };
        layer = fetchedOnOpen({ descriptor: cached.descriptor, diffId: cached.diffId, uncompressedSize: cached.uncompressedSize }, blob, opts.store, ctx, originOf(source));
        made.set(digest, layer);
      }
      return layer;
    },
  };
}
