import { spawn } from 'node:child_process';
import { Readable, pipeline } from 'node:stream';
import * as zlib from 'node:zlib';
import { decompressStream, ExpansionMeter, expansionLimits } from '../archive/index.ts';
import { VfsError } from './errors.ts';

/** The compressions ADD recognizes in a local archive, from its first bytes (as go-archive's DetectCompression). */
export type ArchiveCompression = 'none' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

/**
 * Command lines of the external decompressors: each reads the compressed
 * stream on stdin and writes the plain one on stdout. Node.js has gzip (and
 * zstd from 22.15) in node:zlib, but neither bzip2 nor xz: for those kiln
 * runs the system's tools (Debian installs bzip2 and xz-utils by default).
 */
export interface DecompressTools {
  readonly bzip2: readonly string[];
  readonly xz: readonly string[];
  /** Used only when this Node.js has no zstd in node:zlib. */
  readonly zstd: readonly string[];
}

export const DEFAULT_DECOMPRESS_TOOLS: DecompressTools = Object.freeze({
  bzip2: ['bzip2', '-dc'],
  xz: ['xz', '-dc'],
  zstd: ['zstd', '-dc'],
});

const MAGIC: readonly [ArchiveCompression, readonly number[]][] = [
  ['gzip', [0x1f, 0x8b, 0x08]],
  ['bzip2', [0x42, 0x5a, 0x68]], // "BZh"
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
];

/** The compression named by a stream's first bytes (6 are enough); `none` for anything else. */
export function sniffArchiveCompression(head: Uint8Array): ArchiveCompression {
  for (const [kind, magic] of MAGIC) {
    if (head.length >= magic.length && magic.every((b, i) => head[i] === b)) return kind;
  }
  return 'none';
}

/** True when this Node.js decompresses zstd itself (node:zlib grew it in 22.15). */
export function nodeHasZstd(): boolean {
  return typeof (zlib as unknown as { createZstdDecompress?: unknown }).createZstdDecompress === 'function';
}

/**
 * The decompressed bytes of `input`, whatever of gzip, bzip2, xz, zstd or
 * nothing it is compressed with (told from its first bytes). gzip (and zstd
 * where node:zlib has it) are decompressed in-process; bzip2, xz (and zstd
 * otherwise) through the external `tools`. The result owns `input`.
 * `meter` counts both sides and enforces its limits (default: an archive
 * meter with the defaults and the environment's limits).
 *
 * Failures: DECOMPRESSOR_MISSING when a needed tool is not installed,
 * COMPRESSION_INVALID when it rejects the data (its stderr in the message),
 * lib/archive's COMPRESSION_INVALID for corrupt gzip or zstd, and the
 * meter's ARCHIVE_TOO_LARGE / ARCHIVE_RATIO_EXCEEDED (the tool is killed).
 */
export function decompressArchive(input: Readable, tools: DecompressTools = DEFAULT_DECOMPRESS_TOOLS, meter?: ExpansionMeter): Readable {
  return Readable.from(decompressed(input, tools, meter), { objectMode: false, highWaterMark: 256 * 1024 });
}

async function* decompressed(input: Readable, tools: DecompressTools, given: ExpansionMeter | undefined): AsyncGenerator<Buffer> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  try {
    const meter = given ?? new ExpansionMeter(expansionLimits(), { kind: 'archive' });
    const parts: Buffer[] = [];
    let size = 0;
    while (size < 6) {
      const r = await it.next();
      if (r.done === true) break;
      parts.push(r.value);
      size += r.value.length;
    }
    const head = Buffer.concat(parts, size);
    const kind = sniffArchiveCompression(head);
    const whole = Readable.from(prepend(head, it), { objectMode: false });
    if (kind === 'none' || kind === 'gzip' || (kind === 'zstd' && nodeHasZstd())) {
      yield* decompressStream(whole, { meter });
    } else {
      const counted = Readable.from(meter.countCompressed(whole), { objectMode: false });
      yield* meter.countExpanded(runTool(kind, tools[kind], counted));
    }
  } finally {
    await it.return?.();
  }
}

async function* prepend(head: Buffer, it: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  if (head.length > 0) yield head;
  for (let r = await it.next(); r.done !== true; r = await it.next()) yield r.value;
}

/**
 * Streams `input` through an external decompressor. The tool's exit status
 * is checked once its output ends; a consumer that stops early (or fails)
 * kills it, so no process outlives the stream.
 */
async function* runTool(kind: ArchiveCompression, argv: readonly string[], input: Readable): AsyncGenerator<Buffer> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new VfsError('DECOMPRESSOR_MISSING', `no decompressor configured for ${kind}`, { compression: kind });
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  exited.catch(() => {}); // awaited below; this only keeps an early spawn error from being unhandled
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 2048) stderr += d;
  });
  let inputError: unknown;
  // EPIPE when the tool stops reading early: its exit status says why.
  child.stdin.on('error', () => {});
  pipeline(input, child.stdin, (err) => {
    if (err !== undefined && err !== null && (err as NodeJS.ErrnoException).code !== 'EPIPE') inputError = err;
  });
  let finished = false;
  try {
    for await (const chunk of child.stdout) yield chunk as Buffer;
    let status: { code: number | null; signal: NodeJS.Signals | null };
    try {
      status = await exited;
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      throw new VfsError(
        missing ? 'DECOMPRESSOR_MISSING' : 'DECOMPRESSOR_FAILED',
        missing ? `cannot decompress ${kind}: ${cmd} is not installed (Debian: apt-get install ${kind === 'xz' ? 'xz-utils' : kind})` : `cannot run ${cmd}: ${(err as Error).message}`,
        { cause: err, compression: kind },
      );
    }
    finished = true;
    if (inputError !== undefined) throw inputError;
    if (status.code !== 0) {
      const why = stderr.trim() || (status.signal !== null ? `killed by ${status.signal}` : `exit status ${status.code}`);
      throw new VfsError('COMPRESSION_INVALID', `corrupt ${kind} stream: ${argv.join(' ')}: ${why}`, { compression: kind });
    }
  } finally {
    if (!finished) child.kill('SIGKILL');
    input.destroy();
  }
}
