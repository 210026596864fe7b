import type { ContentStore } from '../content/index.ts';
import type { Image } from '../image/index.ts';

/**
 * Copies every blob of `image` into `store`: layers first (streamed and
 * verified on the way in; skipped when already present), then the config,
 * then the manifest — so a store never names a manifest whose blobs it lacks.
 */
export async function copyImageBlobs(store: ContentStore, image: Image): Promise<void> {
  for (const layer of image.layers) {
    const { digest, size } = layer.descriptor;
    if ((await store.stat(digest))?.size === size) continue;
    await store.put(await layer.open(), { digest, size });
  }
  await store.putBytes(image.configBytes, { digest: image.configDescriptor.digest, size: image.configDescriptor.size });
  await store.putBytes(image.manifestBytes, { digest: image.descriptor.digest, size: image.descriptor.size });
}
