import { join } from 'node:path';
import type { ContentStore } from '../content/index.ts';
import type { Stage } from '../plan/index.ts';
import { FileHashIndex } from './cache-file-hashes.ts';
import { cacheKey, KEY_VERSION } from './cache-key.ts';
import { type CacheEntry, StepCache } from './cache-store.ts';

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
}

/** What the cache did in one build (reported in the `cache` event). */
export interface CacheCounts {
  hits: number;
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
  readonly counts: CacheCounts = { hits: 0, misses: 0, packedLayers: 0, appliedLayers: 0, replayedSteps: 0, statedFiles: 0, hashedFiles: 0, hashedBytes: 0 };

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

  /** The entry for `key` when it is usable (its layer blob present), counting a hit. */
  async lookup(key: string): Promise<CacheEntry | undefined> {
    const entry = await this.#steps?.lookup(key, this.store);
    if (entry !== undefined) this.counts.hits++;
    return entry;
  }

  /** Writes the entry of a step that ran; a cache that cannot be written is a warning (returned), not a failed build. */
  async record(key: string | undefined, entry: CacheEntry): Promise<string | undefined> {
    this.counts.misses++;
    if (entry.layer !== undefined) this.counts.packedLayers++;
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
