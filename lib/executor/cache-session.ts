import { join } from 'node:path';
import type { ContentStore } from '../content/index.ts';
import type { Stage } from '../plan/index.ts';
import { FileHashIndex } from './cache-file-hashes.ts';
import { cacheKey, KEY_VERSION } from './cache-key.ts';
import { type CacheEntry, type CachedLayer, StepCache } from './cache-store.ts';
import { type Layer, storeLayer } from '../image/index.ts';

/** How a build uses the cache (the CLI's `--no-cache`, `--no-cache-filter`). */
export interface CacheSettings {
  /** The cache folder, `$KILN_HOME/cache`: step entries and the context's file-hash index. */
  readonly dir: string;
  /** Every step runs; entries are still written for later builds. */
  readonly noCache?: boolean;
  /** Stages (by name, case-insensitive, or index) whose steps all run; entries are still written. */
  readonly noCacheFilter?: readonly string[];
  /** Told every cache entry the build used or made, with its stage's index (what `--cache-to` exports). */
  readonly onEntry?: (stage: number, key: string, entry: CacheEntry) => void;
  /** Caches imported for this build (`--cache-from`), asked on a local miss. */
  readonly remote?: RemoteCache;
  /**
   * Entries made so far by this build, shared by the executor runs of a
   * multi-platform build: a step that another platform's run already made
   * (the same key) is taken from it even under `noCache`, as BuildKit
   * solves one vertex once per build.
   */
  readonly made?: Map<string, CacheEntry>;
}

/**
 * Entries read from elsewhere (a registry, a shared layout) by key. A hit's
 * layer blob need not be in the local store: `layer` gives the step a Layer
 * that fetches it when first opened, so a cached step costs no download
 * until something reads its bytes.
 */
export interface RemoteCache {
  lookup(key: string): CacheEntry | undefined;
  layer(cached: CachedLayer): Layer;
}

/** What the cache did in one build (reported in the `cache` event). */
export interface CacheCounts {
  hits: number;
  /** Hits answered by an imported cache (`--cache-from`); counted in `hits` too. */
  remoteHits: number;
  misses: number;
  /** Layers packed (diffed, tarred, compressed, stored). */
  packedLayers: number;
  /** Cached layers applied to rebuild a filesystem some later step needed. */
  appliedLayers: number;
  /** Cached COPY/WORKDIR steps redone on a filesystem without packing their layer. */
  replayedSteps: number;
  /** Context files stat'ed, and read and hashed, for keys. */
  statedFiles: number;
  hashedFiles: number;
  hashedBytes: number;
}

/**
 * The cache as one build sees it: keys are rooted in the build's settings
 * that change layer bytes (compression, level, SOURCE_DATE_EPOCH), entries
 * are looked up and written in `settings.dir`, and context files are hashed
 * through the persistent index. Without settings, nothing is looked up or
 * written (every step runs).
 */
export class BuildCache {
  readonly #steps: StepCache | undefined;
  readonly #settings: CacheSettings | undefined;
  readonly #salt: unknown;
  readonly hashes: FileHashIndex;
  readonly counts: CacheCounts = { hits: 0, remoteHits: 0, misses: 0, packedLayers: 0, appliedLayers: 0, replayedSteps: 0, statedFiles: 0, hashedFiles: 0, hashedBytes: 0 };
  readonly #remoteLayers = new Map<string, Layer>();

  constructor(
    settings: CacheSettings | undefined,
    private readonly store: ContentStore,
    salt: { compression: string; level: number; epoch: number | undefined },
  ) {
    this.#settings = settings;
    this.#steps = settings && new StepCache(settings.dir);
    this.#salt = { v: KEY_VERSION, compression: salt.compression, level: salt.level, epoch: salt.epoch ?? null };
    this.hashes = new FileHashIndex(settings ? join(settings.dir, 'file-hashes.json') : undefined);
  }

  /** True when keys are worth computing: there is a cache to look them up in. */
  get enabled(): boolean {
    return this.#steps !== undefined;
  }

  /** True when `stage`'s steps must run whatever the cache holds. */
  forced(stage: Stage): boolean {
    const s = this.#settings;
    if (s === undefined || s.noCache) return true;
    const names = new Set((s.noCacheFilter ?? []).map((n) => n.toLowerCase()));
    return names.has(String(stage.index)) || (stage.name !== undefined && names.has(stage.name.toLowerCase()));
  }

  /** The key a stage's first step builds on: the build's settings and the stage's base (an image digest, scratch and a platform). */
  rootKey(base: unknown): string {
    return cacheKey({ settings: this.#salt, base });
  }

  /**
   * The entry for `key` when it is usable, counting a hit: a local entry
   * whose layer blob is in the store, else an imported one (its layer
   * fetched when first read: {@link layerOf}), which is also filed locally.
   */
  async lookup(key: string): Promise<CacheEntry | undefined> {
    const entry = await this.#steps?.lookup(key, this.store);
    if (entry !== undefined) {
      this.counts.hits++;
      return entry;
    }
    const remote = this.#steps !== undefined ? this.#settings?.remote?.lookup(key) : undefined;
    if (remote === undefined) return undefined;
    this.counts.hits++;
    this.counts.remoteHits++;
    if (remote.layer !== undefined) this.#remoteLayers.set(remote.layer.descriptor.digest, this.#settings!.remote!.layer(remote.layer));
    await this.#steps!.put(key, remote).catch(() => undefined); // a hit later once its blob is here; a cache that cannot be written is no failure
    return remote;
  }

  /** The Layer of a cached entry's layer: from the store, or fetched from where an imported entry came from. */
  layerOf(cached: CachedLayer): Layer {
    return this.#remoteLayers.get(cached.descriptor.digest) ?? storeLayer(this.store, cached);
  }

  /** The entry this very build made under `key` (another platform's run; see CacheSettings.made), counting a hit. */
  madeByThisBuild(key: string): CacheEntry | undefined {
    const entry = this.#settings?.made?.get(key);
    if (entry !== undefined) this.counts.hits++;
    return entry;
  }

  /** Writes the entry of a step that ran; a cache that cannot be written is a warning (returned), not a failed build. */
  async record(key: string | undefined, entry: CacheEntry): Promise<string | undefined> {
    this.counts.misses++;
    if (entry.layer !== undefined) this.counts.packedLayers++;
    if (key !== undefined) this.#settings?.made?.set(key, entry);
    if (key === undefined || this.#steps === undefined) return undefined;
    try {
      await this.#steps.put(key, entry);
      return undefined;
    } catch (err) {
      return `cannot write the build cache entry ${key}: ${(err as Error).message}`;
    }
  }

  /** Reports the entry a step of `stage` hit or made under `key` (see CacheSettings.onEntry). */
  note(stage: number, key: string, entry: CacheEntry): void {
    this.#settings?.onEntry?.(stage, key, entry);
  }

  /** Saves the file-hash index and returns the counts. */
  finish(): CacheCounts {
    this.hashes.save();
    const { stated, hashed, hashedBytes } = this.hashes.counts;
    return { ...this.counts, statedFiles: stated, hashedFiles: hashed, hashedBytes };
  }
}
