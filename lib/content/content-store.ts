import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KilnError } from '../errors.ts';
import { type Digest, Sha256, VerifyingStream, digestAlgorithm, digestHex, sha256 } from '../digest/index.ts';

/**
 * Failures of the content store. Codes: BLOB_NOT_FOUND, BLOB_TOO_LARGE,
 * DIGEST_MISMATCH, SIZE_MISMATCH, DIGEST_UNSUPPORTED, STORE_IO.
 */
export class ContentError extends KilnError {}

/** What {@link ContentStore.put} stored. */
export interface PutResult {
  digest: Digest;
  size: number;
}

const READ_CHUNK = 1024 * 1024;
// Blobs are never modified in place; read-only files also stop a hardlinked
// copy (an exported layout) from being edited through the store's inode.
const BLOB_MODE = 0o444;

/**
 * A content-addressed store laid out as an OCI image layout's `blobs/`:
 * the blob named `sha256:<hex>` lives at `<root>/blobs/sha256/<hex>`.
 *
 * Contract (after umoci's `oci/cas`):
 * - A blob file only ever holds bytes whose digest is its name: `put` hashes
 *   while streaming into a private temp file (`<root>/.kiln-tmp/`, the same
 *   filesystem), fsyncs it and renames it into place only if the bytes match
 *   what was expected. Rename is atomic, so readers see all or nothing.
 * - `put` is idempotent and safe to run concurrently for the same blob: each
 *   writer has its own temp file and the renames replace identical bytes.
 * - Reads verify: `open` returns a stream that fails with DIGEST_MISMATCH or
 *   SIZE_MISMATCH at its end if the file was corrupted behind the store's back.
 * - Streams: `put` consumes its `body` to the end and destroys it on failure;
 *   the caller owns (and must consume or destroy) streams returned by `open`.
 * - Only sha256 is written; other algorithms are rejected with DIGEST_UNSUPPORTED.
 */
export class ContentStore {
  readonly root: string;
  readonly #tmp: string;

  constructor(root: string) {
    this.root = root;
    this.#tmp = join(root, '.kiln-tmp');
  }

  /** The file that holds (or would hold) blob `d`. For hardlinking or copying out; never write to it. */
  path(d: Digest): string {
    // A parsed Digest has no '/' or '..' in either part, so this stays under root.
    return join(this.root, 'blobs', digestAlgorithm(d), digestHex(d));
  }

  /** True when the store holds blob `d`. */
  async has(d: Digest): Promise<boolean> {
    return (await this.stat(d)) !== undefined;
  }

  /** The size of blob `d`, or undefined when the store does not hold it. */
  async stat(d: Digest): Promise<{ size: number } | undefined> {
    try {
      const s = await stat(this.path(d));
      return s.isFile() ? { size: s.size } : undefined;
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return undefined;
      throw ioError(`cannot stat blob ${d}`, err, d);
    }
  }

  /**
   * Opens blob `d` for reading. Throws BLOB_NOT_FOUND when it is missing and
   * SIZE_MISMATCH when `expect.size` disagrees with the file. The returned
   * stream emits 'error' (DIGEST_MISMATCH / SIZE_MISMATCH) instead of 'end'
   * when the bytes read do not hash to `d`. The caller must consume or destroy it.
   */
  async open(d: Digest, expect: { size?: number } = {}): Promise<Readable> {
    assertSha256(d);
    const info = await this.stat(d);
    if (info === undefined) throw new ContentError('BLOB_NOT_FOUND', `blob ${d} is not in the store`, { digest: d });
    if (expect.size !== undefined && info.size !== expect.size) {
      throw new ContentError('SIZE_MISMATCH', `blob ${d} is ${info.size} bytes, expected ${expect.size}`, { digest: d });
    }
    const file = createReadStream(this.path(d), { highWaterMark: READ_CHUNK });
    const verify = new StoreVerifyingStream({ digest: d, size: info.size });
    file.on('error', (err) => verify.destroy(ioError(`cannot read blob ${d}`, err, d)));
    verify.on('close', () => file.destroy());
    return file.pipe(verify);
  }

