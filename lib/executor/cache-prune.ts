import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Descriptor } from '../oci/index.ts';
import { StepCache } from './cache-store.ts';

/** What {@link pruneCache} removed and what it keeps. */
export interface CachePruneResult {
  /** Entries removed. */
  readonly entries: number;
  /** Bytes of everything removed (entry files, the file-hash index, `extraDirs`). */
  readonly bytes: number;
  /** Blobs the remaining entries need (their layers). */
  readonly keep: ReadonlySet<string>;
}

/**
 * The cache's half of `kiln prune`. With `all`, every entry goes, with the
 * file-hash index and `extraDirs` (RUN's cache mounts); otherwise only
 * entries that can no longer hit: damaged files, or layers whose blob
 * `hasBlob` says is gone. Returns the layer blobs the remaining entries
 * still need, for the store's garbage collection.
 */
export async function pruneCache(dir: string, opts: { all: boolean; hasBlob: (digest: Descriptor['digest']) => Promise<boolean>; extraDirs?: readonly string[] }): Promise<CachePruneResult> {
  const keep = new Set<string>();
  let entries = 0;
  let bytes = 0;
  for (const stored of await new StepCache(dir).list()) {
    const layer = stored.entry?.layer;
    const usable = stored.entry !== undefined && (layer === undefined || (await opts.hasBlob(layer.descriptor.digest)));
    if (usable && !opts.all) {
      if (layer !== undefined) keep.add(layer.descriptor.digest);
      continue;
    }
    await rm(stored.file, { force: true });
    entries++;
    bytes += stored.size;
  }
  if (opts.all) {
    for (const path of [join(dir, 'file-hashes.json'), ...(opts.extraDirs ?? [])]) {
      bytes += await sizeOf(path);
      await rm(path, { recursive: true, force: true });
    }
  }
  return { entries, bytes, keep };
}

/** Bytes of the files at or below `path` (0 when it does not exist); symlinks are not followed. */
async function sizeOf(path: string): Promise<number> {
  const st = await lstat(path).catch(() => undefined);
  if (st === undefined) return 0;
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const name of await readdir(path)) total += await sizeOf(join(path, name));
  return total;
}

/** A cache entry that can never hit again: its file is damaged, or the layer blob it names is gone. */
export interface BrokenCacheEntry {
  readonly file: string;
  readonly why: string;
}

/** `kiln fsck`'s look at the cache: the broken entries, removed with `remove`. */
export async function brokenCacheEntries(dir: string, opts: { hasBlob: (digest: Descriptor['digest'], size: number) => Promise<boolean>; remove: boolean }): Promise<{ checked: number; broken: BrokenCacheEntry[] }> {
  const broken: BrokenCacheEntry[] = [];
  const all = await new StepCache(dir).list();
  for (const stored of all) {
    const layer = stored.entry?.layer;
    let why: string | undefined;
    if (stored.entry === undefined) why = 'the entry file is damaged';
    else if (layer !== undefined && !(await opts.hasBlob(layer.descriptor.digest, layer.descriptor.size))) why = `its layer ${layer.descriptor.digest} is missing`;
    if (why === undefined) continue;
    broken.push({ file: stored.file, why });
    if (opts.remove) await rm(stored.file, { force: true });
  }
  return { checked: all.length, broken };
}
