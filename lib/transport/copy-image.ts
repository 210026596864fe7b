import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContentStore } from '../content/index.ts';
import type { Digest } from '../digest/index.ts';
import { type Image, assembleImage, storeLayer } from '../image/index.ts';
import type { Descriptor, Platform } from '../oci/index.ts';
import { type ImageRef, formatRef, normalizeRegistry, parseRef } from '../ref/index.ts';
import type { RegistryClient } from '../registry/index.ts';
import { preflightOutput } from './atomic-output.ts';
import { storeReader } from './content-readers.ts';
import { writeDockerArchive } from './docker-archive.ts';
import type { ImageLocation } from './image-location.ts';
import { type SourceImage, readSource } from './image-source.ts';
import { platformOf } from './layout-index.ts';
import { preflightLayout, putManifests, writeLayoutNode, writeOciArchiveNode } from './layout-sink.ts';
import { LocalStore } from './local-store.ts';
import { type BlobSource, type ManifestNode, bareDescriptor, uniqueBlobs } from './manifest-node.ts';
import { pushNode } from './registry-sink.ts';
import type { PlatformChoice } from './select-node.ts';
import { type TransferContext, stageBlobs } from './stage-blobs.ts';
import { TransportError } from './transport-error.ts';
import type { TransportEventSink } from './transport-event.ts';

export interface CopyImageOptions {
  /** The client for `docker://` locations, set up by the caller (credentials, TLS, mirrors); required when one side is a registry. */
  client?: RegistryClient | undefined;
  /** The local store's folder (`$KILN_HOME`), for plain names. */
  home: string;
  /** One platform's image from an index, or the whole index. */
  platform: PlatformChoice;
  /** Blob transfers in flight at once (default 4). */
  concurrency?: number | undefined;
  /** Where archives are unpacked and remote blobs staged (default the OS temp folder). */
  tmpDir?: string | undefined;
  onEvent?: TransportEventSink | undefined;
  signal?: AbortSignal | undefined;
}

export interface CopyImageResult {
  /**
   * What was written at the destination: the image manifest, or the index
   * with every platform; for a docker-archive, which holds no manifest, the
   * config (whose digest is the image ID).
   */
  descriptor: Descriptor;
  /** What the source location names: an index's digest when one image was picked from it. */
  sourceDigest: Digest;
  /** The image's platform (from its config) when a single image was copied. */
  platform: Platform | undefined;
  /** The name the source gives the image, if any. */
  sourceName: ImageRef | undefined;
}

/**
 * Copies an image, or with `platform: {kind: 'all'}` a whole index, from one
 * location to another. Manifest and config bytes travel unchanged, so
 * digests are kept wherever the destination holds manifests (registry, OCI
 * layout, oci-archive, local store); a docker-archive holds configs and
 * layer tars only (the config digest, the image ID, is kept) and takes a
 * single image (MULTI_PLATFORM_UNSUPPORTED otherwise).
 *
 * Blobs move in parallel and are verified on the way; blobs the
 * destination has are skipped; registry to registry on the same registry
 * mounts them. Destinations are written atomically: files and new folders
 * by rename, the local store and existing layouts by writing blobs first
 * and the index last — a failure leaves nothing named.
 */
export async function copyImage(from: ImageLocation, to: ImageLocation, opts: CopyImageOptions): Promise<CopyImageResult> {
  const localRefs = await preflight(to);
  const temp = new TempStore(opts.tmpDir);
  const ctx: TransferContext = { concurrency: opts.concurrency ?? 4, emit: opts.onEvent ?? (() => {}), signal: opts.signal };
  const client = (): RegistryClient => {
    if (opts.client === undefined) throw new TransportError('LOCATION_INVALID', 'a registry location needs a registry client', {});
    return opts.client;
  };
  try {
    const scratch = to.kind === 'local' ? async () => new LocalStore(opts.home).content : () => temp.get();
    const src = await readSource(from, opts.platform, { client, home: opts.home, scratch, signal: opts.signal });
    const descriptor = await writeDestination(to, src, localRefs, { ctx, client, home: opts.home, temp });
    const single = src.node.image;
    return {
      descriptor,
      sourceDigest: src.namedDigest,
      platform: single !== undefined && src.node.children.length === 0 ? platformOf(single) : undefined,
      sourceName: src.name,
    };
  } finally {
    await temp.cleanup();
  }
}

interface SinkContext {
  ctx: TransferContext;
  client: () => RegistryClient;
  home: string;
  temp: TempStore;
}

