/** Where a build's base images come from, and the names pulled bases keep. */
import type { BuildOptions } from '../build.ts';
import type { ImageResolver } from '../executor/index.ts';
import type { Image } from '../image/index.ts';
import { hostPlatform, normalizeArch, type Platform } from '../oci/index.ts';
import { formatRef, type ImageRef } from '../ref/index.ts';
import { LocalStore, storeResolver, type TransportEvent } from '../transport/index.ts';
import { BuildError } from './build-error.ts';

/** A base image this build took from a registry. */
export interface PulledBase {
  ref: ImageRef;
  image: Image;
}

/**
 * As `docker build` does, the base images a build pulled keep their names in
 * the local store (`kiln images` lists them), so the next build finds them
 * there without asking the registry; `--pull` asks again. Only images whose
 * every blob is in the store are named (a `COPY --from` image of which a few
 * layers were fetched is not).
 */
export async function keepPulledBases(store: LocalStore, pulled: readonly PulledBase[]): Promise<void> {
  const host = hostPlatform();
  for (const { ref, image } of onePerName(pulled)) {
    if (ref.tag === undefined && ref.digest !== undefined) continue; // by digest only: nothing to name
    const name = formatRef({ ...ref, digest: undefined });
    // Another platform's image (a multi-platform build's) never takes a name the store already gives an image.
    const foreign = image.config.os !== host.os || !sameArchitecture(image.config, host);
    if (foreign && (await store.resolveDescriptor(name).catch(() => undefined)) !== undefined) continue;
    const blobs = [image.configDescriptor, ...image.layers.map((l) => l.descriptor)];
    if (!(await Promise.all(blobs.map((b) => store.content.has(b.digest)))).every(Boolean)) continue;
    await store.putImage(image, [{ ...ref, digest: undefined }]);
  }
}

/** Architecture and variant equal once normalized (containerd's rules: `arm` is `arm/v7`, `arm64/v8` is `arm64`). */
function sameArchitecture(a: { architecture: string; variant?: string | undefined }, b: { architecture: string; variant?: string | undefined }): boolean {
  const x = normalizeArch(a.architecture, a.variant ?? '');
  const y = normalizeArch(b.architecture, b.variant ?? '');
  return x.architecture === y.architecture && x.variant === y.variant;
}

/**
 * A name points at one image: of a multi-platform build's pulls of one
 * name (busybox for amd64 and arm64), the one for this machine, else the first.
 */
function onePerName(pulled: readonly PulledBase[]): PulledBase[] {
  const host = hostPlatform();
  const byName = new Map<string, PulledBase>();
  for (const p of pulled) {
    const name = formatRef(p.ref);
    const kept = byName.get(name);
    const native = p.image.config.os === host.os && sameArchitecture(p.image.config, host);
    if (kept === undefined || (native && !sameArchitecture(kept.image.config, host))) byName.set(name, p);
  }
  return [...byName.values()];
}

/**
 * Base images as docker finds them: the local store first (by full reference
 * and platform), then the registry (pulled into the store, and named there
 * once the build succeeds: {@link keepPulledBases}); `--pull` asks the
 * registry first. Without a registry client, local only.
 */
export function baseResolver(store: LocalStore, opts: BuildOptions, pulled: PulledBase[]): ImageResolver {
  const emit = opts.onEvent ?? (() => {});
  const client = opts.registry;
  const remote = client && {
    resolve: async (ref: ImageRef, platform: Platform, signal?: AbortSignal) => {
      const onEvent = (event: TransportEvent): void => emit({ kind: 'transfer', direction: 'pull', ref: formatRef(ref), event });
      const image = await storeResolver({ client, home: opts.home, onEvent }).resolve(ref, platform, signal);
      pulled.push({ ref, image });
      return image;
    },
  };
  const stores = [store, ...(opts.baseStores ?? []).map((dir) => new LocalStore(dir))];
  const local = async (ref: ImageRef, platform: Platform) => {
    for (const s of stores) {
      // A multi-platform index in the store offers the platform's image, or none (then the registry is asked).
      const image = await s.resolve(formatRef(ref), platform).catch((err: unknown) => {
        if ((err as { code?: unknown }).code === 'PLATFORM_UNAVAILABLE') return undefined;
        throw err;
      });
      const c = image?.config;
      if (c && c.os === platform.os && sameArchitecture(c, platform)) return image;
    }
    return undefined;
  };
  return {
    resolve: async (ref, platform, signal) => {
      if (!opts.pull || remote === undefined) {
        const found = await local(ref, platform);
        if (found !== undefined) return found;
      }
      if (remote === undefined) {
        throw new BuildError('IMAGE_NOT_FOUND', `image ${formatRef(ref)} is not in the local store (pull it first: kiln pull ${formatRef(ref)})`, { ref: formatRef(ref) });
      }
      return remote.resolve(ref, platform, signal);
    },
  };
}
