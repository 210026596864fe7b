import { Readable } from 'node:stream';
import { ArchiveError } from './archive-error.ts';
import type { ByteSource } from './byte-source.ts';
import { BLOCK } from './tar-header-codec.ts';

/**
 * GNU sparse files, in the four forms GNU tar writes (tar(5), GNU tar's
 * "Storing Sparse Files"): the old GNU header (typeflag `S`, map in the
 * header and extension blocks), and PAX 0.0 (repeated
 * `GNU.sparse.offset`/`numbytes` records), 0.1 (`GNU.sparse.map`) and 1.0
 * (map at the start of the data). The reader hands such an entry on as a
 * regular file of its real size, holes filled with zeros.
 */

/** One stretch of real data: `size` bytes at `offset` of the expanded file. */
export interface SparseChunk {
  offset: number;
  size: number;
}

export interface SparseInfo {
  /** Size of the expanded file. */
  realSize: number;
  chunks: SparseChunk[];
}

/** A PAX-described sparse entry, before its map is read. */
export interface PaxSparse {
  format: '0.x' | '1.0';
  realSize: number;
  /** `o,n,o,n…` (0.0 and 0.1). */
  map?: string;
  /** The file's real name (`GNU.sparse.name`). */
  name?: string;
}

type Fail = (why: string) => never;

const OLD_GNU = { entries: 386, isExtended: 482, realSize: 483, perHeader: 4, perExtension: 21, entrySize: 24 } as const;

/**
 * PAX 0.0 repeats `GNU.sparse.offset` and `GNU.sparse.numbytes` records, which a
 * key→value map would collapse: their values in order, joined as a 0.1 map.
 */
export function sparseMap00(data: Buffer): string | undefined {
  const parts: string[] = [];
  let pos = 0;
  while (pos < data.length && data[pos] !== 0) {
    const sp = data.indexOf(0x20, pos);
    if (sp === -1) break;
    const len = Number(data.toString('latin1', pos, sp));
    if (!Number.isSafeInteger(len) || len <= 0) break;
    const record = data.toString('utf8', sp + 1, pos + len - 1);
    const eq = record.indexOf('=');
    const key = record.slice(0, eq);
    if (key === 'GNU.sparse.offset' || key === 'GNU.sparse.numbytes') parts.push(record.slice(eq + 1));
    pos += len;
  }
  return parts.length > 0 ? parts.join(',') : undefined;
}

/** The sparse form PAX records describe, if any (the version logic of Go's archive/tar). */
export function paxSparse(text: (key: string) => string | undefined, fail: Fail): PaxSparse | undefined {
  const major = text('GNU.sparse.major');
  const minor = text('GNU.sparse.minor');
  const map = text('GNU.sparse.map');
  let format: PaxSparse['format'];
  if (major === '0' && (minor === '0' || minor === '1')) format = '0.x';
  else if (major === '1' && minor === '0') format = '1.0';
  else if (major !== undefined || minor !== undefined) {
    throw new ArchiveError('TAR_UNSUPPORTED', `unknown GNU sparse format version ${major ?? ''}.${minor ?? ''}`);
  }
  else if (map !== undefined) format = '0.x';
  else return undefined;
  const sizeText = text('GNU.sparse.size') ?? text('GNU.sparse.realsize');
  if (sizeText === undefined || !/^[0-9]+$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) return fail(`bad GNU sparse size ${JSON.stringify(sizeText)}`);
  const name = text('GNU.sparse.name');
  return { format, realSize: Number(sizeText), ...(map !== undefined ? { map } : {}), ...(name !== undefined ? { name } : {}) };
}

/** Parses a `o,n,o,n…` map. */
export function parseSparseMap(map: string, fail: Fail): SparseChunk[] {
  const nums = map === '' ? [] : map.split(',').map((t) => decimal(t, fail));
  if (nums.length % 2 !== 0) fail('odd number of values in the GNU sparse map');
  const chunks: SparseChunk[] = [];
  for (let i = 0; i < nums.length; i += 2) chunks.push({ offset: nums[i]!, size: nums[i + 1]! });
  return chunks;
}

function decimal(t: string, fail: Fail): number {
  if (!/^[0-9]+$/.test(t) || !Number.isSafeInteger(Number(t))) return fail(`bad number ${JSON.stringify(t)} in a GNU sparse map`);
  return Number(t);
}

