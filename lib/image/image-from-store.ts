import type { ContentStore } from '../content/index.ts';
import { type Descriptor, MediaType, parseImageConfig, parseManifest } from '../oci/index.ts';
import { type Image, assembleImage, formatOfManifest } from './image.ts';
import { ImageError, storeLayer } from './layer.ts';

/** Manifests and configs above this size are refused (BLOB_TOO_LARGE), as registries do. */
export const MAX_JSON_BLOB = 4 * 1024 * 1024;

/**
 * The image whose manifest `descriptor` names in `store`. Reads and verifies
 * the manifest and config bytes (digest and size), validates them with
 * lib/oci's parsers, and checks that the config's diff_ids match the
 * manifest's layers in number. Layers are store-backed and lazy: a missing
 * layer blob only fails when it is opened. The bytes are kept exactly as
 * stored, so the image's digests are the stored ones.
 */
export async function imageFromStore(store: ContentStore, descriptor: Descriptor): Promise<Image> {
  if (descriptor.mediaType !== MediaType.OciManifest && descriptor.mediaType !== MediaType.DockerManifest) {
    throw new ImageError('IMAGE_INVALID', `${descriptor.digest} is a ${descriptor.mediaType}, not an image manifest`, { digest: descriptor.digest });
  }
  const manifestBytes = await readExact(store, descriptor);
  const manifest = parseManifest(manifestBytes, { allowEmptyLayers: true });
  if (manifest.mediaType !== undefined && manifest.mediaType !== descriptor.mediaType) {
    throw new ImageError('IMAGE_INVALID', `manifest ${descriptor.digest} says it is a ${manifest.mediaType}, its descriptor says ${descriptor.mediaType}`, {
      digest: descriptor.digest,
    });
  }
  const configBytes = await readExact(store, manifest.config);
  const config = parseImageConfig(configBytes);
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length) {
    throw new ImageError('IMAGE_INVALID', `image ${descriptor.digest}: the manifest has ${manifest.layers.length} layers but the config lists ${diffIds.length} diff_ids`, {
      digest: descriptor.digest,
    });
  }
  const layers = manifest.layers.map((d, i) => storeLayer(store, { descriptor: d, diffId: diffIds[i]! }));
  return assembleImage({ format: formatOfManifest(manifest.mediaType ?? descriptor.mediaType), manifest, manifestBytes, config, configBytes, layers });
}

async function readExact(store: ContentStore, d: Descriptor): Promise<Buffer> {
  const bytes = await store.readBytes(d.digest, MAX_JSON_BLOB);
  if (bytes.length !== d.size) {
    throw new ImageError('IMAGE_INVALID', `blob ${d.digest} is ${bytes.length} bytes but its descriptor says ${d.size}`, { digest: d.digest });
  }
  return bytes;
}