async function writeDestination(to: ImageLocation, src: SourceImage, localRefs: ImageRef[], s: SinkContext): Promise<Descriptor> {
  const { node } = src;
  const outcome = src.remote ? 'downloaded' : 'copied';
  switch (to.kind) {
    case 'registry':
      return pushNode(s.client(), to.ref, node, { ...s.ctx, mountFrom: mountSource(src, to.ref) });
    case 'local':
      return writeLocal(new LocalStore(s.home), node, localRefs, outcome, s.ctx);
    case 'oci':
      await writeLayoutNode(to.dir, node, to.tag, outcome, s.ctx);
      return bareDescriptor(node.descriptor);
    case 'oci-archive':
      // Staged blobs were reported as they arrived; reading them back is not news.
      await writeOciArchiveNode(to.file, await staged(src, s), to.tag, 'copied', src.remote ? { ...s.ctx, emit: () => {} } : s.ctx);
      return bareDescriptor(node.descriptor);
    case 'docker-archive': {
      if (node.children.length > 0 || node.image === undefined) {
        const what = node.children.length > 0 ? 'an index of several images' : `the artifact ${node.descriptor.digest}`;
        throw new TransportError('MULTI_PLATFORM_UNSUPPORTED', `docker-archive:${to.file} holds single images; the source is ${what} (choose one with --platform)`, { path: to.file });
      }
      const image = (await staged(src, s)).image!;
      const name = to.ref ?? src.name;
      await writeDockerArchive(to.file, [{ image, tags: name !== undefined && name.digest === undefined ? [formatRef(name)] : [] }]);
      return bareDescriptor(image.configDescriptor);
    }
  }
}

/**
 * Stores the tree in the local store and names it: blobs in parallel
 * (skipping those present), then manifests, then index.json. A single
 * image goes through {@link LocalStore.putImage} (so `kiln images` knows its
 * size); an index or an artifact is tagged as it is.
 */
async function writeLocal(store: LocalStore, node: ManifestNode, refs: ImageRef[], outcome: 'downloaded' | 'copied', ctx: TransferContext): Promise<Descriptor> {
  const image = node.children.length === 0 ? node.image : undefined;
  // A single image's layers are measured as they come in: the store records its size.
  const layers = new Map((image?.layers ?? []).filter((l) => l.uncompressedSize === undefined).map((l) => [l.descriptor.digest, l.diffId]));
  const sizes = await stageBlobs(store.content, uniqueBlobs(node), outcome, ctx, layers);
  await putManifests(store.content, node, ctx);
  if (image !== undefined) {
    await store.putImage(imageInStore(image, store.content, sizes), refs);
  } else {
    await store.tagStored(bareDescriptor(node.descriptor), refs);
  }
  return bareDescriptor(node.descriptor);
}

/** The tree with every blob in a local store: as it is for local sources, else first fetched into a temp store. */
async function staged(src: SourceImage, s: SinkContext): Promise<ManifestNode> {
  if (!src.remote) return src.node;
  const store = await s.temp.get();
  await stageBlobs(store, uniqueBlobs(src.node), 'downloaded', s.ctx);
  return inStore(src.node, store);
}

/** The same tree reading its blobs from `store`. */
export function inStore(node: ManifestNode, store: ContentStore): ManifestNode {
  const reader = storeReader(store);
  const blobs = node.blobs.map((b): BlobSource => ({ descriptor: b.descriptor, open: () => reader.openBlob(b.descriptor) }));
  return Object.freeze({ ...node, blobs, children: node.children.map((c) => inStore(c, store)), image: node.image && imageInStore(node.image, store) });
}

/** The image reading its layers from `store`; `sizes` adds uncompressed sizes learnt on the way. */
export function imageInStore(image: Image, store: ContentStore, sizes?: ReadonlyMap<Digest, number>): Image {
  const layers = image.layers.map((l) => {
    const uncompressedSize = l.uncompressedSize ?? sizes?.get(l.descriptor.digest);
    return storeLayer(store, { descriptor: l.descriptor, diffId: l.diffId, ...(uncompressedSize !== undefined ? { uncompressedSize } : {}) });
  });
  return assembleImage({ format: image.format, manifest: image.manifest, manifestBytes: image.manifestBytes, config: image.config, configBytes: image.configBytes, layers });
}

/** The repository to mount blobs from: the source's, when it is a repository of the destination's registry. */
function mountSource(src: SourceImage, dest: ImageRef): string | undefined {
  const from = src.repository ?? src.name;
  if (from === undefined || normalizeRegistry(from.registry) !== normalizeRegistry(dest.registry)) return undefined;
  return from.repository === dest.repository ? undefined : from.repository;
}

/**
 * Checks the destination before anything is read: a folder or file can be
 * written, a local name is a reference. Returns the tags a local
 * destination gets (none for a name by digest: the image is stored untagged).
 */
async function preflight(to: ImageLocation): Promise<ImageRef[]> {
  switch (to.kind) {
    case 'registry':
      return [];
    case 'local': {
      const ref = parseRef(to.name);
      return ref.digest === undefined ? [ref] : [];
    }
    case 'oci':
      await preflightOutput(to.dir, 'dir');
      await preflightLayout(to.dir);
      return [];
    case 'oci-archive':
      await preflightOutput(to.file, 'file');
      return [];
    case 'docker-archive':
      await preflightOutput(to.file, 'file');
      return [];
  }
}

/** A content store in a temp folder, made on first use and removed at the end. */
class TempStore {
  readonly #parent: string | undefined;
  #store: Promise<{ dir: string; store: ContentStore }> | undefined;

  constructor(parent: string | undefined) {
    this.#parent = parent;
  }

  async get(): Promise<ContentStore> {
    this.#store ??= mkdtemp(join(this.#parent ?? tmpdir(), 'kiln-copy-')).then((dir) => ({ dir, store: new ContentStore(dir) }));
    return (await this.#store).store;
  }

  async cleanup(): Promise<void> {
    if (this.#store === undefined) return;
    const { dir } = await this.#store.catch(() => ({ dir: undefined }));
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }
}
