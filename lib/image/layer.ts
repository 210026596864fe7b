import type { Readable } from 'node:stream';
import { KilnError } from '../errors.ts';
import { type Digest, VerifyingStream } from '../digest/index.ts';
import { type Descriptor, layerCompression } from '../oci/index.ts';
import type { ContentStore } from '../content/index.ts';
import { decompressStream } from '../archive/index.ts';
import { deepFreeze } from './deep-freeze.ts';

/**
 * Failures of the image model. Codes: IMAGE_INVALID (a manifest or config
 * that does not describe a consistent image), FORMAT_INCOMPATIBLE (a layer
 * the requested format cannot carry), LAYER_UNSUPPORTED.
 */
export class ImageError extends KilnError {}

/**
 * One layer of an image: described eagerly, read lazily. Every stream it
 * returns is verified: `open()` against `descriptor` (digest and size),
 * `openUncompressed()` against `diffId` (and `uncompressedSize` when known).
 * A mismatch surfaces as an 'error' event at end of stream instead of 'end'.
 * The caller owns returned streams and must consume or destroy them.
 */
/** A repository that holds a layer's blob (a registry's `host[:port]` and a repository name). */
export interface BlobOrigin {
  readonly registry: string;
  readonly repository: string;
}

export interface Layer {
  readonly descriptor: Descriptor;
  readonly diffId: Digest;
  /** Bytes of the uncompressed tar, when known. */
  readonly uncompressedSize?: number;
  /**
   * Where the blob can be had without reading it here: a repository that
   * holds it (a base image's, a registry cache's). A push to the same
   * registry mounts it from there instead of uploading it.
   */
  readonly origin?: BlobOrigin;
  /** The blob as stored (compressed), verified. */
  open(): Promise<Readable>;
  /** The layer tar, decompressed, verified against `diffId`. */
  openUncompressed(): Promise<Readable>;
}

/** What a store-backed layer needs to know up front. */
export interface StoreLayerInit {
  descriptor: Descriptor;
  diffId: Digest;
  uncompressedSize?: number;
}

/**
 * A layer whose blob lives in `store` under `descriptor.digest`. Creating it
 * does no I/O; a missing blob fails when opened (BLOB_NOT_FOUND).
 */
export function storeLayer(store: ContentStore, init: StoreLayerInit): Layer {
  const descriptor = freezeDescriptor(init.descriptor);
  const open = (): Promise<Readable> => store.open(descriptor.digest, { size: descriptor.size });
  return layerFrom({ descriptor, diffId: init.diffId, uncompressedSize: init.uncompressedSize, open });
}

/**
 * A layer over any source of its compressed blob (a store, a registry, …).
 * `open` must return the blob's bytes already verified against `descriptor`
 * (as `ContentStore.open` does): this wrapper passes them through as they
 * are, and adds the decompression and the diffID check of `openUncompressed`.
 * Throws LAYER_UNSUPPORTED for a media type that is not a known layer type.
 */
export function layerFrom(init: StoreLayerInit & { open: () => Promise<Readable> }): Layer {
  const { diffId, uncompressedSize, open } = init;
  const descriptor = freezeDescriptor(init.descriptor);
  const compression = layerCompression(descriptor.mediaType);
  if (compression === undefined) {
    throw new ImageError('LAYER_UNSUPPORTED', `unsupported layer media type ${descriptor.mediaType}`, { digest: descriptor.digest });
  }
  const openUncompressed = async (): Promise<Readable> => {
    const blob = await open();
    const tar = compression === 'none' ? blob : decompressStream(blob);
    const verify = new VerifyingStream(uncompressedSize === undefined ? { digest: diffId } : { digest: diffId, size: uncompressedSize });
    tar.on('error', (err: Error) => verify.destroy(err));
    verify.on('close', () => tar.destroy());
    return tar.pipe(verify);
  };
  const layer: Layer = uncompressedSize === undefined
    ? { descriptor, diffId, open, openUncompressed }
    : { descriptor, diffId, uncompressedSize, open, openUncompressed };
  return Object.freeze(layer);
}

/**
 * The layer's uncompressed size: `uncompressedSize` when known, otherwise
 * counted by reading the whole decompressed layer (which also verifies its diffID).
 */
export async function uncompressedSizeOf(layer: Layer): Promise<number> {
  if (layer.uncompressedSize !== undefined) return layer.uncompressedSize;
  let size = 0;
  for await (const chunk of await layer.openUncompressed()) size += (chunk as Buffer).length;
  return size;
}

/** The same layer described with another media type (same bytes, same digest). */
export function withLayerMediaType(layer: Layer, mediaType: string): Layer {
  if (layer.descriptor.mediaType === mediaType) return layer;
  return layerFrom({
    descriptor: { ...layer.descriptor, mediaType },
    diffId: layer.diffId,
    uncompressedSize: layer.uncompressedSize,
    open: () => layer.open(),
  });
}

function freezeDescriptor(d: Descriptor): Descriptor {
  return deepFreeze(structuredClone(d));
}
