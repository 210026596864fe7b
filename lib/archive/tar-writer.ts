import { Readable } from 'node:stream';
import { assertNever } from '../errors.ts';
import { ArchiveError } from './archive-error.ts';
import { orderHardlinks } from './hardlink-order.ts';
import type { TarEntryType, TarWriteEntry } from './tar-entry.ts';
import { BLOCK, USTAR_MAX, encodePaxRecords, encodeUstarHeader } from './tar-header-codec.ts';
import { compareSegments, normalizeTarPath, tarPathSegments } from './tar-path.ts';

export interface TarStreamOptions {
  /** Upper bound for every entry's mtime (e.g. SOURCE_DATE_EPOCH). */
  mtimeClamp?: number;
}

/** Output is handed on in chunks of about this size; small headers and bodies are batched. */
const BATCH = 64 * 1024;
const EMPTY = Buffer.alloc(0);

interface Prepared {
  entry: TarWriteEntry;
  path: string;
  segments: Buffer[];
}

/**
 * Writes `entries` as one deterministic tar stream: the output bytes are a
 * pure function of the entries (and `mtimeClamp`), whatever their order.
 *
 * - Entries are sorted by path component-wise (a directory comes right before
 *   its subtree); names are normalized as {@link normalizeTarPath} does.
 * - Directories get a trailing `/`; every header field is explicit (uname and
 *   gname empty, no atime/ctime); mode is masked to 07777.
 * - PAX extended headers appear only when ustar cannot hold a value (long or
 *   non-ASCII name/linkname, uid/gid/size/mtime out of octal range) or for
 *   xattrs (`SCHILY.xattr.<key>`), with records in sorted key order.
 * - A hardlink's target is written before the link: when the target sorts
 *   later, the two names swap roles (see {@link orderHardlinks}).
 * - `size` and `body` matter only for regular files; a body that is not
 *   exactly `size` bytes fails the stream with `TAR_SIZE_MISMATCH`.
 *
 * Bad entries (duplicates, `..` segments, missing link targets, …) throw
 * synchronously. Bodies are opened one at a time, only when reached; the
 * stream destroys a body stream it stops reading.
 */
export function tarStream(entries: readonly TarWriteEntry[], opts: TarStreamOptions = {}): Readable {
  const prepared = entries.map(prepare);
  prepared.sort((a, b) => compareSegments(a.segments, b.segments));
  for (let i = 1; i < prepared.length; i++) {
    if (compareSegments(prepared[i - 1]!.segments, prepared[i]!.segments) === 0) {
      const path = prepared[i]!.path;
      throw new ArchiveError('TAR_DUPLICATE_ENTRY', `duplicate tar entry ${JSON.stringify(path)}`, { entry: path });
    }
  }
  return Readable.from(generate(orderHardlinks(prepared), opts.mtimeClamp), { objectMode: false, highWaterMark: BATCH });
}

async function* generate(prepared: readonly Prepared[], mtimeClamp: number | undefined): AsyncGenerator<Buffer> {
  let batch: Buffer[] = [];
  let batched = 0;
  const add = (b: Buffer): void => {
    batch.push(b);
    batched += b.length;
  };
  const flush = (): Buffer => {
    const out = batch.length === 1 ? batch[0]! : Buffer.concat(batch, batched);
    batch = [];
    batched = 0;
    return out;
  };
  for (const p of prepared) {
    for (const b of encodeEntryHeader(p, mtimeClamp)) add(b);
    if (p.entry.type === 'file' && p.entry.body !== undefined) {
      for await (const chunk of bodyChunks(p)) {
        if (chunk.length >= BATCH) {
          if (batched > 0) yield flush();
          yield chunk;
        } else {
          add(chunk);
          if (batched >= BATCH) yield flush();
        }
      }
      add(padding(p.entry.size));
    }
    if (batched >= BATCH) yield flush();
  }
  add(Buffer.alloc(2 * BLOCK));
  yield flush();
}

function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return rest === 0 ? EMPTY : Buffer.alloc(BLOCK - rest);
}

async function* bodyChunks({ entry, path }: Prepared): AsyncGenerator<Buffer> {
  const mismatch = (got: string): ArchiveError =>
    new ArchiveError('TAR_SIZE_MISMATCH', `body of ${JSON.stringify(path)} is ${got} bytes, header says ${entry.size}`, { entry: path });
  const src: Readable | Uint8Array = entry.body!();
  if (src instanceof Uint8Array) {
    if (src.length !== entry.size) throw mismatch(String(src.length));
    if (src.length > 0) yield Buffer.isBuffer(src) ? src : Buffer.from(src.buffer, src.byteOffset, src.length);
    return;
  }
  let n = 0;
  for await (const c of src as AsyncIterable<Buffer | string>) {
    const chunk = typeof c === 'string' ? Buffer.from(c) : c;
    n += chunk.length;
    if (n > entry.size) throw mismatch(`more than ${entry.size}`);
    yield chunk;
  }
  if (n !== entry.size) throw mismatch(String(n));
}

function typeflag(type: TarEntryType): string {
  switch (type) {
    case 'file':
      return '0';
    case 'hardlink':
      return '1';
    case 'symlink':
      return '2';
    case 'character-device':
      return '3';
    case 'block-device':
      return '4';
    case 'directory':
      return '5';
    case 'fifo':
      return '6';
    default:
      return assertNever(type, 'tar entry type');
  }
}

