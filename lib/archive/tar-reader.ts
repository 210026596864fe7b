import type { Readable } from 'node:stream';
import { ArchiveError } from './archive-error.ts';
import { ByteSource } from './byte-source.ts';
import { EntryBody } from './entry-body.ts';
import type { TarEntryType, TarHeader } from './tar-entry.ts';
import { BLOCK, type RawHeader, decodeHeader, isZeroBlock, parsePaxRecords } from './tar-header-codec.ts';
import { normalizeTarPath } from './tar-path.ts';
import { type PaxSparse, type SparseInfo, expandSparse, parseSparseMap, paxSparse, readOldGnuSparse, readSparse10Map, sparseMap00, validateSparse } from './tar-sparse.ts';

export interface ReadTarOptions {
  /** Largest PAX or GNU long-name header accepted, in bytes (default 1 MiB). */
  maxMetaSize?: number;
}

/** Extended-header values waiting for the entry they describe. */
interface Pending {
  pax: Map<string, Buffer>;
  longName?: string;
  longLink?: string;
}

type Fail = (why: string) => never;

/**
 * Reads a tar stream entry by entry: ustar, old v7, GNU (long names and
 * linknames, base-256 numbers) and PAX (path, linkpath, size, uid, gid,
 * mtime incl. fractional, `SCHILY.xattr.*`, global headers). Names are
 * normalized as {@link normalizeTarPath} does; a hardlink's linkname too,
 * a symlink's target is left as written. Global PAX headers apply their uid,
 * gid, mtime and xattrs to later entries (not path, linkpath or size).
 *
 * For each entry `onEntry(header, body)` is awaited. The consumer reads
 * `body` (exactly `header.size` bytes; empty for all but regular files)
 * before its promise resolves, and must not touch it afterwards: whatever it
 * left unread is then skipped, and a body not read to its end is destroyed.
 * Body chunks are views into the input's buffers (no copies): a consumer
 * that keeps small pieces for long should copy them.
 *
 * Tolerates what Docker and buildah accept: an archive without its two
 * end-of-archive blocks, or one that stops inside the last entry's padding
 * (umoci insert writes such layers). An entry body or header cut short, a bad
 * checksum or a malformed field fails with ArchiveError `TAR_INVALID`
 * (with `entry` and `offset` where known); unknown entry types with
 * `TAR_UNSUPPORTED`. GNU sparse files (old GNU and PAX 0.0, 0.1, 1.0) come
 * as regular files of their real size, holes read as zeros.
 *
 * readTar owns `input`: it reads it to its end (past the end-of-archive
 * blocks, so that a verifying input checks its digest), and destroys it on
 * failure. Errors of `input` and of `onEntry` are rethrown unchanged.
 */
export async function readTar(
  input: Readable,
  onEntry: (header: TarHeader, body: Readable) => Promise<void>,
  opts: ReadTarOptions = {},
): Promise<void> {
  const src = new ByteSource(input);
  try {
    await readEntries(src, onEntry, opts.maxMetaSize ?? 1024 * 1024);
    await src.drain();
  } catch (err) {
    await src.close().catch(() => {});
    throw err;
  }
}

