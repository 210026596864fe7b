/**
 * `kiln fsck [--repair]`: re-verifies the local store. Every blob is hashed
 * again (its name is its digest); every index.json entry must reach its
 * manifests, configs and layers with the sizes its descriptors say; every
 * build cache entry must parse and find its layer blob. With `repair`, a
 * corrupt blob is deleted, an image entry that cannot be read whole is
 * dropped from index.json, and a broken cache entry is deleted — what is
 * left is consistent, and a later build or pull makes the rest again.
 */
import { createReadStream } from 'node:fs';
import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { type Digest, Sha256 } from '../digest/index.ts';
import { brokenCacheEntries } from '../executor/index.ts';
import { MAX_JSON_BLOB } from '../image/index.ts';
import { type Descriptor, MediaType, parseIndex, parseManifest } from '../oci/index.ts';
import { LocalStore, REF_NAME } from '../transport/index.ts';

export interface FsckProblem {
  /** `blob`: a blob whose bytes do not hash to its name; `image`: an index entry that cannot be read whole; `cache`: a cache entry that can never hit. */
  kind: 'blob' | 'image' | 'cache';
  /** What is wrong, in a sentence naming the blob, image or entry. */
  message: string;
  /** Whether `repair` removed it. */
  repaired: boolean;
}

export interface FsckResult {
  blobs: number;
  bytes: number;
  images: number;
  cacheEntries: number;
  problems: FsckProblem[];
}

export async function fsck(home: string, opts: { repair: boolean }): Promise<FsckResult> {
  const store = new LocalStore(home);
  const problems: FsckProblem[] = [];
  const dir = join(home, 'blobs', 'sha256');
  const names = await readdir(dir).catch(() => [] as string[]);
  let bytes = 0;
  for (const name of names.sort()) {
    const path = join(dir, name);
    const got = await hashFile(path);
    bytes += got.size;
    if (/^[a-f0-9]{64}$/.test(name) && got.digest === `sha256:${name}`) continue;
    if (opts.repair) await unlink(path).catch(() => {});
    problems.push({ kind: 'blob', message: /^[a-f0-9]{64}$/.test(name) ? `blob sha256:${name} is corrupt: its ${got.size} bytes hash to ${got.digest}` : `blobs/sha256/${name} is not a blob name`, repaired: opts.repair });
  }
  const sizes = new Map<string, number>();
  const sizeOf = async (d: Digest): Promise<number | undefined> => {
    if (!sizes.has(d)) sizes.set(d, (await stat(join(dir, d.slice(7))).catch(() => undefined))?.size ?? -1);
    const s = sizes.get(d)!;
    return s < 0 ? undefined : s;
  };
  const index = await store.readIndex();
  for (const entry of index.manifests) {
    const why = await unreadable(store, entry, sizeOf);
    if (why === undefined) continue;
    const name = entry.annotations?.[REF_NAME] ?? `untagged ${entry.digest}`;
    if (opts.repair) await store.removeDigest(entry.digest);
    problems.push({ kind: 'image', message: `image ${name}: ${why}`, repaired: opts.repair });
  }
  const cache = await brokenCacheEntries(join(home, 'cache'), { hasBlob: async (d, size) => (await sizeOf(d)) === size, remove: opts.repair });
  for (const b of cache.broken) problems.push({ kind: 'cache', message: `cache entry ${b.file}: ${b.why}`, repaired: opts.repair });
  return { blobs: names.length, bytes, images: index.manifests.length, cacheEntries: cache.checked, problems };
}

/** Why the image (or index) `d` cannot be read whole from the store; undefined when it can. */
async function unreadable(store: LocalStore, d: Descriptor, sizeOf: (d: Digest) => Promise<number | undefined>): Promise<string | undefined> {
  const have = await sizeOf(d.digest);
  if (have === undefined) return `its manifest ${d.digest} is missing`;
  if (have !== d.size) return `its manifest ${d.digest} is ${have} bytes, the index says ${d.size}`;
  const bytes = await store.content.readBytes(d.digest, MAX_JSON_BLOB).catch(() => undefined);
  if (bytes === undefined) return `its manifest ${d.digest} cannot be read`;
  try {
    if (d.mediaType === MediaType.OciIndex || d.mediaType === MediaType.DockerManifestList) {
      for (const m of parseIndex(bytes).manifests) {
        const why = await unreadable(store, m, sizeOf);
        if (why !== undefined) return `${m.platform ? `${m.platform.os}/${m.platform.architecture}` : m.digest}: ${why}`;
      }
      return undefined;
    }
    const manifest = parseManifest(bytes, { allowEmptyLayers: true });
    for (const [what, blob] of [['config', manifest.config], ...manifest.layers.map((l, i) => [`layer ${i + 1}`, l] as const)] as const) {
      const size = await sizeOf(blob.digest);
      if (size === undefined) return `its ${what} ${blob.digest} is missing`;
      if (size !== blob.size) return `its ${what} ${blob.digest} is ${size} bytes, the manifest says ${blob.size}`;
    }
    return undefined;
  } catch (err) {
    return `its manifest ${d.digest} is invalid: ${(err as Error).message}`;
  }
}

async function hashFile(path: string): Promise<{ digest: Digest; size: number }> {
  const hash = new Sha256();
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return { digest: hash.digest(), size: hash.size };
}
