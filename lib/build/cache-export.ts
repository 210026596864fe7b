import type { ContentStore } from '../content/index.ts';
import type { CacheEntry } from '../executor/index.ts';
import type { Descriptor } from '../oci/index.ts';
import { normalizeRegistry } from '../ref/index.ts';
import type { RegistryClient } from '../registry/index.ts';
import type { ImportedCaches } from './cache-import.ts';
import type { CacheExport } from './cache-spec.ts';
import { exportCache, type ExportCacheResult } from './cache-transfer.ts';

/**
 * The cache entries one build used or made, by stage (the executor reports
 * them through CacheSettings.onEntry), and what `--cache-to` exports of
 * them: `mode=min` the target stage's steps, `mode=max` every stage's.
 */
export class CacheCollector {
  readonly #byStage = new Map<number, Map<string, CacheEntry>>();

  readonly onEntry = (stage: number, key: string, entry: CacheEntry): void => {
    let entries = this.#byStage.get(stage);
    if (entries === undefined) this.#byStage.set(stage, (entries = new Map()));
    entries.set(key, entry);
  };

  entries(mode: CacheExport['mode'], target: number): Map<string, CacheEntry> {
    if (mode === 'min') return new Map(this.#byStage.get(target));
    return new Map([...this.#byStage.values()].flatMap((m) => [...m]));
  }
}

/** Exports the build's cache to every `--cache-to` target, one after another; a failure fails the build (as BuildKit's, without ignore-error). */
export async function exportCaches(targets: readonly CacheExport[], collected: CacheCollector, targetStage: number, opts: { client?: RegistryClient | undefined; store: ContentStore; signal?: AbortSignal | undefined; imported?: ImportedCaches | undefined }): Promise<ExportCacheResult[]> {
  const results: ExportCacheResult[] = [];
  const { imported, ...rest } = opts;
  for (const t of targets) {
    // A layer an imported cache holds and no step read: mounted from that cache's repository on the same registry, else read from there.
    const mountFrom = (d: Descriptor): string | undefined => {
      const origin = imported?.origin(d.digest);
      return origin !== undefined && t.type === 'registry' && normalizeRegistry(origin.registry) === normalizeRegistry(t.ref.registry) ? origin.repository : undefined;
    };
    results.push(await exportCache(t, collected.entries(t.mode, targetStage), { ...rest, mountFrom, openMissing: (d) => imported?.openBlob(d) }));
  }
  return results;
}
