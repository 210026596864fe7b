import type { ContentStore } from '../content/index.ts';
import type { Digest } from '../digest/index.ts';
import { assembleImage, type BlobOrigin, type Image, type Layer, storeLayer } from '../image/index.ts';
import type { Platform } from '../oci/index.ts';
import { type ImageRef, formatRef } from '../ref/index.ts';
import { type RegistryClient, RegistryError } from '../registry/index.ts';
import { readSource } from './image-source.ts';
import { putManifests } from './layout-sink.ts';
import { LocalStore } from './local-store.ts';
import { type BlobSource, uniqueBlobs } from './manifest-node.ts';
import { stageBlobs, stageLayerReading, type TransferContext } from './stage-blobs.ts';
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
 *
 * The manifests and the config are fetched at once; each layer only when it
 * is first opened (so `COPY --from=<image>` of a file in the top layer
 * downloads that layer alone). Opening a layer downloads it whole into the
 * store (its diffID checked on the way) and reads it from there.
 */
export function storeResolver(opts: StoreResolverOptions): { resolve(ref: ImageRef, platform: Platform, signal?: AbortSignal): Promise<Image> } {
  const store = new LocalStore(opts.home);
  return {
    async resolve(ref, platform, signal) {
      let src;
      try {
        src = await readSource({ kind: 'registry', ref }, { kind: 'platform', platform }, { client: () => opts.client, home: opts.home, scratch: async () => store.content, signal, known: store.content });
      } catch (err) {
        const local = err instanceof RegistryError && err.code.startsWith('REGISTRY_') ? await localImage(store, ref, platform) : undefined;
        if (local !== undefined) return local;
        throw err;
      }
      const image = src.node.image;
      if (image === undefined) throw new TransportError('MANIFEST_UNSUPPORTED', `${formatRef(ref)} is not a container image`, { ref: formatRef(ref) });
      const ctx = { concurrency: opts.concurrency ?? 4, emit: opts.onEvent ?? (() => {}), signal };
      const layerDigests = new Set(image.layers.map((l) => l.descriptor.digest));
      const blobs = uniqueBlobs(src.node);
      await stageBlobs(store.content, blobs.filter((b) => !layerDigests.has(b.descriptor.digest)), 'downloaded', ctx);
      await putManifests(store.content, src.node, ctx);
      const sourceOf = new Map(blobs.map((b) => [b.descriptor.digest, b]));
      const origin: BlobOrigin = { registry: ref.registry, repository: ref.repository };
      const layers = image.layers.map((l) => fetchedOnOpen(l, sourceOf.get(l.descriptor.digest)!, store.content, ctx, origin));
      return assembleImage({ format: image.format, manifest: image.manifest, manifestBytes: image.manifestBytes, config: image.config, configBytes: image.configBytes, layers });
    },
  };
}

/**
 * A layer read from `store`, downloaded from `source` into it on the first
 * open (once, whoever opens it; a failed download is tried again on the
 * next open). Its uncompressed size becomes known when it was downloaded.
 * When the first open asks for the tar and the blob is not in the store
 * yet, the tar is read as the blob downloads (stageLayerReading); opens
 * meanwhile wait for the blob to be stored.
 */
export function fetchedOnOpen(layer: Pick<Layer, 'descriptor' | 'diffId' | 'uncompressedSize'>, source: BlobSource, store: ContentStore, ctx: TransferContext, origin?: BlobOrigin): Layer {
  const { descriptor, diffId } = layer;
  let size = layer.uncompressedSize;
  let fetching: Promise<void> | undefined;
  const settle = (p: Promise<void>): Promise<void> => {
    fetching = p.catch((err: unknown) => {
      fetching = undefined;
      throw err;
    });
    fetching.catch(() => {}); // a failed fetch is reported to whoever is reading; the next open tries again
    return fetching;
  };
  const fetch = (): Promise<void> =>
    fetching ?? settle(stageBlobs(store, [source], 'downloaded', ctx, new Map<Digest, Digest>([[descriptor.digest, diffId]])).then((sizes) => void (size ??= sizes.get(descriptor.digest))));
  const stored = (): Layer => storeLayer(store, size === undefined ? { descriptor, diffId } : { descriptor, diffId, uncompressedSize: size });
  return Object.freeze({
    descriptor,
    diffId,
    ...(origin !== undefined ? { origin } : {}),
    get uncompressedSize(): number | undefined {
      return size;
    },
    async open() {
      await fetch();
      return stored().open();
    },
    async openUncompressed() {
      const absent = fetching === undefined && (await store.stat(descriptor.digest))?.size !== descriptor.size;
      if (absent && fetching === undefined) { // again after the await: another open may have started the fetch meanwhile
        let done!: () => void;
        let failed!: (err: unknown) => void;
        settle(new Promise<void>((resolve, reject) => [done, failed] = [resolve, reject]));
        try {
          const tar = await stageLayerReading(store, source, diffId, ctx, (n) => {
            size ??= n;
            done();
          });
          tar.on('close', () => failed(new Error(`the first reader of layer ${descriptor.digest} stopped before the end`)));
          return tar;
        } catch (err) {
          failed(err);
          throw err;
        }
      }
      await fetch();
      return stored().openUncompressed();
    },
  });
}

async function localImage(store: LocalStore, ref: ImageRef, platform: Platform): Promise<Image | undefined> {
  const image = await store.resolve(formatRef(ref), platform).catch(() => undefined);
  if (image === undefined) return undefined;
  const c = image.config;
  const fits = c.os === platform.os && c.architecture === platform.architecture && (platform.variant === undefined || c.variant === platform.variant);
  return fits ? image : undefined;
}
