import { sha256 } from '../digest/index.ts';
import type { Image, ImageFormat } from '../image/index.ts';
import { type Descriptor, type Index, MediaType, canonicalJsonBytes } from '../oci/index.ts';
import { indexEntry } from './layout-index.ts';
import { type ManifestNode, nodeFromImage } from './manifest-node.ts';
import { platformText } from './select-node.ts';
import { TransportError } from './transport-error.ts';

/**
 * The index of a multi-platform build, as a tree to store, write or push:
 * an OCI image index (a Docker manifest list for the `docker` format) with
 * one entry per image, in the order given, each carrying its platform as
 * the image's config declares it (as BuildKit writes them). Canonical JSON,
 * so the same images give the same digest. Throws INDEX_INVALID for no
 * image, two images of one platform, or an image of the other format.
 */
export function indexNode(images: readonly Image[], format: ImageFormat): ManifestNode {
  if (images.length === 0) throw new TransportError('INDEX_INVALID', 'an image index needs at least one image');
  const seen = new Set<string>();
  const children = images.map((image) => {
    const entry: Descriptor = indexEntry(image);
    const platform = platformText(entry.platform!);
    if (seen.has(platform)) throw new TransportError('INDEX_INVALID', `two images for platform ${platform} in one index`, { platform });
    seen.add(platform);
    if (image.format !== format) throw new TransportError('INDEX_INVALID', `a ${format} index cannot list the ${image.format} image ${image.descriptor.digest}`);
    return nodeFromImage(image, entry);
  });
  const mediaType = format === 'docker' ? MediaType.DockerManifestList : MediaType.OciIndex;
  const index: Index = { schemaVersion: 2, mediaType, manifests: children.map((c) => c.descriptor) };
  const bytes = canonicalJsonBytes(index);
  return Object.freeze({ descriptor: { mediaType, digest: sha256(bytes), size: bytes.length }, bytes, blobs: [], children, image: undefined });
}
