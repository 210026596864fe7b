/**
 * Raw tar blocks for the layer fuzzer, written here rather than with kiln's
 * own writer so that any field can hold anything (bad octal, base-256,
 * lying sizes, odd type flags) and the checksum can be made right or left
 * wrong on purpose. Also the hostile entries the corpus must contain: `../`
 * escapes, absolute symlinks written through, hardlinks out of the root,
 * whiteouts in odd places, deep paths, PAX and GNU extensions, sparse maps.
 */

export const BLOCK = 512;

/** Field offsets and widths of a ustar header (POSIX.1-2017). */
export const FIELD = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 8],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
} as const satisfies Record<string, readonly [number, number]>;

export type FieldName = keyof typeof FIELD;

export interface RawEntry {
  name: string;
  /** Type flag, default `0`. */
  type?: string;
  data?: Buffer;
  /** The header's size field; defaults to the data's length. */
  size?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string;
  prefix?: string;
  magic?: 'ustar' | 'gnu' | 'v7';
  devmajor?: number;
  devminor?: number;
  /** PAX records for an `x` header written before this entry (duplicates kept). */
  pax?: readonly (readonly [string, string | Buffer])[];
  /** GNU long name (`L`) and long link (`K`) entries written before this one. */
  longName?: string;
  longLink?: string;
  /** Old GNU sparse map in the header: offset/size pairs (up to 4), real size, and extension blocks of further pairs. */
  sparse?: { realSize: number; chunks: readonly (readonly [number, number])[]; extension?: readonly (readonly [number, number])[] };
}

const MAGIC = { ustar: 'ustar\u000000', gnu: 'ustar  \u0000', v7: '' } as const;

function put(b: Buffer, [off, width]: readonly [number, number], value: string | Buffer): void {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  bytes.copy(b, off, 0, Math.min(width, bytes.length));
}

/** An octal field, or base-256 when the number does not fit (GNU). */
export function numeric(width: number, value: number): Buffer {
  const out = Buffer.alloc(width);
  if (value >= 0 && value < 8 ** (width - 1)) {
    out.write(`${value.toString(8).padStart(width - 1, '0')}\0`, 'latin1');
    return out;
  }
  let v = BigInt(value);
  for (let i = width - 1; i >= 1; i--) {
    out[i] = Number(BigInt.asUintN(8, v));
    v >>= 8n;
  }
  out[0] = value < 0 ? 0xff : 0x80;
  return out;
}

/** Sets the checksum field from the block's bytes (six octal digits, NUL, space). */
export function fixChecksum(b: Buffer, at = 0): void {
  b.fill(0x20, at + FIELD.chksum[0], at + FIELD.chksum[0] + FIELD.chksum[1]);
  let sum = 0;
  for (let i = at; i < at + BLOCK; i++) sum += b[i]!;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, at + FIELD.chksum[0], 'latin1');
}

/** One header block. */
export function header(e: RawEntry, size: number): Buffer {
  const b = Buffer.alloc(BLOCK);
  put(b, FIELD.name, e.name);
  put(b, FIELD.mode, numeric(8, e.mode ?? (e.type === '5' ? 0o755 : 0o644)));
  put(b, FIELD.uid, numeric(8, e.uid ?? 0));
  put(b, FIELD.gid, numeric(8, e.gid ?? 0));
  put(b, FIELD.size, numeric(12, size));
  put(b, FIELD.mtime, numeric(12, e.mtime ?? 1_700_000_000));
  put(b, FIELD.typeflag, e.type ?? '0');
  put(b, FIELD.linkname, e.linkname ?? '');
  const magic = e.magic ?? 'ustar';
  put(b, FIELD.magic, MAGIC[magic]);
  if (magic !== 'v7') {
    put(b, FIELD.uname, 'root');
    put(b, FIELD.gname, 'root');
    put(b, FIELD.devmajor, numeric(8, e.devmajor ?? 0));
    put(b, FIELD.devminor, numeric(8, e.devminor ?? 0));
  }
  if (e.prefix !== undefined) put(b, FIELD.prefix, e.prefix);
  if (e.sparse !== undefined) {
    e.sparse.chunks.slice(0, 4).forEach(([o, n], i) => {
      put(b, [386 + i * 24, 12], numeric(12, o));
      put(b, [398 + i * 24, 12], numeric(12, n));
    });
    if ((e.sparse.extension ?? []).length > 0) b[482] = 1;
    put(b, [483, 12], numeric(12, e.sparse.realSize));
  }
  fixChecksum(b);
  return b;
}

