/**
 * Deterministic tar layer mutations for fuzz-layer.ts: byte flips, header
 * field edits (checksum recomputed, so the edit gets past it, or left wrong
 * on purpose), truncation, entries spliced in, dropped, repeated or swapped,
 * odd PAX records, and the compression wrapper (gzip, zstd) with its own
 * corruptions.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { type Random, chance, int, pick } from './fuzz-kit.ts';
import { BLOCK, FIELD, type FieldName, type RawEntry, type Span, entryBlocks, fixChecksum, numeric, paxData, spans } from './tar-craft.ts';

const NAMES = [
  '../', '../../../../etc/passwd', '/', '/etc/passwd', '.', './', '..', 'a/../..', '.wh..wh..opq', 'etc/.wh..wh..opq', '.wh.etc', '.wh.',
  '.wh..', '.wh...', 'etc/.wh.passwd', '.wh..wh.plnk', 'abs/etc/x', 'up/x', 'etcl/shadow', 'loop/x', 'dangling/x', 'lib/x', 'bin/sh2',
  'a//b///c', 'ü/ñ', '\u202e', 'a\u0000b', 'x'.repeat(100), 'd/'.repeat(50), 'dir/', '', ' ', 'GNUSparseFile.0/x', 'PaxHeaders.0/y', 'dest/../..',
];
const LINKS = ['', '/', '.', '..', '../../../..', '/etc', '/etc/passwd', 'etc/passwd', 'nowhere', 'self', 'bin/sh', 'lib', 'abs', 'up/etc', 'x'.repeat(100), '/proc/self/root', 'loop'];
const TYPES = ['0', '1', '2', '3', '4', '5', '6', '7', 'x', 'g', 'L', 'K', 'S', 'D', 'V', 'M', 'N', 'A', 'Z', '\0', '\x80', '\xff'];
const PAX_KEYS = [
  'path', 'linkpath', 'size', 'uid', 'gid', 'mtime', 'atime', 'ctime', 'uname', 'gname', 'charset', 'comment', 'hdrcharset', 'SCHILY.xattr.user.a',
  'SCHILY.xattr.security.selinux', 'SCHILY.xattr.', 'LIBARCHIVE.xattr.user.b', 'GNU.sparse.major', 'GNU.sparse.minor', 'GNU.sparse.size',
  'GNU.sparse.realsize', 'GNU.sparse.map', 'GNU.sparse.name', 'GNU.sparse.offset', 'GNU.sparse.numbytes', 'GNU.sparse.numblocks', '', '=', ' ', 'ü',
];
const PAX_VALUES = [
  '', '0', '-1', '1e10', '0x10', '1.5', '-1.5', '.5', '1.', '9007199254740993', '99999999999999999999', '1700000000.123456789', 'NaN', ' 1', '1 ',
  '../../etc', '/etc/passwd', '0,1', '0,1,2', '1,0,0,1', '0,4096,0,4096', '9999999999999,1', 'a,b', ',', 'x'.repeat(5000), '\0', '\n', '=', 'ü',
];

/**
 * A numeric field: mostly a number a reader must take (edge values, negative
 * and beyond-2^53 base-256), else one it must refuse (too wide, not octal,
 * blank, garbage).
 */
function oddNumeric(random: Random, width: number): Buffer {
  const valid: (() => Buffer)[] = [
    () => numeric(width, int(random, 8 ** Math.min(width - 1, 11))),
    () => numeric(width, pick(random, [0, 1, 0o777, 0o4755, 0o7777, 65_534, 65_535, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32])),
    () => numeric(width, -1 - int(random, 1000)),
    () => numeric(width, Number.MAX_SAFE_INTEGER - int(random, 3)),
  ];
  if (chance(random, 0.6)) return pick(random, valid)();
  const choices: (() => Buffer)[] = [
    () => numeric(width, 2 ** 53 + 2 ** (int(random, 10) + 1)),
    () => Buffer.from('9'.repeat(width)),
    () => Buffer.from(' '.repeat(width)),
    () => Buffer.alloc(width),
    () => Buffer.from(`-${'7'.repeat(width - 2)}\0`),
    () => Buffer.from(`${'7'.repeat(width)}`),
    () => Buffer.from(` 12 34${' '.repeat(width)}`),
    () => Buffer.concat([Buffer.from([0x80]), Buffer.alloc(width - 1, 0xff)]),
    () => Buffer.concat([Buffer.from([0xff]), Buffer.alloc(width - 1, 0x00)]),
    () => Buffer.from(Array.from({ length: width }, () => int(random, 256))),
  ];
  return pick(random, choices)();
}

