/**
 * Test kit: the offline base images (busybox, also named alpine, and the Go
 * toolchain image named golang:1.9-alpine, plus an arm64 busybox and the
 * two-platform busybox index) that testdata/base-images/
 * make-base-images.ts builds from Debian packages with kiln. The script
 * caches its outputs under testdata/fixtures/base-images and takes a lock,
 * so parallel test processes share one build; a cached run takes a fraction
 * of a second. Needs apt-get/dpkg (and root or a warm .deb cache).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { type Digest, parseDigest } from '../../lib/digest/index.ts';
import {
  type BaseImageName, type BaseImageRecord, type BaseIndexRecord, type ImagePlatform, OUT_DIR, SCRIPT_DIR, type Stamp, TOP, readStamp,
} from '../../testdata/base-images/stamp.ts';
import type { RunningRegistry } from './registry.ts';
import { type SkopeoCreds, dockerRef, skopeoCopy } from './skopeo.ts';

export type { ImagePlatform } from '../../testdata/base-images/stamp.ts';

export const MAKE_BASE_IMAGES = join(SCRIPT_DIR, 'make-base-images.ts');

/** One base image as the script left it. */
export interface BaseImage {
  name: BaseImageName;
  /** Its OCI image layout folder (this image only). */
  layout: string;
  /** `oci:LAYOUT:REF`, for skopeo and `kiln copy`. */
  ociRef: string;
  /** Local-store names (`busybox:latest`, `alpine:latest`; `golang:1.9-alpine`). */
  tags: readonly string[];
  /** Registry repository:tag names (`library/busybox:latest`, …). */
  registryNames: readonly string[];
  manifestDigest: Digest;
  /** The image ID. */
  configDigest: Digest;
  /** Manifest + config + gzip layers, in bytes. */
  compressedSize: number;
  /** The uncompressed layer tars, in bytes. */
  uncompressedSize: number;
  /** SOURCE_DATE_EPOCH of the build (every mtime in the image). */
  epoch: number;
  /** As its config states it: linux/amd64, or linux/arm64 for busyboxArm64 (no variant). */
  platform: ImagePlatform;
}

/** A multi-platform image: an OCI image index in a layout of its own that also holds every blob of its images. */
export interface BaseImageIndex {
  /** Its OCI image layout folder. */
  layout: string;
  /** `oci:LAYOUT:REF`, for `skopeo copy --all` and `kiln copy --all-platforms`. */
  ociRef: string;
  /** The index's digest (the bytes of its blob). */
  digest: Digest;
  /** Registry repository:tag names it is pushed under by {@link pushMultiPlatformBaseImages}. */
  registryNames: readonly string[];
  /** Its entries in index order: each platform and the manifest digest of the single-platform image there. */
  platforms: readonly { platform: ImagePlatform; manifestDigest: Digest }[];
}

export interface BaseImages {
  busybox: BaseImage;
  golang: BaseImage;
  /** busybox for linux/arm64: the arm64 binary of the same Debian version, the same tree (local-store tag busybox:arm64). */
  busyboxArm64: BaseImage;
  /** busybox for linux/amd64 and linux/arm64 (the manifests of `busybox` and `busyboxArm64`), ref `latest`. */
  busyboxIndex: BaseImageIndex;
  /** Shorthands for `busybox.layout` and `golang.layout`. */
  busyboxLayout: string;
  goLayout: string;
  /** The folder holding the layouts and stamp.json. */
  outDir: string;
}

export interface ScriptRun {
  stderr: string;
  /** Wall time of the run, milliseconds (for reports, never for assertions). */
  ms: number;
}