/** PAX record data with correct lengths, in the order given. */
export function paxData(records: readonly (readonly [string, string | Buffer])[]): Buffer {
  return Buffer.concat(
    records.map(([k, v]) => {
      const body = Buffer.concat([Buffer.from(` ${k}=`), typeof v === 'string' ? Buffer.from(v) : v, Buffer.from('\n')]);
      let len = body.length + 1;
      while (String(len).length + body.length !== len) len++;
      return Buffer.concat([Buffer.from(String(len)), body]);
    }),
  );
}

export function padded(data: Buffer): Buffer {
  const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
  return pad === 0 ? data : Buffer.concat([data, Buffer.alloc(pad)]);
}

/** The blocks of one entry, its extension headers included. */
export function entryBlocks(e: RawEntry): Buffer {
  const parts: Buffer[] = [];
  const meta = (name: string, type: string, data: Buffer): void => {
    parts.push(header({ name, type, magic: type === 'L' || type === 'K' ? 'gnu' : 'ustar', mode: 0o644 }, data.length), padded(data));
  };
  if (e.pax !== undefined) meta(`PaxHeaders/${e.name.slice(0, 80)}`, 'x', paxData(e.pax));
  if (e.longName !== undefined) meta('././@LongLink', 'L', Buffer.from(`${e.longName}\0`));
  if (e.longLink !== undefined) meta('././@LongLink', 'K', Buffer.from(`${e.longLink}\0`));
  const data = e.data ?? Buffer.alloc(0);
  parts.push(header(e, e.size ?? data.length));
  for (let i = 0; i < (e.sparse?.extension ?? []).length; i += 21) {
    const ext = Buffer.alloc(BLOCK);
    (e.sparse?.extension ?? []).slice(i, i + 21).forEach(([o, n], j) => {
      put(ext, [j * 24, 12], numeric(12, o));
      put(ext, [j * 24 + 12, 12], numeric(12, n));
    });
    if (i + 21 < (e.sparse?.extension ?? []).length) ext[21 * 24] = 1;
    parts.push(ext);
  }
  parts.push(padded(data));
  return Buffer.concat(parts);
}

/** A whole archive; `eof` zero blocks at the end (2 is the standard, umoci writes none). */
export function tar(entries: readonly RawEntry[], eof = 2): Buffer {
  return Buffer.concat([...entries.map(entryBlocks), Buffer.alloc(eof * BLOCK)]);
}

/** Reads an octal or base-256 field leniently (for walking archives); NaN when it is neither. */
export function readNumeric(b: Buffer, at: number, [off, width]: readonly [number, number]): number {
  const first = b[at + off] ?? 0;
  if (first & 0x80) {
    let v = 0n;
    for (let i = 1; i < width; i++) v = (v << 8n) | BigInt(b[at + off + i] ?? 0);
    return Number(first & 0x40 ? -v : v);
  }
  const text = b.toString('latin1', at + off, at + off + width).replace(/[\0 ].*$/s, '').trim();
  return text === '' ? 0 : /^[0-7]+$/.test(text) ? parseInt(text, 8) : NaN;
}

/** One entry's place in an archive: its header block and where the next entry starts. */
export interface Span {
  header: number;
  end: number;
}

/**
 * The entries of the well-formed prefix of an archive, as a walk over
 * headers and padded bodies finds them (extension headers are entries of
 * their own); stops at a zero block, a bad size or the end.
 */
