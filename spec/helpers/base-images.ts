/**
 * Test kit: the offline base images (busybox, also named alpine, and the Go
 * toolchain image named golang:1.9-alpine) that testdata/base-images/
 * make-base-images.ts builds from Debian packages with kiln. The script
 * caches its outputs under testdata/fixtures/base-images and takes a lock,
 * so parallel test processes share one build; a cached run takes a fraction
 * of a second. Needs apt-get/dpkg (and root or a warm .deb cache).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { type Digest, parseDigest } from '../../lib/digest/index.ts';
import { type BaseImageName, type BaseImageRecord, OUT_DIR, SCRIPT_DIR, TOP, readStamp } from '../../testdata/base-images/stamp.ts';
import type { RunningRegistry } from './registry.ts';
import { type SkopeoCreds, dockerRef, skopeoCopy } from './skopeo.ts';

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
}

export interface BaseImages {
  busybox: BaseImage;
  golang: BaseImage;
  /** Shorthands for `busybox.layout` and `golang.layout`. */
  busyboxLayout: string;
  goLayout: string;
  /** The folder holding both layouts and stamp.json. */
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
  };
}

/** The images described by the stamp in `outDir` (default testdata/fixtures/base-images); throws when there is none. */
export function readBaseImages(outDir: string = OUT_DIR): BaseImages {
  const stamp = readStamp(outDir);
  if (stamp === undefined) throw new Error(`no complete base images in ${outDir}: run ${MAKE_BASE_IMAGES}`);
  const busybox = toBaseImage(outDir, stamp.images.busybox);
  const golang = toBaseImage(outDir, stamp.images.golang);
  return { busybox, golang, busyboxLayout: busybox.layout, goLayout: golang.layout, outDir };
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
