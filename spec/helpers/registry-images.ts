/**
 * Test kit: test images put INTO a registry by an independent tool. Small
 * seeded random images are written to disk by kiln's writers, then pushed
 * with `skopeo copy SOURCE docker://HOST/REPO:TAG`; a two-platform index
 * (linux/amd64 + linux/arm64) goes with `skopeo copy --all`. The source is
 * an OCI image layout (`oci:DIR:TAG`) for OCI-format images and skopeo's
 * `dir:` format for Docker-format ones: skopeo 1.9's `oci:` transport skips
 * index.json entries with Docker media types. Either way skopeo pushes the
 * manifest bytes unchanged, so the pushed digest is the one kiln computed.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContentStore } from '../../lib/content/index.ts';
import { type Digest, digestHex, sha256 } from '../../lib/digest/index.ts';
import type { Image, ImageFormat } from '../../lib/image/index.ts';
import { type Descriptor, type Index, MediaType, type Platform, canonicalJsonBytes } from '../../lib/oci/index.ts';
import { REF_NAME, writeOciLayout } from '../../lib/transport/index.ts';
import { type RandomImageOptions, randomImage } from './random-image.ts';
import type { RunningRegistry } from './registry.ts';
import { type SkopeoCreds, dockerRef, skopeoCopy } from './skopeo.ts';

/** An image written for skopeo to read. */
export interface LayoutImageInfo {
  dir: string;
  tag: string;
  /** skopeo's name for it: `oci:DIR:TAG` (OCI format) or `dir:DIR` (Docker format). */
  sourceRef: string;
  image: Image;
  manifestDigest: Digest;
}

/** A two-or-more-platform index written for skopeo to read (the index is what `tag` names). */
export interface LayoutIndexInfo {
  dir: string;
  tag: string;
  /** `oci:DIR:TAG` (OCI index) or `dir:DIR` (Docker manifest list). */
  sourceRef: string;
  indexDigest: Digest;
  indexBytes: Buffer;
  /** One per platform, in index order. */
  images: { platform: Platform; manifestDigest: Digest; image: Image }[];
}

export interface IndexOptions {
  seed?: number;
  layers?: number;
  format?: ImageFormat;
  /** Default linux/amd64 and linux/arm64. */
  platforms?: readonly Platform[];
}

export const INDEX_PLATFORMS: readonly Platform[] = [
  { architecture: 'amd64', os: 'linux' },
  { architecture: 'arm64', os: 'linux' },
];

/** Builds images in a throwaway content store and hands them to `use` (the store is removed afterwards). */
async function withScratchStore<T>(use: (store: ContentStore) => Promise<T>): Promise<T> {
  const root = await mkdtemp(join(tmpdir(), 'kiln-image-store-'));
  try {
    return await use(new ContentStore(root));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/**
 * Writes images in skopeo's `dir:` format (containers/image dir transport
 * 1.1): `version`, `manifest.json` (the list when `list` is given, else the
 * one image's manifest), `<hex>.manifest.json` per list instance, and every
 * blob in a file named by its hex digest.
 */
export async function writeSkopeoDir(dir: string, images: readonly Image[], list?: Buffer): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'version'), 'Directory Transport Version: 1.1\n');
  if (list === undefined && images.length !== 1) throw new Error('writeSkopeoDir: several images need a list');
  await writeFile(join(dir, 'manifest.json'), list ?? images[0]!.manifestBytes);
  for (const image of images) {
    if (list !== undefined) await writeFile(join(dir, `${digestHex(image.descriptor.digest)}.manifest.json`), image.manifestBytes);
    await writeFile(join(dir, digestHex(image.configDescriptor.digest)), image.configBytes);
    for (const layer of image.layers) {
      await pipeline(await layer.open(), createWriteStream(join(dir, digestHex(layer.descriptor.digest))));
    }
  }
}

/**
 * Writes a seeded random image (random-image.ts) at `dir` (missing or
 * empty) for skopeo: an OCI layout naming it `tag`, or a `dir:` folder for
 * Docker format.
 */
export async function writeRandomImage(dir: string, opts: RandomImageOptions & { tag?: string } = {}): Promise<LayoutImageInfo> {
  const tag = opts.tag ?? 'latest';
  return withScratchStore(async (store) => {
    const { image } = await randomImage(store, opts);
    if (image.format === 'docker') {
      await writeSkopeoDir(dir, [image]);
      return { dir, tag, sourceRef: `dir:${dir}`, image, manifestDigest: image.descriptor.digest };
    }
    await writeOciLayout(dir, [{ image, refName: tag }]);
    return { dir, tag, sourceRef: `oci:${dir}:${tag}`, image, manifestDigest: image.descriptor.digest };
  });
}

/**
 * Writes an index of one seeded random image per platform at `dir` for
 * skopeo. OCI format: an OCI layout holding the images' blobs, the index as
 * a blob, and index.json naming only the index (`tag`), which is how
 * `skopeo copy --all oci:DIR:TAG` finds it. Docker format: a manifest list
 * in a `dir:` folder.
 */
