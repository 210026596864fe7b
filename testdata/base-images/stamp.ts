/**
 * Where make-base-images.ts leaves its outputs and the stamp that describes
 * them. The stamp is written last, so a stamp whose key matches means the
 * layouts next to it are complete. Also read by spec/helpers/base-images.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** testdata/base-images: the committed inputs. */
export const SCRIPT_DIR = dirname(fileURLToPath(import.meta.url));
export const TOP = resolve(SCRIPT_DIR, '..', '..');
/** testdata/fixtures (gitignored). */
export const FIXTURES = join(TOP, 'testdata', 'fixtures');
export const DEBS_DIR = join(FIXTURES, 'debs');
/** apt's own lists and cache for arm64 packages, apart from the system's /var/lib/apt and /var/cache/apt. */
export const APT_ARM64_DIR = join(FIXTURES, 'apt-arm64');
/** Default output folder: one OCI layout per image, and stamp.json. */
export const OUT_DIR = join(FIXTURES, 'base-images');
export const STAMP_FILE = 'stamp.json';

export type BaseImageName = 'busybox' | 'golang' | 'busybox-arm64';
/** Multi-platform images: an OCI image index over single-platform images above. */
export type BaseIndexName = 'busybox-multi';

/** An image's platform as its config states it (`variant` only when the config has one). */
export interface ImagePlatform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface BaseImageRecord {
  name: BaseImageName;
  /** Folder name of its OCI layout inside the output folder. */
  layout: string;
  /** The image's `org.opencontainers.image.ref.name` in that layout (skopeo's `oci:DIR:REF`). */
  layoutRef: string;
  /** Local-store names it gets (the first one also names it in the layout). */
  tags: string[];
  /** Names it gets in a registry (Docker Hub's `library/` spelling). */
  registryNames: string[];
  manifestDigest: string;
  /** The image ID. */
  configDigest: string;
  /** SOURCE_DATE_EPOCH of the build: every mtime in the image and `created`. */
  epoch: number;
  /** Manifest + config + compressed layers, in bytes. */
  compressedSize: number;
  /** Sum of the uncompressed layer tars, in bytes. */
  uncompressedSize: number;
  /** Entries in the root filesystem tar given to `ADD`. */
  rootfsEntries: number;
  /** From the image config (added with busybox-arm64; stamps written before lack it). */
  platform: ImagePlatform;
}

export interface BaseIndexRecord {
  name: BaseIndexName;
  /** Folder name of its OCI layout inside the output folder: the index, and every blob of its images. */
  layout: string;
  /** The index's `org.opencontainers.image.ref.name` in that layout. */
  layoutRef: string;
  /** Names it gets in a registry when pushed whole (`skopeo copy --all`). */
  registryNames: string[];
  /** The index blob's digest and size. */
  digest: string;
  size: number;
  /** Its entries in order: which image, that image's manifest digest, and the platform the entry names. */
  manifests: { image: BaseImageName; manifestDigest: string; platform: ImagePlatform }[];
}

export interface Stamp {
  /** sha256 over the scripts, Dockerfiles, account files and the .debs' names and sha256s. */
  key: string;
  debs: { file: string; sha256: string; size: number; mtimeMs: number }[];
  images: Record<BaseImageName, BaseImageRecord>;
  indexes: Record<BaseIndexName, BaseIndexRecord>;
  /** Milliseconds the last full build took. */
  buildMs: number;
}

/** The stamp in `outDir`, or undefined when there is none or a layout it names is missing (a stamp from before `indexes` may lack them). */
export function readStamp(outDir: string = OUT_DIR): Stamp | undefined {
  const path = join(outDir, STAMP_FILE);
  if (!existsSync(path)) return undefined;
  const stamp = JSON.parse(readFileSync(path, 'utf8')) as Stamp;
  const layouts = [...Object.values(stamp.images), ...Object.values(stamp.indexes ?? {})].map((r) => r.layout);
  for (const layout of layouts) if (!existsSync(join(outDir, layout, 'index.json'))) return undefined;
  return stamp;
}
