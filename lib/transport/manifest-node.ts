import { Readable } from 'node:stream';
import type { Digest } from '../digest/index.ts';
import { type BlobOrigin, type Image, ImageError, MAX_JSON_BLOB, type Layer, assembleImage, formatOfManifest, layerFrom } from '../image/index.ts';
import { type Descriptor, type Manifest, MediaType, layerCompression, parseImageConfig, parseIndex, parseManifest } from '../oci/index.ts';
import { TransportError } from './transport-error.ts';

/** A blob as a source offers it: described eagerly, opened lazily, verified as read. */
export interface BlobSource {
  readonly descriptor: Descriptor;
  /** A repository that holds the blob, to mount it from (see Layer.origin). */
  readonly origin?: BlobOrigin;
  /** The blob's bytes, verified against the descriptor; the caller consumes or destroys the stream. */
  open(signal?: AbortSignal): Promise<Readable>;
}

/**
 * One manifest of what is being copied, with everything it references: an
 * image manifest with its config and layers, or an index with its
 * manifests. `bytes` are exactly what the source holds, so copies keep the
 * digests. `image` is set for image manifests kiln can model (every
 * container image); artifacts (attestations, signatures) travel as blobs.
 */
export interface ManifestNode {
  /** The manifest's descriptor; a child keeps its index entry (platform, annotations). */
  readonly descriptor: Descriptor;
  readonly bytes: Buffer;
  /** Config first, then layers; empty for an index. */
  readonly blobs: readonly BlobSource[];
  /** An index's manifests, in its order; empty for an image manifest. */
  readonly children: readonly ManifestNode[];
  readonly image: Image | undefined;
}

/** Reads a source's content by descriptor (a registry repository, a content store). */
export interface ContentReader {
  /** A manifest's bytes, verified against the descriptor. */
  readManifest(desc: Descriptor, signal?: AbortSignal): Promise<Buffer>;
  /** A small blob (a config) in memory, verified. */
  readBlob(desc: Descriptor, signal?: AbortSignal): Promise<Buffer>;
  /** A blob as a verified stream. */
  openBlob(desc: Descriptor, signal?: AbortSignal): Promise<Readable>;
}

export const INDEX_TYPES: ReadonlySet<string> = new Set([MediaType.OciIndex, MediaType.DockerManifestList]);
export const IMAGE_MANIFEST_TYPES: ReadonlySet<string> = new Set([MediaType.OciManifest, MediaType.DockerManifest]);
const IMAGE_CONFIG_TYPES: ReadonlySet<string> = new Set([MediaType.OciConfig, MediaType.DockerConfig]);
/** Indexes nest this deep at most (an index of indexes of manifests). */
const MAX_DEPTH = 3;

/**
 * Loads the manifest `desc` names (its `bytes` when already read) and,
 * recursively, the manifests and configs it references; layer blobs stay
 * unread. Throws MANIFEST_UNSUPPORTED for a media type that is neither an
 * image manifest nor an index.
 */
export async function loadNode(reader: ContentReader, desc: Descriptor, bytes?: Buffer, signal?: AbortSignal, depth = 0): Promise<ManifestNode> {
  const body = bytes ?? (await reader.readManifest(desc, signal));
  if (INDEX_TYPES.has(desc.mediaType)) {
    if (depth >= MAX_DEPTH) throw new TransportError('MANIFEST_UNSUPPORTED', `index ${desc.digest} nests indexes deeper than ${MAX_DEPTH}`, { digest: desc.digest });
    const index = parseIndex(body);
    const children: ManifestNode[] = [];
    for (const child of index.manifests) children.push(await loadNode(reader, child, undefined, signal, depth + 1));
    return Object.freeze({ descriptor: desc, bytes: body, blobs: [], children, image: undefined });
  }
  if (!IMAGE_MANIFEST_TYPES.has(desc.mediaType)) {
    throw new TransportError('MANIFEST_UNSUPPORTED', `manifest ${desc.digest} has the unsupported media type ${desc.mediaType}`, { digest: desc.digest });
  }
  const manifest = parseManifest(body, { allowEmptyLayers: true });
  if (manifest.mediaType !== undefined && manifest.mediaType !== desc.mediaType) {
    throw new ImageError('IMAGE_INVALID', `manifest ${desc.digest} says it is a ${manifest.mediaType}, its descriptor says ${desc.mediaType}`, { digest: desc.digest });
  }
  if (manifest.config.size > MAX_JSON_BLOB) {
    throw new ImageError('IMAGE_INVALID', `the config of manifest ${desc.digest} is ${manifest.config.size} bytes, more than ${MAX_JSON_BLOB}`, { digest: desc.digest });
  }
  const configBytes = await reader.readBlob(manifest.config, signal);
  const image = imageOf(desc, body, manifest, configBytes, (d) => reader.openBlob(d, signal));
  const config: BlobSource = { descriptor: manifest.config, open: async () => Readable.from([configBytes]) };
  const layers = manifest.layers.map((d): BlobSource => ({ descriptor: d, open: (s) => reader.openBlob(d, s ?? signal) }));
  return Object.freeze({ descriptor: desc, bytes: body, blobs: [config, ...layers], children: [], image });
}

