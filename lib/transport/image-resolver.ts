import type { Image } from '../image/index.ts';
import type { Platform } from '../oci/index.ts';
import { type ImageRef, formatRef } from '../ref/index.ts';
import { type RegistryClient, RegistryError } from '../registry/index.ts';
import { imageInStore } from './copy-image.ts';
import { readSource } from './image-source.ts';
import { putManifests } from './layout-sink.ts';
import { LocalStore } from './local-store.ts';
import { uniqueBlobs } from './manifest-node.ts';
import { stageBlobs } from './stage-blobs.ts';
import { TransportError } from './transport-error.ts';
import type { TransportEventSink } from './transport-event.ts';

export interface StoreResolverOptions {
  client: RegistryClient;
  /** The local store (`$KILN_HOME`): blobs land in its content store. */
  home: string;
  concurrency?: number;
  onEvent?: TransportEventSink;
}

/**
 * Base images for builds (the executor's `ImageResolver`), the way
 * BuildKit gets them: the reference is resolved against its registry on
 * every build (so a moved tag is seen) and the image for `platform` picked
 * from an index; blobs already in the local store are not fetched again.
 * Base images are cached in the local store's content store without being
 * tagged there. When the registry cannot be reached, an image of the local
 * store with that name and platform is used instead.
 */
export function storeResolver(opts: StoreResolverOptions): { resolve(ref: ImageRef, platform: Platform, signal?: AbortSignal): Promise<Image> } {
  const store = new LocalStore(opts.home);
  return {
    async resolve(ref, platform, signal) {
      let src;
      try {
        src = await readSource({ kind: 'registry', ref }, { kind: 'platform', platform }, { client: () => opts.client, home: opts.home, scratch: async () => store.content, signal });
      } catch (err) {
        const local = err instanceof RegistryError && err.code.startsWith('REGISTRY_') ? await localImage(store, ref, platform) : undefined;
        if (local !== undefined) return local;
        throw err;
      }
      const image = src.node.image;
      if (image === undefined) throw new TransportError('MANIFEST_UNSUPPORTED', `${formatRef(ref)} is not a container image`, { ref: formatRef(ref) });
      const ctx = { concurrency: opts.concurrency ?? 4, emit: opts.onEvent ?? (() => {}), signal };
      const layers = new Map(image.layers.filter((l) => l.uncompressedSize === undefined).map((l) => [l.descriptor.digest, l.diffId]));
      const sizes = await stageBlobs(store.content, uniqueBlobs(src.node), 'downloaded', ctx, layers);
      await putManifests(store.content, src.node, ctx);
      return imageInStore(image, store.content, sizes);
    },
  };
}

async function localImage(store: LocalStore, ref: ImageRef, platform: Platform): Promise<Image | undefined> {
  const image = await store.resolve(formatRef(ref)).catch(() => undefined);
  if (image === undefined) return undefined;
  const c = image.config;
  const fits = c.os === platform.os && c.architecture === platform.architecture && (platform.variant === undefined || c.variant === platform.variant);
  return fits ? image : undefined;
}