/** The old GNU map: four entries in the header, then 21 per extension block while the extended flag is set. */
export async function readOldGnuSparse(header: Buffer, src: ByteSource, maxMeta: number, fail: Fail): Promise<SparseInfo> {
  const chunks: SparseChunk[] = [];
  const take = (b: Buffer, start: number, count: number): void => {
    for (let i = 0; i < count; i++) {
      const at = start + i * OLD_GNU.entrySize;
      if (b[at] === 0) return;
      chunks.push({ offset: gnuNumber(b, at, 12, fail), size: gnuNumber(b, at + 12, 12, fail) });
    }
  };
  take(header, OLD_GNU.entries, OLD_GNU.perHeader);
  let extended = header[OLD_GNU.isExtended]! !== 0;
  let metaBytes = 0;
  while (extended) {
    metaBytes += BLOCK;
    if (metaBytes > maxMeta) fail(`GNU sparse map exceeds the limit of ${maxMeta} bytes`);
    const ext = await src.read(BLOCK);
    if (ext.length < BLOCK) fail('GNU sparse extension block is truncated');
    take(ext, 0, OLD_GNU.perExtension);
    extended = ext[OLD_GNU.perExtension * OLD_GNU.entrySize]! !== 0;
  }
  return { realSize: gnuNumber(header, OLD_GNU.realSize, 12, fail), chunks };
}

/** An octal or GNU base-256 number field. */
function gnuNumber(b: Buffer, off: number, width: number, fail: Fail): number {
  if (b[off]! & 0x80) {
    if (b[off]! & 0x40) fail('negative number in a GNU sparse map');
    let v = BigInt(b[off]! & 0x3f);
    for (let i = 1; i < width; i++) v = (v << 8n) | BigInt(b[off + i]!);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail('number out of range in a GNU sparse map');
    return Number(v);
  }
  const text = b.toString('latin1', off, off + width).replace(/[\0 ]+$/, '').replace(/^[\0 ]+/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) fail(`bad octal number ${JSON.stringify(text)} in a GNU sparse map`);
  return parseInt(text, 8);
}

/**
 * The PAX 1.0 map at the start of the entry's data: decimal numbers, one a
 * line (count, then offset/size pairs), padded to whole blocks. Returns the
 * chunks and how many data bytes the map took.
 */
export async function readSparse10Map(src: ByteSource, dataSize: number, maxMeta: number, fail: Fail): Promise<{ chunks: SparseChunk[]; bytes: number }> {
  let text = '';
  let bytes = 0;
  let lines: string[] = [];
  const need = async (n: number): Promise<void> => {
    while (lines.length - 1 < n) {
      if (bytes + BLOCK > Math.min(dataSize, maxMeta)) fail('GNU sparse map runs past its limit or the entry');
      const block = await src.read(BLOCK);
      if (block.length < BLOCK) fail('GNU sparse map is truncated');
      bytes += BLOCK;
      text += block.toString('latin1');
      lines = text.split('\n');
    }
  };
  await need(1);
  const count = decimal(lines[0]!, fail);
  await need(1 + 2 * count);
  const chunks: SparseChunk[] = [];
  for (let i = 0; i < count; i++) chunks.push({ offset: decimal(lines[1 + 2 * i]!, fail), size: decimal(lines[2 + 2 * i]!, fail) });
  return { chunks, bytes };
}

/** Chunks in order, not overlapping, inside the file, and together exactly the stored data. */
export function validateSparse(info: SparseInfo, stored: number, fail: Fail): void {
  let end = 0;
  let sum = 0;
  for (const c of info.chunks) {
    if (c.offset < end) fail('GNU sparse chunks overlap or are out of order');
    end = c.offset + c.size;
    if (end > info.realSize) fail(`GNU sparse chunk ends at ${end}, past the file's ${info.realSize} bytes`);
    sum += c.size;
  }
  if (sum !== stored) fail(`GNU sparse map covers ${sum} bytes, the entry stores ${stored}`);
}

/**
 * The expanded file: the chunks' bytes read from `physical` (the stored
 * data) at their offsets, fresh zero buffers for the holes.
 */
export function expandSparse(physical: Readable, info: SparseInfo, entry: string): Readable {
  return Readable.from(expand(physical, info, entry), { objectMode: false, highWaterMark: 64 * 1024 });
}

const HOLE_PIECE = 1024 * 1024;

async function* expand(physical: Readable, info: SparseInfo, entry: string): AsyncGenerator<Buffer> {
  const it = physical[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let pending: Buffer = Buffer.alloc(0);
  let pos = 0;
  const zeros = function* (n: number): Generator<Buffer> {
    for (let left = n; left > 0; left -= HOLE_PIECE) yield Buffer.alloc(Math.min(left, HOLE_PIECE));
  };
  try {
    for (const c of info.chunks) {
      yield* zeros(c.offset - pos);
      for (let left = c.size; left > 0; ) {
        if (pending.length === 0) {
          const r = await it.next();
          if (r.done === true) throw new ArchiveError('TAR_INVALID', `sparse tar entry ${JSON.stringify(entry)} is truncated`, { entry });
          pending = r.value;
        }
        const piece = pending.subarray(0, left);
        pending = pending.subarray(piece.length);
        left -= piece.length;
        yield piece;
      }
      pos = c.offset + c.size;
    }
    yield* zeros(info.realSize - pos);
  } finally {
    await it.return?.();
  }
}