/** The Image of a container image manifest; undefined for artifacts (other config or layer types). */
function imageOf(desc: Descriptor, bytes: Buffer, manifest: Manifest, configBytes: Buffer, open: (d: Descriptor) => Promise<Readable>): Image | undefined {
  if (!IMAGE_CONFIG_TYPES.has(manifest.config.mediaType)) return undefined;
  if (manifest.layers.some((l) => layerCompression(l.mediaType) === undefined)) return undefined;
  const config = parseImageConfig(configBytes);
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length) {
    throw new ImageError('IMAGE_INVALID', `image ${desc.digest}: the manifest has ${manifest.layers.length} layers but the config lists ${diffIds.length} diff_ids`, { digest: desc.digest });
  }
  const layers: Layer[] = manifest.layers.map((d, i) => layerFrom({ descriptor: d, diffId: diffIds[i]!, open: () => open(d) }));
  return assembleImage({ format: formatOfManifest(manifest.mediaType ?? desc.mediaType), manifest, manifestBytes: bytes, config, configBytes, layers });
}

/** A node for an Image value (a build result, an image read by other code). */
export function nodeFromImage(image: Image, descriptor: Descriptor = image.descriptor): ManifestNode {
  const config: BlobSource = { descriptor: image.configDescriptor, open: async () => Readable.from([image.configBytes]) };
  const layers = image.layers.map((l): BlobSource => ({ descriptor: l.descriptor, open: () => l.open(), ...(l.origin !== undefined ? { origin: l.origin } : {}) }));
  return Object.freeze({ descriptor, bytes: image.manifestBytes, blobs: [config, ...layers], children: [], image });
}

/** Every distinct blob of the tree (by digest), children first, in order. */
export function uniqueBlobs(node: ManifestNode): BlobSource[] {
  const seen = new Map<Digest, BlobSource>();
  const visit = (n: ManifestNode): void => {
    for (const c of n.children) visit(c);
    for (const b of n.blobs) {
      const known = seen.get(b.descriptor.digest);
      if (known === undefined) seen.set(b.descriptor.digest, b);
      else if (known.descriptor.size !== b.descriptor.size) {
        throw new TransportError('DESCRIPTOR_CONFLICT', `two descriptors of ${b.descriptor.digest} disagree on its size (${known.descriptor.size}, ${b.descriptor.size})`);
      }
    }
  };
  visit(node);
  return [...seen.values()];
}

/** Every manifest of the tree below the top one, children before their parents, each once. */
export function childManifests(node: ManifestNode): ManifestNode[] {
  const seen = new Set<Digest>();
  const out: ManifestNode[] = [];
  const visit = (n: ManifestNode): void => {
    for (const c of n.children) {
      visit(c);
      if (!seen.has(c.descriptor.digest)) {
        seen.add(c.descriptor.digest);
        out.push(c);
      }
    }
  };
  visit(node);
  return out;
}

/** `{mediaType, digest, size}` only: the descriptor without an index entry's extras. */
export function bareDescriptor(d: Descriptor): Descriptor {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size };
}