export async function writeRandomIndex(dir: string, opts: IndexOptions & { tag?: string } = {}): Promise<LayoutIndexInfo> {
  const tag = opts.tag ?? 'latest';
  const platforms = opts.platforms ?? INDEX_PLATFORMS;
  const format = opts.format ?? 'oci';
  return withScratchStore(async (store) => {
    const images: LayoutIndexInfo['images'] = [];
    for (const [i, platform] of platforms.entries()) {
      const { image } = await randomImage(store, { seed: (opts.seed ?? 1) * 100 + i, layers: opts.layers ?? 1, platform, format });
      images.push({ platform, manifestDigest: image.descriptor.digest, image });
    }
    const manifests: Descriptor[] = images.map(({ image, platform }) => {
      const { mediaType, digest, size } = image.descriptor;
      return { mediaType, digest, size, platform };
    });
    const mediaType = format === 'docker' ? MediaType.DockerManifestList : MediaType.OciIndex;
    const indexBytes = canonicalJsonBytes({ schemaVersion: 2, mediaType, manifests } satisfies Index);
    const indexDigest = sha256(indexBytes);
    if (format === 'docker') {
      await writeSkopeoDir(dir, images.map((i) => i.image), indexBytes);
      return { dir, tag, sourceRef: `dir:${dir}`, indexDigest, indexBytes, images };
    }
    await writeOciLayout(dir, images.map(({ image }) => ({ image })));
    await writeFile(join(dir, 'blobs', 'sha256', digestHex(indexDigest)), indexBytes);
    const top: Index = {
      schemaVersion: 2, mediaType: MediaType.OciIndex,
      manifests: [{ mediaType, digest: indexDigest, size: indexBytes.length, annotations: { [REF_NAME]: tag } }],
    };
    await writeFile(join(dir, 'index.json'), canonicalJsonBytes(top));
    return { dir, tag, sourceRef: `oci:${dir}:${tag}`, indexDigest, indexBytes, images };
  });
}

export interface PushOptions extends RandomImageOptions {
  /** Credentials for the push (default: the registry's first user when it needs auth). */
  creds?: SkopeoCreds;
  /** Where to keep the layout (default: a temp folder, removed after the push). */
  layoutDir?: string;
}

/** What a push put into the registry. */
export interface PushedImage extends Omit<LayoutImageInfo, 'dir' | 'sourceRef'> {
  /** `repo:tag` as pushed. */
  name: string;
  /** The manifest digest skopeo reports for the push (the registry's Docker-Content-Digest). */
  pushedDigest: Digest;
}

async function withLayoutDir<T>(given: string | undefined, use: (dir: string) => Promise<T>): Promise<T> {
  if (given !== undefined) return use(given);
  const parent = await mkdtemp(join(tmpdir(), 'kiln-push-'));
  try {
    return await use(join(parent, 'layout'));
  } finally {
    await rm(parent, { recursive: true, force: true });
  }
}

/** Builds a random image and pushes it to `reg` as `name` (`repo:tag`) with skopeo. */
export async function pushRandomImage(reg: RunningRegistry, name: string, opts: PushOptions = {}): Promise<PushedImage> {
  return withLayoutDir(opts.layoutDir, async (dir) => {
    const layout = await writeRandomImage(dir, { ...opts, tag: 'push' });
    const { digest } = await skopeoCopy(layout.sourceRef, dockerRef(reg, name), { registry: reg, destCreds: opts.creds });
    return { name, tag: layout.tag, image: layout.image, manifestDigest: layout.manifestDigest, pushedDigest: digest! };
  });
}

/** What {@link pushIndex} put into the registry. */
export interface PushedIndex extends Omit<LayoutIndexInfo, 'dir' | 'sourceRef'> {
  name: string;
  pushedDigest: Digest;
}

/** Builds a two-platform index and pushes it, with every image, to `reg` as `name` (`skopeo copy --all`). */
export async function pushIndex(reg: RunningRegistry, name: string, opts: IndexOptions & { creds?: SkopeoCreds; layoutDir?: string } = {}): Promise<PushedIndex> {
  return withLayoutDir(opts.layoutDir, async (dir) => {
    const layout = await writeRandomIndex(dir, { ...opts, tag: 'push' });
    const { digest } = await skopeoCopy(layout.sourceRef, dockerRef(reg, name), { registry: reg, destCreds: opts.creds, all: true });
    const { dir: _dir, sourceRef: _ref, ...rest } = layout;
    return { ...rest, name, pushedDigest: digest! };
  });
}

/** The manifest (or index) digest named by `tag` in the OCI layout at `dir`, read from its index.json. */
export async function layoutTagDigest(dir: string, tag: string): Promise<Digest> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as Index;
  const entry = index.manifests.find((d) => d.annotations?.[REF_NAME] === tag);
  if (entry === undefined) throw new Error(`${dir} has no image named ${tag}`);
  return entry.digest;
}