async function readEntries(src: ByteSource, onEntry: (header: TarHeader, body: Readable) => Promise<void>, maxMeta: number): Promise<void> {
  let global = new Map<string, Buffer>();
  let pending: Pending = { pax: new Map() };
  for (;;) {
    const offset = src.position;
    const block = await src.read(BLOCK);
    const fail: Fail = (why) => {
      throw new ArchiveError('TAR_INVALID', `invalid tar archive at offset ${offset}: ${why}`, { offset });
    };
    if (block.length < BLOCK || isZeroBlock(block)) {
      if (!isZeroBlock(block)) fail(`truncated header (${block.length} of ${BLOCK} bytes)`);
      if (pending.pax.size > 0 || pending.longName !== undefined || pending.longLink !== undefined) fail('archive ends after an extended header');
      // One zero block then the end of input is the common short form; a
      // zero block followed by a header is no end-of-archive marker.
      if (block.length === BLOCK && !isZeroBlock(await src.read(BLOCK))) fail('a lone zero block is followed by data');
      return;
    }
    const raw = decodeHeader(block, offset);
    switch (raw.typeflag) {
      case 'x': {
        const data = await readMeta(src, raw, maxMeta, fail);
        for (const [k, v] of parsePaxRecords(data, fail)) pending.pax.set(k, v);
        const map00 = sparseMap00(data);
        if (map00 !== undefined) pending.pax.set('GNU.sparse.map', Buffer.from(map00, 'latin1'));
        continue;
      }
      case 'g':
        global = new Map([...global, ...parsePaxRecords(await readMeta(src, raw, maxMeta, fail), fail)]);
        continue;
      case 'L':
        pending.longName = cString(await readMeta(src, raw, maxMeta, fail));
        continue;
      case 'K':
        pending.longLink = cString(await readMeta(src, raw, maxMeta, fail));
        continue;
      case 'V': // GNU volume label: not a file
        await skipData(src, raw.size, fail);
        continue;
    }
    const { header, dataSize, sparse } = buildHeader(raw, pending, global, offset);
    pending = { pax: new Map() };
    let stored = dataSize;
    let info: SparseInfo | undefined;
    if (raw.typeflag === 'S') {
      info = await readOldGnuSparse(block, src, maxMeta, fail);
      header.size = info.realSize;
    } else if (sparse?.format === '1.0') {
      const map = await readSparse10Map(src, dataSize, maxMeta, fail);
      info = { realSize: sparse.realSize, chunks: map.chunks };
      stored -= map.bytes;
    } else if (sparse !== undefined) {
      info = { realSize: sparse.realSize, chunks: parseSparseMap(sparse.map ?? '', fail) };
    }
    if (info !== undefined) validateSparse(info, stored, fail);
    const body = new EntryBody(src, stored, header.name);
    const view = info === undefined ? body : expandSparse(body, info, header.name);
    await onEntry(header, view);
    await body.finish();
    if (view !== body) view.destroy();
    // The last entry's padding may be cut short: the next read sees the end.
    await src.skip(padding(dataSize));
  }
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** The data of an extended header (PAX records, GNU long name), bounded in size. */
async function readMeta(src: ByteSource, raw: RawHeader, maxMeta: number, fail: Fail): Promise<Buffer> {
  if (raw.size > maxMeta) fail(`extended header of ${raw.size} bytes exceeds the limit of ${maxMeta}`);
  const data = await src.read(raw.size);
  if (data.length < raw.size) fail('extended header is truncated');
  await src.skip(padding(raw.size));
  return data;
}

async function skipData(src: ByteSource, size: number, fail: Fail): Promise<void> {
  if ((await src.skip(size)) < size) fail('entry data is truncated');
  await src.skip(padding(size));
}

function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.toString('utf8', 0, nul === -1 ? b.length : nul);
}

/** PAX keys a global header may not set for every later entry. */
const LOCAL_ONLY = new Set(['path', 'linkpath', 'size']);