/** The PAX header (if needed) and ustar header blocks of one entry. */
function encodeEntryHeader({ entry: e, path }: Prepared, mtimeClamp: number | undefined): Buffer[] {
  let mtime = Math.floor(e.mtime);
  if (mtimeClamp !== undefined) mtime = Math.min(mtime, Math.floor(mtimeClamp));
  const records = new Map<string, Buffer>();
  const full = path === '.' ? './' : e.type === 'directory' ? `${path}/` : path;
  const split = splitUstarName(full);
  if (split === undefined) records.set('path', Buffer.from(full, 'utf8'));
  let linkname = EMPTY;
  if (e.type === 'symlink' || e.type === 'hardlink') {
    const target = e.type === 'hardlink' ? normalizeTarPath(e.linkname!) : e.linkname!;
    if (isAscii(target) && target.length <= 100) linkname = Buffer.from(target, 'latin1');
    else records.set('linkpath', Buffer.from(target, 'utf8'));
  }
  const size = e.type === 'file' ? e.size : 0;
  const numeric = (key: string, value: number, max: number): number => {
    if (value >= 0 && value <= max) return value;
    records.set(key, Buffer.from(String(value), 'latin1'));
    return 0;
  };
  const fields = {
    name: split?.name ?? asciiFallback(full),
    prefix: split?.prefix ?? EMPTY,
    mode: e.mode & 0o7777,
    uid: numeric('uid', e.uid, USTAR_MAX.id),
    gid: numeric('gid', e.gid, USTAR_MAX.id),
    size: numeric('size', size, USTAR_MAX.size),
    mtime: numeric('mtime', mtime, USTAR_MAX.size),
    typeflag: typeflag(e.type),
    linkname,
    devmajor: isDevice(e.type) ? (e.devmajor ?? 0) : 0,
    devminor: isDevice(e.type) ? (e.devminor ?? 0) : 0,
  };
  for (const [key, value] of Object.entries(e.xattrs ?? {})) records.set(`SCHILY.xattr.${key}`, Buffer.from(value));
  const header = encodeUstarHeader(fields);
  if (records.size === 0) return [header];
  const data = encodePaxRecords(records);
  const paxHeader = encodeUstarHeader({
    name: asciiFallback(`PaxHeaders/${full.replace(/\/$/, '').split('/').pop()}`),
    prefix: EMPTY,
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: data.length,
    mtime: 0,
    typeflag: 'x',
    linkname: EMPTY,
    devmajor: 0,
    devminor: 0,
  });
  return [paxHeader, data, padding(data.length), header];
}

/** ustar's name/prefix split (longest prefix first), or undefined when PAX must carry the name. */
function splitUstarName(full: string): { name: Buffer; prefix: Buffer } | undefined {
  if (!isAscii(full)) return undefined;
  const b = Buffer.from(full, 'latin1');
  if (b.length <= 100) return { name: b, prefix: EMPTY };
  if (b.length > 256) return undefined;
  // The last byte may be a directory's own `/`; a split there leaves no name.
  for (let i = Math.min(155, b.length - 2); i > 0; i--) {
    if (b[i] === 0x2f && b.length - i - 1 <= 100) return { name: b.subarray(i + 1), prefix: b.subarray(0, i) };
  }
  return undefined;
}

/** What a reader that ignores PAX sees: printable ASCII, at most 100 bytes. */
function asciiFallback(s: string): Buffer {
  return Buffer.from(s.replace(/[^\x20-\x7e]/g, '_'), 'latin1').subarray(0, 100);
}

function isAscii(s: string): boolean {
  return /^[\x01-\x7f]*$/.test(s);
}

function isDevice(type: TarEntryType): boolean {
  return type === 'character-device' || type === 'block-device';
}

/** Normalizes and checks one entry; throws TAR_ENTRY_INVALID. */
function prepare(e: TarWriteEntry): Prepared {
  const path = normalizeTarPath(e.name);
  const fail = (why: string): never => {
    throw new ArchiveError('TAR_ENTRY_INVALID', `cannot write tar entry ${JSON.stringify(e.name)}: ${why}`, { entry: e.name });
  };
  const segments = tarPathSegments(path);
  if (path.includes('\0')) fail('name contains NUL');
  if (path.split('/').includes('..')) fail('name contains a ".." segment');
  if (path === '.' && e.type !== 'directory') fail('only a directory can be the root');
  typeflag(e.type);
  const isId = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 0;
  if (!isId(e.mode)) fail(`bad mode ${e.mode}`);
  if (!isId(e.uid) || !isId(e.gid)) fail(`bad owner ${e.uid}:${e.gid}`);
  if (!Number.isFinite(e.mtime)) fail(`bad mtime ${e.mtime}`);
  if (e.type === 'file' && !isId(e.size)) fail(`bad size ${e.size}`);
  if (e.type === 'file' && e.size > 0 && e.body === undefined) fail(`no body for ${e.size} bytes`);
  if (e.type !== 'file' && e.body !== undefined) fail(`a ${e.type} has no body`);
  if (e.type === 'symlink' || e.type === 'hardlink') {
    if (typeof e.linkname !== 'string' || e.linkname === '') fail(`a ${e.type} needs a linkname`);
    if (e.linkname!.includes('\0')) fail('linkname contains NUL');
  }
  if (isDevice(e.type)) {
    for (const n of [e.devmajor ?? 0, e.devminor ?? 0]) if (!isId(n) || n > USTAR_MAX.id) fail(`bad device number ${n}`);
  }
  for (const key of Object.keys(e.xattrs ?? {})) {
    if (key === '' || /[=\0]/.test(key)) fail(`bad xattr name ${JSON.stringify(key)}`);
  }
  return { entry: e, path, segments };
}