export function spans(t: Buffer): Span[] {
  const out: Span[] = [];
  let at = 0;
  while (at + BLOCK <= t.length && out.length < 10_000) {
    if (t.subarray(at, at + BLOCK).every((x) => x === 0)) break;
    const size = readNumeric(t, at, FIELD.size);
    const type = String.fromCharCode(t[at + FIELD.typeflag[0]] ?? 0);
    const carries = ['0', '\0', '7', 'x', 'g', 'L', 'K', 'S', 'D', 'V'].includes(type);
    if (!Number.isSafeInteger(size) || size < 0) break;
    let ext = 0;
    if (type === 'S' && t[at + 482] !== 0) {
      ext = 1;
      while (at + (ext + 1) * BLOCK <= t.length && t[at + ext * BLOCK + 504] !== 0) ext++;
    }
    const end = at + BLOCK * (1 + ext) + (carries ? Math.ceil(size / BLOCK) * BLOCK : 0);
    if (end > t.length) break;
    out.push({ header: at, end });
    at = end;
  }
  return out;
}

/** Entries a hostile or careless layer writer produces: every one is confined or refused by kiln. */
export function hostileEntries(): RawEntry[][] {
  const file = (name: string, text = 'x\n', extra: Partial<RawEntry> = {}): RawEntry => ({ name, data: Buffer.from(text), ...extra });
  const dir = (name: string, extra: Partial<RawEntry> = {}): RawEntry => ({ name, type: '5', ...extra });
  const sym = (name: string, linkname: string): RawEntry => ({ name, type: '2', linkname, mode: 0o777 });
  const hard = (name: string, linkname: string): RawEntry => ({ name, type: '1', linkname });
  const deep = Array.from({ length: 600 }, (_, i) => `d${i % 10}`).join('/');
  return [
    // Escapes by name.
    [file('../../../../../../tmp/kiln-fuzz-escape'), file('/etc/kiln-fuzz-abs'), file('a/../../../../etc/kiln-fuzz-dotdot')],
    [{ ...file('ok'), pax: [['path', '../../../../../../tmp/kiln-fuzz-pax']] }, { ...file('ok2'), longName: '../'.repeat(40) + 'tmp/kiln-fuzz-long' }],
    // Escapes through symlinks: an absolute one and one climbing out, then entries written through them.
    [sym('evil', '/etc'), file('evil/kiln-fuzz-through-abs'), sym('up', '../../../../../../..'), file('up/tmp/kiln-fuzz-through-up'), dir('up/tmp/kiln-fuzz-dir')],
    [sym('proc', '/proc/self/root'), file('proc/tmp/kiln-fuzz-proc'), sym('loop', 'loop'), file('loop/x')],
    [dir('d'), sym('d/l', '../../..'), file('d/l/kiln-fuzz-nested'), hard('d/l/h', 'etc/passwd')],
    // Hardlinks out of the root, to nowhere, to directories, to themselves, in chains.
    [hard('h1', '../../../../etc/passwd'), hard('h2', '/etc/shadow'), hard('h3', 'nowhere'), hard('h4', 'h4')],
    [file('t', 'target'), hard('h', 't'), hard('hh', 'h'), hard('hd', 'etc'), hard('hs', 'lib/libc.so'), hard('hdot', '.')],
    // Whiteouts in odd places.
    [file('.wh..wh..opq'), file('etc/.wh..wh..opq'), file('nodir/.wh..wh..opq'), file('.wh.etc'), file('etc/new')],
    [file('.wh...'), file('.wh..'), file('.wh.'), file('../.wh.etc'), file('x/../../.wh.usr'), file('.wh..wh..plnk/1'), file('.wh..wh.aufs')],
    [dir('.wh.dir'), sym('.wh.lib', '/'), hard('.wh.bin', 'etc/passwd'), { name: '.wh.x', type: '3', devmajor: 1, devminor: 3 }, file('etc/.wh.passwd'), file('etc/passwd', 'again')],
    [file('abs/.wh.etc'), file('evil/.wh.passwd'), file('up/.wh.tmp'), file('etcl/.wh.passwd')],
    // Names and paths at and past the limits.
    [{ ...file('deep'), pax: [['path', deep]] }, { ...file('long'), pax: [['path', 'n'.repeat(255)]] }, { ...file('long2'), pax: [['path', 'n'.repeat(256)]] }],
    [{ ...sym('longtarget', 'x'), pax: [['linkpath', 't/'.repeat(2100)]] }, { name: 'nul', pax: [['path', 'a\0b']], data: Buffer.from('z') }],
    // Replacing what lower layers have: directories by files, symlinks by directories, in both orders.
    [file('etc', 'now a file'), dir('lib'), file('usr/lib'), sym('bin', '/usr/bin'), file('bin/sh2', 'through the new link')],
    [file('x'), dir('x'), file('x/y'), sym('x', '/'), file('x/z'), file('x')],
    // Devices and fifos, setuid modes, odd owners.
    [{ name: 'dev/sda', type: '4', devmajor: 8, devminor: 0 }, { name: 'dev/null', type: '3', devmajor: 1, devminor: 3 }, { name: 'fifo', type: '6' }],
    [file('suid', '#!/bin/sh\n', { mode: 0o6755 }), dir('sticky', { mode: 0o1777 }), file('owner', '', { uid: 2 ** 32 + 5, gid: -3 }), file('neg', '', { mtime: -1 })],
    // Extension headers: global PAX, xattrs, odd mtimes, sizes that lie.
    [
      { name: 'pax_global_header', type: 'g', data: paxData([['uid', '4242'], ['path', 'ignored'], ['SCHILY.xattr.user.g', 'v']]) },
      { ...file('px'), pax: [['mtime', '-1.5'], ['uid', '99999999999'], ['SCHILY.xattr.security.capability', Buffer.from([1, 0, 0, 2, 0, 0, 0, 0])], ['SCHILY.xattr.', 'empty key']] },
      { ...file('sz'), pax: [['size', '3']] },
    ],
    // Sparse files in each GNU form.
    [
      { name: 'sparse-old', type: 'S', magic: 'gnu', data: Buffer.from('abcd'), sparse: { realSize: 1 << 20, chunks: [[0, 2], [4096, 2]] } },
      { name: 'sparse-ext', type: 'S', magic: 'gnu', data: Buffer.alloc(6, 0x61), sparse: { realSize: 100_000, chunks: [[0, 1], [10, 1], [20, 1], [30, 1]], extension: [[40, 1], [50, 1]] } },
    ],
    [
      { ...file('GNUSparseFile.0/s00', 'ab'), pax: [['GNU.sparse.size', '5000'], ['GNU.sparse.numblocks', '2'], ['GNU.sparse.offset', '0'], ['GNU.sparse.numbytes', '1'], ['GNU.sparse.offset', '4000'], ['GNU.sparse.numbytes', '1']] },
      { ...file('GNUSparseFile.0/s01', 'ab'), pax: [['GNU.sparse.size', '5000'], ['GNU.sparse.map', '0,1,4000,1'], ['GNU.sparse.name', 's01']] },
      {
        name: 'GNUSparseFile.0/s10',
        data: Buffer.concat([padded(Buffer.from('2\n0\n1\n4000\n1\n')), Buffer.from('ab')]),
        pax: [['GNU.sparse.major', '1'], ['GNU.sparse.minor', '0'], ['GNU.sparse.name', 's10'], ['GNU.sparse.realsize', '5000']],
      },
    ],
  ];
}

/** The base image's layer the fuzzed layers are applied on: directories, files, and symlinks that point out of it. */
export function baseLayerEntries(): RawEntry[] {
  return [
    { name: 'etc/', type: '5' },
    { name: 'etc/passwd', data: Buffer.from('root:x:0:0:root:/root:/bin/sh\n') },
    { name: 'usr/', type: '5' },
    { name: 'usr/lib/', type: '5' },
    { name: 'usr/lib/libc.so', data: Buffer.from('\x7fELF') },
    { name: 'bin/', type: '5' },
    { name: 'bin/sh', data: Buffer.from('#!sh\n'), mode: 0o755 },
    { name: 'bin/sh2', type: '1', linkname: 'bin/sh' },
    { name: 'lib', type: '2', linkname: 'usr/lib' },
    { name: 'abs', type: '2', linkname: '/' },
    { name: 'etcl', type: '2', linkname: '/etc' },
    { name: 'up', type: '2', linkname: '../../../..' },
    { name: 'loop', type: '2', linkname: 'loop' },
    { name: 'dangling', type: '2', linkname: '/nowhere/at/all' },
    { name: 'dest/', type: '5' },
  ];
}
