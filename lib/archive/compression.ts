import { type Duplex, PassThrough, Readable, type Transform, pipeline } from 'node:stream';
import * as zlib from 'node:zlib';
import { VerifyingStream } from '../digest/index.ts';
import { KilnError } from '../errors.ts';
import { ArchiveError } from './archive-error.ts';
import { ExpansionMeter, expansionLimits } from './expansion-limits.ts';
import { zstdProcess } from './zstd-process.ts';

export type Compression = 'gzip' | 'zstd' | 'none';

/** Output chunk size of the zlib streams (measured: DESIGN.md, last table). */
const CHUNK = 256 * 1024;
const ZSTD_DEFAULT_LEVEL = 3;

// node:zlib grew zstd in Node 22.15 / 23.8; @types/node 20 does not know it.
type ZstdZlib = {
  createZstdCompress?: (opts: { chunkSize?: number; params?: Record<number, number> }) => Transform;
  createZstdDecompress?: (opts: { chunkSize?: number }) => Transform;
  constants: { ZSTD_c_compressionLevel?: number };
};
const zstdZlib = zlib as unknown as ZstdZlib;

/** Compression named by a stream's magic bytes (gzip `1f 8b`, zstd `28 b5 2f fd`). */
export function detectCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

/**
 * A gzip compressor whose output is a function of its input bytes and level
 * only (header mtime 0, no name; input chunking does not matter): the same
 * bytes as pako 3's `gzip(data, { level })`.
 */
export function gzipStream(level = 6): Transform {
  return zlib.createGzip({ level, chunkSize: CHUNK });
}

/**
 * A compressor for `kind`; `none` is a pass-through. zstd comes from
 * node:zlib where Node.js has it, else from the `zstd` program (see
 * {@link zstdProcess}: ZSTD_UNSUPPORTED when it is missing too).
 */
export function compressStream(kind: Compression, level?: number): Duplex {
  switch (kind) {
    case 'gzip':
      return gzipStream(level);
    case 'none':
      return new PassThrough();
    case 'zstd': {
      const create = zstdZlib.createZstdCompress;
      const key = zstdZlib.constants.ZSTD_c_compressionLevel;
      const lvl = level ?? ZSTD_DEFAULT_LEVEL;
      if (create === undefined || key === undefined) return zstdProcess(lvl > 19 ? ['--ultra', `-${lvl}`] : [`-${lvl}`]);
      return create({ chunkSize: CHUNK, params: { [key]: lvl } });
    }
  }
}

function decompressor(kind: Compression): Duplex {
  switch (kind) {
    case 'gzip':
      return zlib.createGunzip({ chunkSize: CHUNK });
    case 'none':
      return new PassThrough();
    case 'zstd': {
      const create = zstdZlib.createZstdDecompress;
      if (create === undefined) return zstdProcess(['-d']);
      return create({ chunkSize: CHUNK });
    }
  }
}

export interface DecompressOptions {
  /**
   * Counts the bytes on both sides and enforces its limits. Default: a
   * layer meter with {@link expansionLimits} (the defaults and the
   * environment), named by `name`, else by the input's digest when the
   * input is a VerifyingStream (a blob opened from a content store).
   */
  meter?: ExpansionMeter;
  /** The name of the default meter's layer in errors (its blob digest), when `meter` is not given. */
  name?: string;
}

/**
 * Decompresses `input` according to its first bytes (gzip, zstd, or none:
 * passed through). The returned stream owns `input`: destroying it destroys
 * `input`. Errors of `input` come through unchanged; a corrupt compressed
 * stream fails with ArchiveError `COMPRESSION_INVALID`; zstd on a Node
 * without it with `ZSTD_UNSUPPORTED`; output past the meter's limits with
 * LAYER_TOO_LARGE / LAYER_RATIO_EXCEEDED (see {@link ExpansionMeter}), at
 * which point the decompressor and `input` are torn down.
 */
export function decompressStream(input: Readable, opts: DecompressOptions = {}): Readable {
  return Readable.from(decompressed(input, opts), { objectMode: false, highWaterMark: CHUNK });
}

async function* decompressed(input: Readable, opts: DecompressOptions): AsyncGenerator<Buffer> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  try {
    const meter = opts.meter ?? new ExpansionMeter(expansionLimits(), { kind: 'layer', name: opts.name ?? (input instanceof VerifyingStream ? input.expect.digest : undefined) });
    const headParts: Buffer[] = [];
    let headSize = 0;
    while (headSize < 4) {
      const r = await it.next();
      if (r.done === true) break;
      headParts.push(r.value);
      headSize += r.value.length;
    }
    const head = Buffer.concat(headParts, headSize);
    const kind = detectCompression(head);
    if (kind === 'none') {
      for (let r: IteratorResult<Buffer> = { value: head }; r.done !== true; r = await it.next()) {
        if (r.value.length === 0) continue;
        meter.addCompressed(r.value.length);
        meter.addExpanded(r.value.length);
        yield r.value;
      }
      return;
    }
    const z = decompressor(kind);
    const feed = Readable.from(meter.countCompressed(rest(head, it)), { objectMode: false });
    // Failures reach us through iterating `z`: pipeline destroys it with them.
    pipeline(feed, z, () => {});
    try {
      for await (const chunk of z) {
        meter.addExpanded((chunk as Buffer).length);
        yield chunk as Buffer;
      }
    } catch (err) {
      throw isZlibError(err) ? new ArchiveError('COMPRESSION_INVALID', `corrupt ${kind} stream: ${(err as Error).message}`, { cause: err }) : err;
    } finally {
      feed.destroy();
      z.destroy();
    }
  } finally {
    await it.return?.();
  }
}

async function* rest(head: Buffer, it: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  yield head;
  for (let r = await it.next(); r.done !== true; r = await it.next()) yield r.value;
}

function isZlibError(err: unknown): boolean {
  if (err instanceof KilnError || !(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('Z_') || code.startsWith('ZSTD_'));
}