/** Runs make-base-images.ts with `args` in a child process; rejects with its stderr when it fails. */
export function runMakeBaseImages(args: readonly string[] = []): Promise<ScriptRun> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', MAKE_BASE_IMAGES, ...args], { cwd: TOP, encoding: 'utf8', maxBuffer: 64 << 20 }, (err, _stdout, stderr) => {
      if (err !== null) reject(new Error(`make-base-images.ts ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve({ stderr, ms: Date.now() - started });
    });
  });
}

function toBaseImage(outDir: string, r: BaseImageRecord): BaseImage {
  const layout = join(outDir, r.layout);
  return {
    name: r.name,
    layout,
    ociRef: `oci:${layout}:${r.layoutRef}`,
    tags: r.tags,
    registryNames: r.registryNames,
    manifestDigest: parseDigest(r.manifestDigest),
    configDigest: parseDigest(r.configDigest),
    compressedSize: r.compressedSize,
    uncompressedSize: r.uncompressedSize,
    epoch: r.epoch,
    platform: r.platform,
  };
}

function toBaseImageIndex(outDir: string, r: BaseIndexRecord): BaseImageIndex {
  const layout = join(outDir, r.layout);
  return {
    layout,
    ociRef: `oci:${layout}:${r.layoutRef}`,
    digest: parseDigest(r.digest),
    registryNames: r.registryNames,
    platforms: r.manifests.map((m) => ({ platform: m.platform, manifestDigest: parseDigest(m.manifestDigest) })),
  };
}

/** The images described by the stamp in `outDir` (default testdata/fixtures/base-images); throws when there is none or it predates the arm64 images. */
export function readBaseImages(outDir: string = OUT_DIR): BaseImages {
  const stamp: Partial<Stamp> | undefined = readStamp(outDir);
  const stale = `run ${MAKE_BASE_IMAGES}`;
  if (stamp === undefined) throw new Error(`no complete base images in ${outDir}: ${stale}`);
  const arm64 = stamp.images?.['busybox-arm64'];
  const index = stamp.indexes?.['busybox-multi'];
  if (stamp.images === undefined || arm64 === undefined || index === undefined) throw new Error(`the base images in ${outDir} predate busybox-arm64 and busybox-multi: ${stale}`);
  const busybox = toBaseImage(outDir, stamp.images.busybox);
  const golang = toBaseImage(outDir, stamp.images.golang);
  return { busybox, golang, busyboxArm64: toBaseImage(outDir, arm64), busyboxIndex: toBaseImageIndex(outDir, index), busyboxLayout: busybox.layout, goLayout: golang.layout, outDir };
}

let ensured: Promise<BaseImages> | undefined;

/** Builds the base images if the cache is stale (once per process) and describes them. */
export function ensureBaseImages(): Promise<BaseImages> {
  ensured ??= runMakeBaseImages().then(() => readBaseImages());
  return ensured;
}

/**
 * Puts the base images into the local store at `kilnHome` under their tags
 * (busybox:latest, alpine:latest, golang:1.9-alpine), with `kiln copy`;
 * names the store already has are left alone.
 */
export async function loadBaseImages(kilnHome: string): Promise<BaseImages> {
  const images = await ensureBaseImages();
  await runMakeBaseImages(['--home', kilnHome]);
  return images;
}

/**
 * Puts the arm64 busybox into the local store at `kilnHome` as
 * `busybox:arm64` (`kiln copy`; left alone when the store already has it).
 * Its tag is its own, so `busybox:latest` stays the amd64 image.
 */
export async function loadArm64BaseImage(kilnHome: string): Promise<BaseImage> {
  const images = await ensureBaseImages();
  await runMakeBaseImages(['--home', kilnHome, '--load', 'busybox-arm64']);
  return images.busyboxArm64;
}

/** What {@link pushBaseImages} pushed: registry name (`library/busybox:latest`) → manifest digest. */
export type PushedBaseImages = Map<string, Digest>;

/**
 * Pushes each base image to `registry` under its Docker Hub names
 * (`library/busybox:latest`, `library/alpine:latest`,
 * `library/golang:1.9-alpine`) with skopeo, so `FROM busybox` resolves
 * through `--registry-mirror docker.io=<registry.url>`. Throws unless the
 * registry received the very manifest kiln built (same digest).
 */
export async function pushBaseImages(registry: RunningRegistry, opts: { creds?: SkopeoCreds } = {}): Promise<PushedBaseImages> {
  const images = await ensureBaseImages();
  const pushed: PushedBaseImages = new Map();
  for (const image of [images.busybox, images.golang]) {
    for (const name of image.registryNames) {
      const { digest } = await skopeoCopy(image.ociRef, dockerRef(registry, name), { registry, destCreds: opts.creds });
      if (digest !== image.manifestDigest) throw new Error(`pushing ${name}: the registry got ${digest}, kiln built ${image.manifestDigest}`);
      pushed.set(name, digest);
    }
  }
  return pushed;
}

/**
 * Like {@link pushBaseImages}, with busybox as a multi-platform image: the
 * two-platform index (linux/amd64, linux/arm64) goes up whole
 * (`skopeo copy --all`) under `library/busybox:latest` and
 * `library/alpine:latest`, golang as a single image under
 * `library/golang:1.9-alpine`. Resolves with name → the digest the registry
 * got (the index's for busybox and alpine); throws unless every one is the
 * very digest the script wrote. Opt-in: tests that compare single-manifest
 * digests of `FROM busybox` use pushBaseImages.
 */
export async function pushMultiPlatformBaseImages(registry: RunningRegistry, opts: { creds?: SkopeoCreds } = {}): Promise<PushedBaseImages> {
  const images = await ensureBaseImages();
  const pushed: PushedBaseImages = new Map();
  const uploads: { ref: string; names: readonly string[]; expected: Digest; all: boolean }[] = [
    { ref: images.busyboxIndex.ociRef, names: images.busyboxIndex.registryNames, expected: images.busyboxIndex.digest, all: true },
    { ref: images.golang.ociRef, names: images.golang.registryNames, expected: images.golang.manifestDigest, all: false },
  ];
  for (const { ref, names, expected, all } of uploads) {
    for (const name of names) {
      const { digest } = await skopeoCopy(ref, dockerRef(registry, name), { registry, destCreds: opts.creds, all });
      if (digest !== expected) throw new Error(`pushing ${name}: the registry got ${digest}, the script wrote ${expected}`);
      pushed.set(name, digest);
    }
  }
  return pushed;
}