function buildHeader(
  raw: RawHeader,
  pending: Pending,
  global: ReadonlyMap<string, Buffer>,
  offset: number,
): { header: TarHeader; dataSize: number; sparse: PaxSparse | undefined } {
  const fail = (code: string, why: string): never => {
    const entry = pending.pax.get('path')?.toString('utf8') ?? pending.longName ?? raw.name;
    throw new ArchiveError(code, `tar entry ${JSON.stringify(entry)} at offset ${offset}: ${why}`, { entry, offset });
  };
  const pax = new Map<string, Buffer>();
  for (const [k, v] of global) if (!LOCAL_ONLY.has(k)) pax.set(k, v);
  for (const [k, v] of pending.pax) pax.set(k, v);
  // An empty value in a PAX header undoes the key (POSIX: back to the header field).
  const text = (key: string): string | undefined => {
    const v = pax.get(key);
    return v === undefined || v.length === 0 ? undefined : v.toString('utf8');
  };
  const sparse = paxSparse(text, (why) => fail('TAR_INVALID', why));
  const rawName = sparse?.name ?? text('path') ?? pending.longName ?? raw.name;
  const type = entryType(raw.typeflag, rawName, (why) => fail('TAR_UNSUPPORTED', why));
  const int = (key: string, fallback: number): number => {
    const v = text(key);
    if (v === undefined) return fallback;
    if (!/^[0-9]+$/.test(v) || !Number.isSafeInteger(Number(v))) fail('TAR_INVALID', `bad PAX ${key} ${JSON.stringify(v)}`);
    return Number(v);
  };
  const size = int('size', raw.size);
  if (size < 0) fail('TAR_INVALID', `negative size ${size}`);
  const mtimeText = text('mtime');
  const header: TarHeader = {
    name: normalizeTarPath(rawName),
    type,
    mode: raw.mode,
    uid: int('uid', raw.uid),
    gid: int('gid', raw.gid),
    mtime: mtimeText === undefined ? raw.mtime : paxSeconds(mtimeText, (why) => fail('TAR_INVALID', why)),
    size: type === 'file' ? (sparse?.realSize ?? size) : 0,
  };
  const link = text('linkpath') ?? pending.longLink ?? raw.linkname;
  if (type === 'symlink') header.linkname = link;
  if (type === 'hardlink') header.linkname = normalizeTarPath(link);
  if (type === 'character-device' || type === 'block-device') {
    header.devmajor = raw.devmajor;
    header.devminor = raw.devminor;
  }
  const xattrs: Record<string, Buffer> = {};
  let hasXattrs = false;
  for (const [k, v] of pax) {
    if (!k.startsWith('SCHILY.xattr.')) continue;
    xattrs[k.slice('SCHILY.xattr.'.length)] = Buffer.from(v);
    hasXattrs = true;
  }
  if (hasXattrs) header.xattrs = xattrs;
  // Types other than regular files carry no data, whatever their size field
  // says (as Go's archive/tar reads them), except GNU dumpdirs.
  const dataSize = type === 'file' || raw.typeflag === 'D' ? size : 0;
  return { header, dataSize, sparse: type === 'file' ? sparse : undefined };
}

function entryType(typeflag: string, name: string, unsupported: (why: string) => never): TarEntryType {
  switch (typeflag) {
    case '0':
    case '\0':
    case '7': // contiguous file
      // Pre-POSIX archives mark directories only by a trailing slash.
      return name.endsWith('/') ? 'directory' : 'file';
    case '1':
      return 'hardlink';
    case '2':
      return 'symlink';
    case '3':
      return 'character-device';
    case '4':
      return 'block-device';
    case '5':
    case 'D': // GNU dumpdir: a directory plus a listing we do not need
      return 'directory';
    case '6':
      return 'fifo';
    case 'S': // old GNU sparse file: the reader expands it
      return 'file';
    default:
      return unsupported(`unsupported entry type ${JSON.stringify(typeflag)}`);
  }
}

/** Whole seconds (rounded down) from a PAX time such as `1700000000.123456789` or `-1.5`. */
function paxSeconds(v: string, fail: (why: string) => never): number {
  const m = /^(-?)([0-9]+)(?:\.([0-9]*))?$/.exec(v);
  if (m === null) return fail(`bad PAX mtime ${JSON.stringify(v)}`);
  const whole = Number(m[2]);
  if (!Number.isSafeInteger(whole)) return fail(`PAX mtime out of range ${JSON.stringify(v)}`);
  const fractional = /[1-9]/.test(m[3] ?? '');
  if (m[1] === '-') return fractional ? -whole - 1 : 0 - whole;
  return whole;
}