/** Changes one field of the header at `at`, in place; the checksum is recomputed 9 times in 10. */
function editField(t: Buffer, at: number, random: Random): void {
  const field = pick(random, Object.keys(FIELD) as FieldName[]);
  const [off, width] = FIELD[field];
  let value: Buffer;
  switch (field) {
    case 'name':
    case 'prefix':
      value = Buffer.from(pick(random, NAMES));
      break;
    case 'linkname':
      value = Buffer.from(pick(random, LINKS));
      break;
    case 'typeflag':
      value = Buffer.from(pick(random, TYPES), 'latin1');
      break;
    case 'magic':
      value = Buffer.from(pick(random, ['ustar\u000000', 'ustar  \u0000', '\0\0\0\0\0\0\0\0', 'ustar\u0000  ', 'USTAR\u000000']), 'latin1');
      break;
    case 'uname':
    case 'gname':
      value = Buffer.from(pick(random, ['', 'root', 'ü'.repeat(20), '\xff'.repeat(32)]), 'latin1');
      break;
    default:
      value = oddNumeric(random, width);
  }
  t.fill(0, at + off, at + off + width);
  value.copy(t, at + off, 0, Math.min(width, value.length));
  if (field !== 'chksum' && chance(random, 0.9)) fixChecksum(t, at);
}

/** PAX records that stretch the parser: odd keys and values, and lengths that lie. */
function oddPax(random: Random): Buffer {
  const records: [string, string][] = Array.from({ length: 1 + int(random, 4) }, () => [pick(random, PAX_KEYS), pick(random, PAX_VALUES)]);
  const good = paxData(records);
  switch (int(random, 6)) {
    case 0: // a length one off
      return Buffer.from(good.toString('latin1').replace(/^(\d+)/, (n) => String(Number(n) + pick(random, [-1, 1, 1000]))), 'latin1');
    case 1: // no newline at the end
      return good.subarray(0, good.length - 1);
    case 2: // a record without '='
      return Buffer.concat([good, Buffer.from('6 abc\n')]);
    case 3: // NUL padding, then more
      return Buffer.concat([good, Buffer.alloc(5), Buffer.from('9 uid=1\n')]);
    case 4: // a length that is not a number, or negative
      return Buffer.concat([Buffer.from(pick(random, ['x path=a\n', '-5 a=b\n', '0 =\n', '99999999999999999999 path=a\n'])), good]);
    default:
      return good;
  }
}

function entry(t: Buffer, s: Span): Buffer {
  return t.subarray(s.header, s.end);
}

/** Replaces the bytes `[from, to)` of `t`. */
function splice(t: Buffer, from: number, to: number, insert: Buffer): Buffer {
  return Buffer.concat([t.subarray(0, from), insert, t.subarray(to)]);
}

