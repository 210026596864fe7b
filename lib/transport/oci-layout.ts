import { randomUUID } from 'node:crypto';
import { open, readFile, rename, rmdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ContentStore } from '../content/index.ts';
import { MAX_JSON_BLOB } from '../image/index.ts';
import { type Index, canonicalJsonBytes, parseIndex, parseLayoutHeader } from '../oci/index.ts';
import { checkWritableDir, destKind, writeDirAtomic } from './atomic-output.ts';
import { copyImageBlobs } from './copy-image-blobs.ts';
import { type LayoutImage, layoutIndex } from './layout-index.ts';
import { TransportError, unwritable, writeFailed } from './transport-error.ts';

export const LAYOUT_HEADER = canonicalJsonBytes({ imageLayoutVersion: '1.0.0' });

/**
 * Writes `images` as an OCI image layout at `dir`: `oci-layout`,
 * `index.json` listing every image (named by `org.opencontainers.image.ref.name`
 * when `refName` is given) and `blobs/sha256/*`.
 *
 * Atomicity: when `dir` does not exist (or is an empty directory) the whole
 * layout is built in a temp directory next to it and renamed into place. When
 * `dir` already is an OCI layout, the images are added to it, as skopeo's
 * `oci:` transport does: blobs go in first (each one atomically), then
 * `index.json` is replaced atomically, moving any name given again. Either
 * way a failure leaves `dir` as it was (at most unreferenced blobs remain in
 * an existing layout). Throws OUTPUT_UNWRITABLE when `dir` cannot be written
 * or is something other than a layout or an empty directory.
 */
export async function writeOciLayout(dir: string, images: readonly LayoutImage[]): Promise<void> {
  const index = layoutIndex(images); // validates names before touching the disk
  const kind = await destKind(dir);
  if (kind === 'missing' || kind === 'empty-dir') {
    await writeDirAtomic(dir, async (tmp) => {
      await fillLayout(tmp, images);
      await writeNew(join(tmp, 'index.json'), canonicalJsonBytes(index));
      await writeNew(join(tmp, 'oci-layout'), LAYOUT_HEADER);
    });
    return;
  }
  if (kind === 'other' || !(await isLayout(dir))) {
    throw unwritable(dir, undefined, 'it exists and is not an OCI image layout or an empty directory');
  }
  await checkWritableDir(dir);
  try {
    const base = await readLayoutIndex(dir);
    await fillLayout(dir, images);
    await replaceFile(join(dir, 'index.json'), canonicalJsonBytes(layoutIndex(images, base)));
  } catch (err) {
    throw writeFailed(dir, err);
  }
}

/** Reads and validates `index.json` of the layout at `dir` (at most MAX_JSON_BLOB bytes, as every JSON document kiln reads); throws LAYOUT_INVALID. */
export async function readLayoutIndex(dir: string): Promise<Index> {
  const file = join(dir, 'index.json');
  const size = (await stat(file).catch(() => undefined))?.size ?? 0;
  if (size > MAX_JSON_BLOB) throw new TransportError('LAYOUT_INVALID', `${file} is larger than ${MAX_JSON_BLOB} bytes`, { path: dir });
  try {
    return parseIndex(await readFile(file));
  } catch (cause) {
    throw new TransportError('LAYOUT_INVALID', `${dir} has no valid index.json`, { cause, path: dir });
  }
}

/** True when `dir` holds a valid `oci-layout` file. */
export async function isLayout(dir: string): Promise<boolean> {
  try {
    parseLayoutHeader(await readFile(join(dir, 'oci-layout')));
    return true;
  } catch {
    return false;
  }
}

async function fillLayout(dir: string, images: readonly LayoutImage[]): Promise<void> {
  const store = new ContentStore(dir);
  for (const { image } of images) await copyImageBlobs(store, image);
  // The store's private temp folder is empty after successful puts; a
  // concurrent writer may still use it, so a failed rmdir is fine.
  await rmdir(join(dir, '.kiln-tmp')).catch(() => undefined);
}

/** Creates `path` (which must not exist) with `bytes`, fsynced. */
export async function writeNew(path: string, bytes: Buffer): Promise<void> {
  const fh = await open(path, 'wx', 0o644);
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Replaces `path` with `bytes` atomically (temp file in the same folder, fsync, rename). */
export async function replaceFile(path: string, bytes: Buffer): Promise<void> {
  const tmp = `${path}.kiln-tmp-${process.pid}-${randomUUID()}`;
  try {
    await writeNew(tmp, bytes);
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

