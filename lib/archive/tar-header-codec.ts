import { ArchiveError } from './archive-error.ts';

/**
 * The 512-byte tar header block (ustar layout, read also in its GNU and v7
 * variants) and PAX extended-header records. Pure functions over bytes.
 */

export const BLOCK = 512;

/** Largest value each octal ustar field holds (digits = width - 1, then NUL). */
export const USTAR_MAX = {
  id: 0o7777777, // uid, gid, devmajor, devminor: 7 digits
  size: 0o77777777777, // size, mtime: 11 digits
} as const;

// Field offsets and widths, POSIX.1-2017 pax "ustar Interchange Format".
const F = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
} as const satisfies Record<string, readonly [number, number]>;

/** What the writer puts in one ustar header block. */
export interface UstarFields {
  name: Buffer;
  prefix: Buffer;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: Buffer;
  devmajor: number;
  devminor: number;
}

/** Encodes a POSIX ustar header; every field explicit, uname/gname empty. */
export function encodeUstarHeader(f: UstarFields): Buffer {
  const b = Buffer.alloc(BLOCK);
  f.name.copy(b, F.name[0]);
  writeOctal(b, F.mode, f.mode);
  writeOctal(b, F.uid, f.uid);
  writeOctal(b, F.gid, f.gid);
  writeOctal(b, F.size, f.size);
  writeOctal(b, F.mtime, f.mtime);
  b.write(f.typeflag, F.typeflag[0], 'latin1');
  f.linkname.copy(b, F.linkname[0]);
  b.write('ustar\0', F.magic[0], 'latin1');
  b.write('00', F.version[0], 'latin1');
  writeOctal(b, F.devmajor, f.devmajor);
  writeOctal(b, F.devminor, f.devminor);
  f.prefix.copy(b, F.prefix[0]);
  // Checksum as GNU tar and Go write it: six octal digits, NUL, space.
  b.write(`${checksum(b).toString(8).padStart(6, '0')}\0 `, F.chksum[0], 'latin1');
  return b;
}

function writeOctal(b: Buffer, [off, width]: readonly [number, number], value: number): void {
  b.write(`${value.toString(8).padStart(width - 1, '0')}\0`, off, 'latin1');
}

/** Unsigned sum of the block with the checksum field read as eight spaces. */
function checksum(b: Buffer): number {
  let sum = 8 * 0x20;
  for (let i = 0; i < F.chksum[0]; i++) sum += b[i]!;
  for (let i = F.chksum[0] + F.chksum[1]; i < BLOCK; i++) sum += b[i]!;
  return sum;
}

/** Old tars (Sun, early GNU) summed signed bytes; accept that too. */
function signedChecksum(b: Buffer): number {
  let sum = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) {
    if (i >= F.chksum[0] && i < F.chksum[0] + F.chksum[1]) continue;
    sum += (b[i]! << 24) >> 24;
  }
  return sum;
}

