import { randomUUID } from 'node:crypto';
import { type FileHandle, access, constants, lstat, mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TransportError, unwritable, writeFailed } from './transport-error.ts';

/** A temp name next to `dest`, on the same file system, hidden and unique. */
export function siblingTemp(dest: string): string {
  return join(dirname(dest), `.${basename(dest)}.kiln-tmp-${randomUUID()}`);
}

/**
 * Writes the bytes of `source` to the file `dest` atomically: they go to a
 * temp file next to `dest`, are fsynced, and the temp file is renamed over
 * `dest` only when everything succeeded. On failure the temp file is removed
 * and `dest` is untouched. `source` is consumed (destroyed on failure).
 * Throws OUTPUT_UNWRITABLE when `dest` cannot be created or replaced.
 */
export async function writeFileAtomic(dest: string, source: Readable): Promise<void> {
  await checkFileDest(dest);
  const tmp = siblingTemp(dest);
  let fh;
  try {
    fh = await open(tmp, 'wx', 0o644);
  } catch (err) {
    source.destroy();
    throw unwritable(dest, err);
  }
  try {
    const file = fh;
    const sink = new Writable({
      highWaterMark: 1024 * 1024,
      write(chunk: Buffer, _enc, cb) {
        writeAll(file, chunk).then(() => cb(), (err: unknown) => cb(writeFailed(dest, err) as Error));
      },
    });
    await pipeline(source, sink);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await renameInto(tmp, dest);
  } catch (err) {
    source.destroy();
    await fh?.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw writeFailed(dest, err);
  }
}

/**
 * Creates the directory `dest` atomically: `build` fills a temp directory
 * next to it, which is then renamed to `dest`. `dest` must not exist or be an
 * empty directory (rename replaces an empty directory atomically). On failure
 * the temp directory is removed. Throws OUTPUT_UNWRITABLE when `dest` cannot
 * be created.
 */
export async function writeDirAtomic(dest: string, build: (tmpDir: string) => Promise<void>): Promise<void> {
  await checkParent(dest);
  const tmp = siblingTemp(dest);
  try {
    await mkdir(tmp, { mode: 0o755 });
  } catch (err) {
    throw unwritable(dest, err);
  }
  try {
    await build(tmp);
    await renameInto(tmp, dest);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw writeFailed(dest, err);
  }
}

/** What is at `path`: nothing, an empty directory, a non-empty directory, or something else. */
export async function destKind(path: string): Promise<'missing' | 'empty-dir' | 'dir' | 'other'> {
  let s;
  try {
    s = await lstat(path);
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return 'missing';
    throw unwritable(path, err);
  }
  if (!s.isDirectory()) return 'other';
  return (await readdir(path)).length === 0 ? 'empty-dir' : 'dir';
}

/** OUTPUT_UNWRITABLE unless the existing directory `dir` accepts new files. */
export async function checkWritableDir(dir: string): Promise<void> {
  try {
    await access(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw unwritable(dir, err);
  }
}

async function checkFileDest(dest: string): Promise<void> {
  await checkParent(dest);
  const s = await lstat(dest).catch(() => undefined);
  if (s?.isDirectory()) throw unwritable(dest, undefined, 'it is a directory');
}

async function checkParent(dest: string): Promise<void> {
  const parent = dirname(dest);
  const s = await stat(parent).catch((err: unknown) => {
    throw unwritable(dest, err, `its directory ${parent} does not exist or cannot be read`);
  });
  if (!s.isDirectory()) throw unwritable(dest, undefined, `${parent} is not a directory`);
  await checkWritableDir(parent).catch((err: unknown) => {
    throw err instanceof TransportError ? unwritable(dest, err.cause) : err;
  });
}

async function renameInto(tmp: string, dest: string): Promise<void> {
  try {
    await rename(tmp, dest);
  } catch (err) {
    throw unwritable(dest, err);
  }
  await syncDir(dirname(dest)).catch(() => undefined);
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes all of `chunk` (a write may be short). */
async function writeAll(fh: FileHandle, chunk: Buffer): Promise<void> {
  for (let off = 0; off < chunk.length; ) {
    const { bytesWritten } = await fh.write(chunk, off, chunk.length - off);
    off += bytesWritten;
  }
}

/**
 * Checks, before any work is done, that an output can be written at `dest`
 * (its directory exists and is writable; a file output is not a directory).
 * Throws OUTPUT_UNWRITABLE; writes nothing.
 */
export async function preflightOutput(dest: string, kind: 'file' | 'dir'): Promise<void> {
  if (kind === 'file') await checkFileDest(dest);
  else await checkParent(dest);
}