function structural(t: Buffer, random: Random, seeds: readonly Buffer[], hostile: readonly RawEntry[][]): Buffer {
  const s = spans(t);
  const somewhere = (): number => (s.length === 0 ? 0 : pick(random, [...s.map((x) => x.header), s[s.length - 1]!.end]));
  switch (int(random, 9)) {
    case 0: { // a hostile entry group, somewhere
      const group = pick(random, hostile);
      const at = somewhere();
      return splice(t, at, at, Buffer.concat(group.map(entryBlocks)));
    }
    case 1: { // an entry repeated
      if (s.length === 0) return t;
      const e = pick(random, s);
      const at = somewhere();
      return splice(t, at, at, entry(t, e));
    }
    case 2: { // an entry dropped (an extension header may be left without its entry)
      if (s.length === 0) return t;
      const e = pick(random, s);
      return splice(t, e.header, e.end, Buffer.alloc(0));
    }
    case 3: { // two entries swapped (a hardlink before its target, a file before its directory)
      if (s.length < 2) return t;
      const [a, b] = [pick(random, s), pick(random, s)].sort((x, y) => x.header - y.header) as [Span, Span];
      if (a.end > b.header) return t;
      return Buffer.concat([t.subarray(0, a.header), entry(t, b), t.subarray(a.end, b.header), entry(t, a), t.subarray(b.end)]);
    }
    case 4: { // entries of another seed
      const other = pick(random, seeds);
      const os = spans(other);
      if (os.length === 0) return t;
      const first = int(random, os.length);
      const last = Math.min(os.length - 1, first + int(random, 4));
      const at = somewhere();
      return splice(t, at, at, other.subarray(os[first]!.header, os[last]!.end));
    }
    case 5: { // an odd PAX header before an entry
      const data = oddPax(random);
      const h = Buffer.alloc(BLOCK);
      h.write('PaxHeaders/x', 0);
      numeric(8, 0o644).copy(h, FIELD.mode[0]);
      numeric(12, chance(random, 0.8) ? data.length : int(random, data.length + 600)).copy(h, FIELD.size[0]);
      h.write(chance(random, 0.8) ? 'x' : 'g', FIELD.typeflag[0], 'latin1');
      h.write('ustar\u000000', FIELD.magic[0], 'latin1');
      fixChecksum(h);
      const pad = Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK);
      const at = somewhere();
      return splice(t, at, at, Buffer.concat([h, data, pad]));
    }
    case 6: { // a GNU long name or link of odd content
      const text = pick(random, ['', '../../../x', 'a'.repeat(5000), 'a\0b', '/abs/olute', '.wh..wh..opq', 'dir/'.repeat(700)]);
      const data = Buffer.from(text);
      const h = Buffer.alloc(BLOCK);
      h.write('././@LongLink', 0);
      numeric(12, data.length).copy(h, FIELD.size[0]);
      h.write(chance(random, 0.5) ? 'L' : 'K', FIELD.typeflag[0], 'latin1');
      h.write('ustar  \u0000', FIELD.magic[0], 'latin1');
      fixChecksum(h);
      const at = somewhere();
      return splice(t, at, at, Buffer.concat([h, data, Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK)]));
    }
    case 7: { // a size field that lies, checksum fixed
      if (s.length === 0) return t;
      const e = pick(random, s);
      const size = pick(random, [0, 1, 511, 512, 513, e.end - e.header, 2 ** 33, 2 ** 40, 8 ** 11 - 1, 64 * 1024 ** 3]);
      numeric(12, size).copy(t, e.header + FIELD.size[0]);
      fixChecksum(t, e.header);
      return t;
    }
    default: { // zero blocks where they do not belong, or garbage after the end
      const at = somewhere();
      return splice(t, at, at, chance(random, 0.5) ? Buffer.alloc(BLOCK * (1 + int(random, 2))) : Buffer.from(Array.from({ length: 1 + int(random, 700) }, () => int(random, 256))));
    }
  }
}

function bytes(t: Buffer, random: Random): Buffer {
  const s = spans(t);
  const n = 1 + int(random, 8);
  for (let i = 0; i < n && t.length > 0; i++) {
    // Mostly inside a header, whose checksum is then made right again.
    if (s.length > 0 && chance(random, 0.8)) {
      const e = pick(random, s);
      t[e.header + int(random, BLOCK)] = int(random, 256);
      if (chance(random, 0.9)) fixChecksum(t, e.header);
    } else t[int(random, t.length)] = int(random, 256);
  }
  return t;
}

