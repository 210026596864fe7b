import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContentStore } from '../content/index.ts';
import { type Descriptor, type HistoryEntry, type ImageConfig, MediaType, parseDescriptor, parseImageConfig } from '../oci/index.ts';

const FORMAT = 'kiln.cache.step.v1';
const KEY = /^[a-f0-9]{64}$/;

/** The layer a cached filesystem step made; its blob lives in the content store. */
export interface CachedLayer {
  readonly descriptor: Descriptor;
  readonly diffId: Descriptor['digest'];
  readonly uncompressedSize: number;
}

/** The image config a step leaves, without the parts the image itself carries (`rootfs`, `history`, `created`). */
export type ConfigAfter = Omit<ImageConfig, 'rootfs' | 'history' | 'created'>;

/**
 * What one step left behind, enough to redo its effect on the image without
 * running it: the layer (filesystem steps), the history entry (its
 * `created` is kept, so an image made entirely from the cache is the same
 * image, as BuildKit's exporter dates layers by their creation), the config
 * and the ARGs after the step. The resulting filesystem is not stored.
 */
export interface CacheEntry {
  readonly layer: CachedLayer | undefined;
  /** Undefined for the one step that records none (ONBUILD, as BuildKit). */
  readonly history: HistoryEntry | undefined;
  readonly config: ConfigAfter;
  readonly args: ReadonlyMap<string, string | undefined>;
  /** For a step that can be redone without packing its layer: the inputs' exact digest (see FsKeyParts.exact). */
  readonly replay: string | undefined;
}

/** One entry on disk, for `kiln prune`. */
export interface StoredEntry {
  readonly key: string;
  readonly file: string;
  /** Undefined when the file cannot be read as an entry. */
  readonly entry: CacheEntry | undefined;
  readonly size: number;
}

/**
 * The build cache's entries: one small JSON file per key in
 * `<dir>/steps/<key>.json` (`$KILN_HOME/cache/steps`), written atomically
 * (temp file, rename), so concurrent builds and crashes leave whole entries
 * or none. Layer blobs are not here but in the content store: an entry is
 * only a hit while its blob is there ({@link lookup}).
 */
export class StepCache {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** The entry for `key` whose layer blob (if any) `store` holds with the right size; undefined otherwise (a damaged entry is a miss). */
  async lookup(key: string, store: ContentStore): Promise<CacheEntry | undefined> {
    const entry = await this.#read(this.#file(key));
    if (entry === undefined) return undefined;
    if (entry.layer !== undefined && (await store.stat(entry.layer.descriptor.digest))?.size !== entry.layer.descriptor.size) return undefined;
    return entry;
  }

  /** Writes (or replaces) the entry for `key`, atomically. */
  async put(key: string, entry: CacheEntry): Promise<void> {
    const file = this.#file(key);
    // named with the pid, so that what a killed run leaves is recognised and removed (sweepHome)
    const tmp = `${file}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`;
    await mkdir(join(this.dir, 'steps'), { recursive: true });
    try {
      await writeFile(tmp, JSON.stringify(entryToJson(entry)));
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  /** Every entry file (damaged ones with `entry` undefined); entries still being written are not listed. */
  async list(): Promise<StoredEntry[]> {
    const dir = join(this.dir, 'steps');
    const names = await readdir(dir).catch(() => [] as string[]);
    const out: StoredEntry[] = [];
    for (const name of names) {
      if (name.endsWith('.tmp')) continue; // an entry being written (or a killed run's, swept at start)
      const file = join(dir, name);
      const size = (await stat(file).catch(() => undefined))?.size ?? 0;
      const key = name.replace(/\.json$/, '');
      out.push({ key, file, entry: KEY.test(key) && name.endsWith('.json') ? await this.#read(file) : undefined, size });
    }
    return out;
  }

  #file(key: string): string {
    const hex = key.replace(/^sha256:/, '');
    if (!KEY.test(hex)) throw new TypeError(`not a cache key: ${key}`);
    return join(this.dir, 'steps', `${hex}.json`);
  }

  async #read(file: string): Promise<CacheEntry | undefined> {
    try {
      return entryFromJson(JSON.parse(await readFile(file, 'utf8')));
    } catch {
      return undefined;
    }
  }
}

/**
 * An entry as the JSON value the cache writes (one file per key here, and
 * the same value per key in a registry cache's config, lib/build/cache-manifest.ts).
 */
export function entryToJson(e: CacheEntry): unknown {
  const layer = e.layer && { ...e.layer.descriptor, diffId: e.layer.diffId, uncompressedSize: e.layer.uncompressedSize };
  return { format: FORMAT, layer, history: e.history, config: e.config, args: [...e.args].map(([k, v]) => [k, v ?? null]), replay: e.replay };
}

/**
 * Parses an entry's JSON value ({@link entryToJson}), validating every part
 * that becomes part of an image. Throws on anything else (TypeError or
 * OciError: callers that read untrusted documents wrap it).
 */
export function entryFromJson(doc: unknown): CacheEntry {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(doc)) throw new TypeError('not a cache entry');
  const d = doc as { format?: unknown; layer?: unknown; history?: unknown; config?: unknown; args?: unknown; replay?: unknown };
  if (d.format !== FORMAT || !Array.isArray(d.args) || !isObject(d.config)) throw new TypeError('not a cache entry');
  if (d.layer !== undefined && d.layer !== null && !isObject(d.layer)) throw new TypeError('bad layer');
  const { rootfs: _r, history, created: _c, ...config } = parseImageConfig({ ...d.config, rootfs: { type: 'layers', diff_ids: [] }, history: d.history === undefined ? [] : [d.history] });
  const args = new Map<string, string | undefined>();
  for (const a of d.args as unknown[]) {
    if (!Array.isArray(a) || typeof a[0] !== 'string' || (a[1] !== null && typeof a[1] !== 'string')) throw new TypeError('bad args');
    args.set(a[0], a[1] ?? undefined);
  }
  let layer: CachedLayer | undefined;
  if (isObject(d.layer)) {
    const { mediaType, digest, size, diffId, uncompressedSize } = d.layer;
    // The content store holds sha256 blobs only.
    if (typeof digest !== 'string' || !digest.startsWith('sha256:') || typeof diffId !== 'string' || !diffId.startsWith('sha256:')) throw new TypeError('a layer digest that is not sha256');
    const descriptor = parseDescriptor({ mediaType, digest, size });
    // The diffID is checked as a descriptor digest is (the executor has no digest parser of its own).
    const diff = parseDescriptor({ mediaType: MediaType.OciLayer, digest: diffId, size: uncompressedSize });
    layer = { descriptor, diffId: diff.digest, uncompressedSize: diff.size };
  }
  if (layer !== undefined && history?.[0] === undefined) throw new TypeError('a layer without history');
  return { layer, history: history?.[0], config, args, replay: typeof d.replay === 'string' ? d.replay : undefined };
}