export function isZeroBlock(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** A decoded header block before PAX / GNU long-name overrides. */
export interface RawHeader {
  format: 'ustar' | 'gnu' | 'v7';
  name: string;
  linkname: string;
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  devmajor: number;
  devminor: number;
}

/** Decodes one non-zero header block; throws TAR_INVALID on a bad checksum or field. */
export function decodeHeader(b: Buffer, offset: number): RawHeader {
  const rawName = cString(b, F.name);
  const fail = (why: string): never => {
    throw new ArchiveError('TAR_INVALID', `invalid tar header at offset ${offset} (${JSON.stringify(rawName)}): ${why}`, { entry: rawName, offset });
  };
  const stored = parseNumeric(b, F.chksum, fail, 'checksum');
  if (stored !== checksum(b) && stored !== signedChecksum(b)) fail('checksum mismatch');
  const magic = b.toString('latin1', F.magic[0], F.magic[0] + 8);
  // POSIX magic with any version (some writers put NULs or spaces there).
  const format = magic === 'ustar  \0' ? 'gnu' : magic.startsWith('ustar\0') ? 'ustar' : 'v7';
  let name = rawName;
  // Only POSIX ustar has a prefix; GNU keeps atime/ctime in that area.
  if (format === 'ustar') {
    const prefix = cString(b, F.prefix);
    if (prefix !== '') name = `${prefix}/${name}`;
  }
  const num = (field: readonly [number, number], what: string): number => (format === 'v7' && (what === 'devmajor' || what === 'devminor') ? 0 : parseNumeric(b, field, fail, what));
  return {
    format,
    name,
    linkname: cString(b, F.linkname),
    typeflag: String.fromCharCode(b[F.typeflag[0]]!),
    mode: num(F.mode, 'mode') & 0o7777,
    uid: num(F.uid, 'uid'),
    gid: num(F.gid, 'gid'),
    size: num(F.size, 'size'),
    mtime: num(F.mtime, 'mtime'),
    devmajor: num(F.devmajor, 'devmajor'),
    devminor: num(F.devminor, 'devminor'),
  };
}

function cString(b: Buffer, [off, width]: readonly [number, number]): string {
  const nul = b.indexOf(0, off);
  const end = nul === -1 || nul > off + width ? off + width : nul;
  return b.toString('utf8', off, end);
}

/**
 * Parses an octal field (space/NUL padded either side) or a GNU base-256
 * field (high bit of the first byte set; 0xff starts a negative number).
 */
function parseNumeric(b: Buffer, [off, width]: readonly [number, number], fail: (why: string) => never, what: string): number {
  const first = b[off]!;
  if (first & 0x80) {
    // The 0x80 marker bit aside, the field is one two's-complement number.
    let v = BigInt(first & 0x40 ? (first & 0x7f) - 0x80 : first & 0x7f);
    for (let i = 1; i < width; i++) v = (v << 8n) | BigInt(b[off + i]!);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) fail(`${what} out of range`);
    return Number(v);
  }
  let i = off;
  const end = off + width;
  while (i < end && (b[i] === 0x20 || b[i] === 0)) i++;
  let v = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = b[i]!;
    if (c === 0x20 || c === 0) break;
    if (c < 0x30 || c > 0x37) fail(`${what} is not octal`);
    v = v * 8 + (c - 0x30);
    digits++;
  }
  for (; i < end; i++) if (b[i] !== 0x20 && b[i] !== 0) fail(`${what} is not octal`);
  return digits === 0 ? 0 : v;
}

/**
 * Encodes PAX records (`"%d %s=%s\n"`, the length counting itself) in
 * byte order of their keys, so equal inputs give equal bytes.
 */
export function encodePaxRecords(records: ReadonlyMap<string, Buffer>): Buffer {
  const keys = [...records.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const parts: Buffer[] = [];
  for (const key of keys) {
    const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), records.get(key)!, Buffer.from('\n')]);
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len++;
    parts.push(Buffer.from(String(len), 'latin1'), body);
  }
  return Buffer.concat(parts);
}

/** Parses PAX records; values stay raw bytes (xattr values are binary). */
export function parsePaxRecords(data: Buffer, fail: (why: string) => never): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    // Some writers pad the record area with NULs.
    if (data[pos] === 0) break;
    const sp = data.indexOf(0x20, pos);
    if (sp === -1) fail('PAX record without length');
    const lenText = data.toString('latin1', pos, sp);
    if (!/^[0-9]+$/.test(lenText)) fail(`bad PAX record length ${JSON.stringify(lenText)}`);
    const len = Number(lenText);
    const end = pos + len;
    if (len <= sp - pos + 1 || end > data.length || data[end - 1] !== 0x0a) fail('PAX record length does not match');
    const eq = data.indexOf(0x3d, sp + 1);
    if (eq === -1 || eq >= end - 1) fail('PAX record without "="');
    out.set(data.toString('utf8', sp + 1, eq), data.subarray(eq + 1, end - 1));
    pos = end;
  }
  return out;
}