function truncate(t: Buffer, random: Random): Buffer {
  switch (int(random, 4)) {
    case 0:
      return t.subarray(0, int(random, t.length + 1));
    case 1:
      return t.subarray(0, BLOCK * int(random, Math.ceil(t.length / BLOCK) + 1));
    case 2: { // without the end-of-archive blocks, as umoci writes
      let end = t.length;
      while (end >= BLOCK && t.subarray(end - BLOCK, end).every((x) => x === 0)) end -= BLOCK;
      return t.subarray(0, end - (chance(random, 0.3) ? int(random, BLOCK) : 0));
    }
    default:
      return t.subarray(0, Math.max(0, t.length - 1 - int(random, 3 * BLOCK)));
  }
}

/** A mutated layer tar: a seed with 1-4 mutations. */
export function mutateTar(seeds: readonly Buffer[], hostile: readonly RawEntry[][], random: Random): Buffer {
  let t: Buffer = Buffer.from(pick(random, seeds));
  const rounds = 1 + int(random, 4);
  for (let r = 0; r < rounds; r++) {
    const k = int(random, 20);
    if (k < 5) t = bytes(t, random);
    else if (k < 10) {
      const s = spans(t);
      if (s.length > 0) editField(t, pick(random, s).header, random);
    } else if (k < 18) t = structural(t, random, seeds, hostile);
    else t = truncate(t, random);
  }
  return t;
}

export type Wrapping = 'none' | 'gzip' | 'zstd';

/** The layer blob: the tar as it is, gzip- or zstd-compressed, maybe with the compressed stream damaged. */
export function wrap(t: Buffer, random: Random): { blob: Buffer; wrapping: Wrapping } {
  const k = int(random, 100);
  if (k < 55) return { blob: t, wrapping: 'none' };
  if (k < 60 && HAS_ZSTD) return { blob: zstd(t, random), wrapping: 'zstd' };
  let gz = gzipSync(t, { level: 1 + int(random, 9) });
  if (chance(random, 0.6)) return { blob: gz, wrapping: 'gzip' };
  gz = Buffer.from(gz);
  switch (int(random, 9)) {
    case 0: // a flipped byte in the deflate data
      flip(gz, 10 + int(random, Math.max(1, gz.length - 18)), random);
      break;
    case 1: // cut short
      gz = gz.subarray(0, int(random, gz.length));
      break;
    case 2: // CRC or length trailer wrong
      flip(gz, gz.length - 1 - int(random, 8), random);
      break;
    case 3: // garbage after the member
      gz = Buffer.concat([gz, Buffer.from(Array.from({ length: 1 + int(random, 64) }, () => int(random, 256)))]);
      break;
    case 4: // a second member (valid gzip: the tar continues in it)
      gz = Buffer.concat([gzipSync(t.subarray(0, t.length >> 1)), gzipSync(t.subarray(t.length >> 1))]);
      break;
    case 5: // header flags announcing fields that are not there
      gz[3] = int(random, 256);
      break;
    case 6: // gzip magic, then nothing sensible
      gz = Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.from(Array.from({ length: int(random, 100) }, () => int(random, 256)))]);
      break;
    case 7: // gzip inside gzip
      gz = gzipSync(gz);
      break;
    default: // an empty member
      gz = gzipSync(Buffer.alloc(0));
  }
  return { blob: gz, wrapping: 'gzip' };
}

/** The zstd program, which Node 20's kiln also needs to read zstd layers (without it: ZSTD_UNSUPPORTED, nothing to fuzz). */
const HAS_ZSTD = spawnSync('zstd', ['--version'], { stdio: 'ignore' }).status === 0;

function flip(b: Buffer, at: number, random: Random): void {
  if (at >= 0 && at < b.length) b[at] = b[at]! ^ (1 << int(random, 8));
}

function zstd(t: Buffer, random: Random): Buffer {
  const level = 1 + int(random, 5);
  const z = Buffer.from(execFileSync('zstd', ['-q', '-c', `-${level}`], { input: t, maxBuffer: 1 << 28 }));
  if (chance(random, 0.6)) return z;
  if (chance(random, 0.5)) return z.subarray(0, int(random, z.length));
  flip(z, 4 + int(random, Math.max(1, z.length - 4)), random);
  return z;
}