  /** Reads a whole blob into memory, verified. Throws BLOB_TOO_LARGE beyond `maxSize` bytes. */
  async readBytes(d: Digest, maxSize: number): Promise<Buffer> {
    assertSha256(d);
    const info = await this.stat(d);
    if (info === undefined) throw new ContentError('BLOB_NOT_FOUND', `blob ${d} is not in the store`, { digest: d });
    if (info.size > maxSize) {
      throw new ContentError('BLOB_TOO_LARGE', `blob ${d} is ${info.size} bytes, more than the ${maxSize} allowed here`, { digest: d });
    }
    let bytes: Buffer;
    try {
      bytes = await readFile(this.path(d));
    } catch (err) {
      throw ioError(`cannot read blob ${d}`, err, d);
    }
    const actual = sha256(bytes);
    if (actual !== d) throw new ContentError('DIGEST_MISMATCH', `blob ${d} in the store hashes to ${actual}`, { digest: d, actual });
    return bytes;
  }

  /**
   * Streams `body` into the store and returns its digest and size. When
   * `expect` is given and the bytes differ (digest, or size — overruns stop
   * the copy early), nothing is stored and DIGEST_MISMATCH / SIZE_MISMATCH is
   * thrown. Always reads and verifies `body`, even when the blob is already
   * present (call {@link has} first to skip a transfer).
   */
  async put(body: Readable, expect: { digest?: Digest; size?: number } = {}): Promise<PutResult> {
    if (expect.digest !== undefined) assertSha256(expect.digest);
    await this.#ensureDirs();
    const tmp = join(this.#tmp, `${process.pid}-${randomUUID()}.partial`);
    try {
      const got = await writeHashed(body, tmp, expect);
      checkExpected(got, expect);
      await this.#commit(tmp, got.digest);
      return got;
    } catch (err) {
      body.destroy();
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
  }

  /** {@link put} for bytes already in memory. */
  async putBytes(bytes: Uint8Array, expect: { digest?: Digest; size?: number } = {}): Promise<PutResult> {
    const got = { digest: sha256(bytes), size: bytes.length };
    checkExpected(got, expect);
    if (await this.#hasSize(got.digest, got.size)) return got;
    await this.#ensureDirs();
    const tmp = join(this.#tmp, `${process.pid}-${randomUUID()}.partial`);
    try {
      const fh = await open(tmp, 'wx', BLOB_MODE);
      try {
        await fh.writeFile(bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.#commit(tmp, got.digest);
      return got;
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err instanceof ContentError ? err : ioError(`cannot store blob ${got.digest}`, err, got.digest);
    }
  }

  async #hasSize(d: Digest, size: number): Promise<boolean> {
    return (await this.stat(d))?.size === size;
  }

  /**
   * Moves a verified temp file into place. Renaming over an existing copy is
   * atomic and harmless (same bytes), so concurrent writers need no lock.
   */
  async #commit(tmp: string, d: Digest): Promise<void> {
    const dir = join(this.root, 'blobs', digestAlgorithm(d));
    try {
      await mkdir(dir, { recursive: true });
      await rename(tmp, this.path(d));
      await syncDir(dir);
    } catch (err) {
      throw ioError(`cannot store blob ${d}`, err, d);
    }
  }

  // Not memoized: someone may remove the temp folder between calls (an
  // exported layout drops it), and two mkdir calls cost next to nothing.
  async #ensureDirs(): Promise<void> {
    try {
      await mkdir(this.#tmp, { recursive: true });
      await mkdir(join(this.root, 'blobs', 'sha256'), { recursive: true });
    } catch (err) {
      throw ioError(`cannot create the content store at ${this.root}`, err);
    }
  }
}

/** Copies `body` into a new file at `tmp` while hashing; stops early on a size overrun. */
async function writeHashed(body: Readable, tmp: string, expect: { digest?: Digest; size?: number }): Promise<PutResult> {
  const hash = new Sha256();
  let fh;
  try {
    fh = await open(tmp, 'wx', BLOB_MODE);
  } catch (err) {
    throw ioError(`cannot create a temp file in the content store`, err);
  }
  try {
    const file = fh;
    const sink = new Writable({
      highWaterMark: READ_CHUNK,
      // Chunks that arrive while a write is in flight are written together
      // by one writev: one thread-pool round trip for many socket reads.
      writev(entries: { chunk: Buffer }[], cb) {
        const chunks = entries.map((e) => e.chunk);
        for (const chunk of chunks) hash.update(chunk);
        if (expect.size !== undefined && hash.size > expect.size) {
          cb(sizeError(expect, hash.size, true));
          return;
        }
        writeAllv(file, chunks).then(() => cb(), cb);
      },
    });
    await pipeline(body, sink);
    await fh.sync();
  } catch (err) {
    if (err instanceof KilnError) throw err;
    throw ioError('cannot write blob to the content store', err, expect.digest);
  } finally {
    await fh.close();
  }
  return { digest: hash.digest(), size: hash.size };
}

function checkExpected(got: PutResult, expect: { digest?: Digest; size?: number }): void {
  if (expect.size !== undefined && got.size !== expect.size) throw sizeError(expect, got.size);
  if (expect.digest !== undefined && got.digest !== expect.digest) {
    throw new ContentError('DIGEST_MISMATCH', `content hashes to ${got.digest}, expected ${expect.digest}`, {
      digest: expect.digest,
      actual: got.digest,
    });
  }
}

function sizeError(expect: { digest?: Digest; size?: number }, actual: number, early = false): ContentError {
  const what = expect.digest ?? 'content';
  const message = early ? `${what} is longer than ${expect.size} bytes` : `${what} is ${actual} bytes, expected ${expect.size}`;
  return new ContentError('SIZE_MISMATCH', message, { digest: expect.digest, actual });
}

function assertSha256(d: Digest): void {
  if (digestAlgorithm(d) !== 'sha256') {
    throw new ContentError('DIGEST_UNSUPPORTED', `the content store only holds sha256 blobs, not ${d}`, { digest: d });
  }
}

/** The store's read verifier, with failures re-typed as ContentError so one family reaches callers. */
class StoreVerifyingStream extends VerifyingStream {
  override _transform(chunk: Buffer, enc: BufferEncoding, cb: TransformCallback): void {
    super._transform(chunk, enc, (err, data) => (err ? cb(retype(err)) : cb(null, data)));
  }

  override _flush(cb: TransformCallback): void {
    super._flush((err) => cb(err ? retype(err) : undefined));
  }
}

function retype(err: Error): Error {
  if (err instanceof KilnError && !(err instanceof ContentError)) {
    return new ContentError(err.code, err.message, { ...err.fields, cause: err });
  }
  return err;
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

function ioError(message: string, cause: unknown, digest?: Digest): ContentError {
  const reason = cause instanceof Error ? `: ${cause.message}` : '';
  return new ContentError('STORE_IO', `${message}${reason}`, { cause, digest });
}

/** Writes all of `chunks`, in order (a writev may be short). */
async function writeAllv(fh: FileHandle, chunks: Buffer[]): Promise<void> {
  let rest = chunks;
  while (rest.length > 0) {
    let { bytesWritten } = await fh.writev(rest);
    while (rest.length > 0 && bytesWritten >= rest[0]!.length) {
      bytesWritten -= rest[0]!.length;
      rest = rest.slice(1);
    }
    if (bytesWritten > 0) rest = [rest[0]!.subarray(bytesWritten), ...rest.slice(1)];
  }
}
