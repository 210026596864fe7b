/**
 * Test kit: small random images, built the way kiln builds layers (entries →
 * lib/archive packLayer → ContentStore), in the spirit of
 * go-containerregistry's `random.Image`. Seeded, so a failing case can be
 * replayed: the same seed gives the same files and the same digests.
 */
import type { TarWriteEntry } from '../../lib/archive/index.ts';
import { packLayer } from '../../lib/archive/index.ts';
import type { ContentStore } from '../../lib/content/index.ts';
import { type Image, type ImageFormat, type Layer, appendLayer, scratchImage, storeLayer } from '../../lib/image/index.ts';
import { type Platform, layerMediaType } from '../../lib/oci/index.ts';

/** One regular file written into a random layer. */
export interface RandomFile {
  path: string;
  content: Buffer;
  mode: number;
  uid: number;
  gid: number;
}

export interface RandomLayerOptions {
  seed?: number;
  files?: number;
  maxFileSize?: number;
  compression?: 'gzip' | 'none';
  /** Directory all files go under (no leading `/`). */
  dir?: string;
}

export interface RandomImageOptions extends RandomLayerOptions {
  layers?: number;
  format?: ImageFormat;
  platform?: Platform;
}

/** A deterministic PRNG (mulberry32): good enough to vary test data, not for secrets. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MODES = [0o644, 0o600, 0o755, 0o640];
const OWNERS = [[0, 0], [1000, 1000], [33, 44]] as const;

/** Random files under `dir`, with a mix of modes and owners. */
export function randomFiles(seed: number, count: number, maxSize: number, dir: string): RandomFile[] {
  const rand = prng(seed);
  const files: RandomFile[] = [];
  for (let i = 0; i < count; i++) {
    const size = Math.floor(rand() * (maxSize + 1));
    const content = Buffer.alloc(size);
    for (let j = 0; j < size; j++) content[j] = Math.floor(rand() * 256);
    const [uid, gid] = OWNERS[Math.floor(rand() * OWNERS.length)]!;
    files.push({ path: `${dir}/file-${i}.bin`, content, mode: MODES[Math.floor(rand() * MODES.length)]!, uid, gid });
  }
  return files;
}

/** Packs files (plus their directory) into a layer blob in `store`; returns a store-backed Layer. */
export async function layerFromFiles(store: ContentStore, dir: string, files: readonly RandomFile[], compression: 'gzip' | 'none' = 'gzip'): Promise<Layer> {
  const entries: TarWriteEntry[] = [{ name: dir, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 }];
  for (const f of files) {
    entries.push({ name: f.path, type: 'file', mode: f.mode, uid: f.uid, gid: f.gid, mtime: 1_700_000_000, size: f.content.length, body: () => f.content });
  }
  const { stream, uncompressed } = packLayer(entries, { compression });
  const { digest, size } = await store.put(stream);
  const { diffId, size: uncompressedSize } = await uncompressed;
  return storeLayer(store, { descriptor: { mediaType: layerMediaType(compression, 'oci'), digest, size }, diffId, uncompressedSize });
}

/** One random layer in `store`, with the files it holds. */
export async function randomLayer(store: ContentStore, opts: RandomLayerOptions = {}): Promise<{ layer: Layer; files: RandomFile[] }> {
  const seed = opts.seed ?? 1;
  const dir = opts.dir ?? `layer-${seed}`;
  const files = randomFiles(seed, opts.files ?? 3, opts.maxFileSize ?? 2048, dir);
  return { layer: await layerFromFiles(store, dir, files, opts.compression ?? 'gzip'), files };
}

/** A random image of `layers` layers (each its own directory) on scratch, with a history entry per layer. */
export async function randomImage(store: ContentStore, opts: RandomImageOptions = {}): Promise<{ image: Image; files: RandomFile[] }> {
  const seed = opts.seed ?? 1;
  let image = scratchImage({ platform: opts.platform ?? { architecture: 'amd64', os: 'linux' }, format: opts.format ?? 'oci' });
  const all: RandomFile[] = [];
  for (let i = 0; i < (opts.layers ?? 2); i++) {
    const { layer, files } = await randomLayer(store, { ...opts, seed: seed * 1000 + i, dir: `s${seed}-l${i}` });
    image = appendLayer(image, layer, { created: '2024-01-01T00:00:00Z', created_by: `random layer ${i}` });
    all.push(...files);
  }
  return { image, files: all };
}
