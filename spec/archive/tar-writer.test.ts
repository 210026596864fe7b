import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { ArchiveError, tarStream, type TarWriteEntry } from '../../lib/archive/index.ts';
import { collect, pythonList, run, tempDir } from './tar-tools.ts';

const T = 1_700_000_000;
const LONG_SPLIT = `deep/${'x'.repeat(150)}/file`; // 160 bytes: fits ustar's prefix/name split
const LONG_PAX = `deep/${'y'.repeat(200)}/${'z'.repeat(100)}`; // 306 bytes: needs PAX
const LONG_COMPONENT = 'n'.repeat(120); // one segment over 100 bytes: no split possible
const LONG_TARGET = 'l'.repeat(200);
const CONF = Buffer.from('key = value\n'.repeat(9000)); // 108 000 bytes, several chunks
const PASSWD = Buffer.from('root:x:0:0:root:/root:/bin/sh\n');

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function base(name: string, type: TarWriteEntry['type'], extra: Partial<TarWriteEntry> = {}): TarWriteEntry {
  return { name, type, mode: type === 'directory' ? 0o755 : 0o644, uid: 0, gid: 0, mtime: T, size: 0, ...extra };
}

function file(name: string, data: Buffer, extra: Partial<TarWriteEntry> = {}): TarWriteEntry {
  return base(name, 'file', { size: data.length, body: () => data, ...extra });
}

/** A stream body handing out the data in uneven chunks, fresh on every call. */
function streamed(data: Buffer): () => Readable {
  return () => Readable.from([data.subarray(0, 1000), data.subarray(1000, 70_000), data.subarray(70_000)]);
}

function sampleEntries(): TarWriteEntry[] {
  return [
    base('etc', 'directory'),
    file('etc/passwd', PASSWD, { xattrs: { 'user.kiln': Buffer.from([0x76, 0, 0xff]), 'user.a': Buffer.from('x'), 'user.m': Buffer.alloc(0) } }),
    base('etc/app.conf', 'file', { size: CONF.length, body: streamed(CONF), uid: 1000, gid: 1001, mode: 0o600 }),
    base('etc/link', 'symlink', { linkname: '../a/b', mode: 0o777 }),
    base('etc/longlink', 'symlink', { linkname: LONG_TARGET, mode: 0o777 }),
    base('z-hard', 'hardlink', { linkname: '/etc/passwd' }),
    base('a', 'directory', { mode: 0o750 }),
    file('a/b', Buffer.from('b\n')),
    file('a-b', Buffer.from('dash\n')),
    file('a.b', Buffer.from('dot\n')),
    file('a/setuid', Buffer.from('s'), { mode: 0o4755 }),
    file(LONG_SPLIT, Buffer.from('split\n')),
    file(LONG_PAX, Buffer.from('pax\n')),
    file(LONG_COMPONENT, Buffer.from('component\n')),
    file('ünï/файл.txt', Buffer.from('unicode\n')),
    file('big-uid', Buffer.from('u'), { uid: 3_000_000, gid: 2_100_000 }),
    file('empty', Buffer.alloc(0)),
    base('dev/null', 'character-device', { devmajor: 1, devminor: 3, mode: 0o666 }),
    base('dev/loop0', 'block-device', { devmajor: 7, devminor: 0, mode: 0o660 }),
    base('run/fifo', 'fifo'),
  ];
}

// Component-wise order: `a`, then its subtree, then `a-b`, `a.b` (plain
// string order would put `a/b` after `a.b`).
const EXPECTED_ORDER = [
  'a/',
  'a/b',
  'a/setuid',
  'a-b',
  'a.b',
  'big-uid',
  LONG_SPLIT,
  LONG_PAX,
  'dev/loop0',
  'dev/null',
  'empty',
  'etc/',
  'etc/app.conf',
  'etc/link',
  'etc/longlink',
  'etc/passwd',
  LONG_COMPONENT,
  'run/fifo',
  'z-hard',
  'ünï/файл.txt',
];

async function writeTar(entries: readonly TarWriteEntry[], opts = {}): Promise<{ bytes: Buffer; path: string; cleanup: () => void }> {
  const bytes = await collect(tarStream(entries, opts));
  const { dir, cleanup } = tempDir();
  const path = join(dir, 'out.tar');
  writeFileSync(path, bytes);
  return { bytes, path, cleanup };
}

function shuffle<T>(xs: readonly T[], seed: number): T[] {
  const out = [...xs];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('tarStream', () => {
  it('gives identical bytes for the same entries in any order', async () => {
    const first = await collect(tarStream(sampleEntries()));
    for (const seed of [1, 2, 3]) {
      assert.ok(first.equals(await collect(tarStream(shuffle(sampleEntries(), seed)))), `seed ${seed}`);
    }
    assert.ok(first.equals(await collect(tarStream([...sampleEntries()].reverse()))));
  });

  it('is read back by python tarfile with every field as written', async () => {
    const { bytes, path, cleanup } = await writeTar(sampleEntries());
    try {
      const { members, end } = pythonList(path);
      // python strips a directory's trailing slash from its names
      assert.deepEqual(
        members.map((m) => m.name),
        EXPECTED_ORDER.map((n) => n.replace(/\/$/, '')),
      );
      const by = new Map(members.map((m) => [m.name, m]));
      const m = (n: string) => by.get(n)!;
      for (const x of members) {
        assert.equal(x.uname, '', x.name);
        assert.equal(x.gname, '', x.name);
        assert.ok(!x.pax.some(([k]) => k === 'atime' || k === 'ctime'), x.name);
      }
      assert.deepEqual([m('etc').type, m('etc').mode, m('etc').mtime], ['5', 0o755, T]);
      assert.deepEqual([m('etc/passwd').type, m('etc/passwd').sha256], ['0', sha(PASSWD)]);
      assert.deepEqual([m('etc/app.conf').mode, m('etc/app.conf').uid, m('etc/app.conf').gid, m('etc/app.conf').size], [0o600, 1000, 1001, CONF.length]);
      assert.equal(m('etc/app.conf').sha256, sha(CONF));
      assert.equal(m('a/setuid').mode, 0o4755);
      assert.deepEqual([m('etc/link').type, m('etc/link').linkname], ['2', '../a/b']);
      assert.deepEqual([m('etc/longlink').type, m('etc/longlink').linkname], ['2', LONG_TARGET]);
      assert.deepEqual([m('z-hard').type, m('z-hard').linkname], ['1', 'etc/passwd']);
      assert.deepEqual([m('dev/null').type, m('dev/null').devmajor, m('dev/null').devminor, m('dev/null').mode], ['3', 1, 3, 0o666]);
      assert.deepEqual([m('dev/loop0').type, m('dev/loop0').devmajor, m('dev/loop0').devminor], ['4', 7, 0]);
      assert.equal(m('run/fifo').type, '6');
      assert.deepEqual([m('big-uid').uid, m('big-uid').gid], [3_000_000, 2_100_000]);
      assert.equal(m(LONG_PAX).sha256, sha(Buffer.from('pax\n')));
      assert.equal(m('ünï/файл.txt').sha256, sha(Buffer.from('unicode\n')));
      // PAX headers only where ustar cannot hold the value, records in key order.
      const paxKeys = Object.fromEntries(members.filter((x) => x.pax.length > 0).map((x) => [x.name, x.pax.map(([k]) => k)]));
      assert.deepEqual(paxKeys, {
        'big-uid': ['gid', 'uid'],
        [LONG_PAX]: ['path'],
        'etc/longlink': ['linkpath'],
        'etc/passwd': ['SCHILY.xattr.user.a', 'SCHILY.xattr.user.kiln', 'SCHILY.xattr.user.m'],
        [LONG_COMPONENT]: ['path'],
        'ünï/файл.txt': ['path'],
      });
      const xattr = m('etc/passwd').pax.find(([k]) => k === 'SCHILY.xattr.user.kiln');
      assert.equal(xattr?.[1], '7600ff');
      // Ends with exactly the two zero blocks.
      assert.equal(bytes.length % 512, 0);
      assert.equal(end, bytes.length - 1024);
      assert.ok(bytes.subarray(end).every((b) => b === 0));
    } finally {
      cleanup();
    }
  });

  it('is listed by GNU tar with the same names, modes, owners, dates and targets', async () => {
    const { path, cleanup } = await writeTar(sampleEntries());
    try {
      // TZ rather than --utc: GNU tar 1.34 drops the xattr lines with --utc.
      const listing = run('env', ['TZ=UTC', 'tar', '--numeric-owner', '--xattrs', '-tvvvf', path]).toString('utf8');
      // --xattrs adds a column for the `*` mark; no name here has spaces.
      const lines = listing
        .split('\n')
        .filter((l) => l !== '' && !l.startsWith('  x: '))
        .map((l) => l.replace(/ +/g, ' '));
      const names = lines.map((l) => l.replace(/^(\S+ ){5}/, '').replace(/ (->|link to) .*$/, ''));
      assert.deepEqual(names, EXPECTED_ORDER);
      const line = (name: string) => lines[EXPECTED_ORDER.indexOf(name)]!;
      assert.match(line('etc/'), /^drwxr-xr-x 0\/0 0 2023-11-14 22:13 etc\/$/);
      assert.match(line('etc/app.conf'), /^-rw------- 1000\/1001 108000 2023-11-14 22:13 etc\/app.conf$/);
      assert.match(line('a/setuid'), /^-rwsr-xr-x 0\/0 /);
      assert.match(line('etc/longlink'), new RegExp(`^lrwxrwxrwx 0/0 0 2023-11-14 22:13 etc/longlink -> ${LONG_TARGET}$`));
      assert.match(line('z-hard'), /^hrw-r--r-- 0\/0 0 2023-11-14 22:13 z-hard link to etc\/passwd$/);
      assert.match(line('dev/null'), /^crw-rw-rw- 0\/0 1,3 /);
      assert.match(line('dev/loop0'), /^brw-rw---- 0\/0 7,0 /);
      assert.match(line('run/fifo'), /^prw-r--r-- /);
      assert.match(line('big-uid'), /^-rw-r--r-- 3000000\/2100000 /);
      assert.match(listing, /etc\/passwd\n {2}x: 1 user\.a\n {2}x: 3 user\.kiln\n {2}x: 0 user\.m\n/);
    } finally {
      cleanup();
    }
  });

  it('is extracted by GNU tar --xattrs with contents, modes, owners, mtimes, links and xattrs', async () => {
    const { path, cleanup } = await writeTar(sampleEntries());
    const out = tempDir();
    try {
      run('tar', ['--xattrs', '--xattrs-include=user.*', '--same-owner', '-xpf', path, '-C', out.dir]);
      const p = (n: string) => join(out.dir, n);
      assert.ok(readFileSync(p('etc/app.conf')).equals(CONF));
      assert.ok(readFileSync(p(LONG_PAX)).equals(Buffer.from('pax\n')));
      assert.ok(readFileSync(p('ünï/файл.txt')).equals(Buffer.from('unicode\n')));
      const conf = lstatSync(p('etc/app.conf'));
      assert.deepEqual([conf.mode & 0o7777, conf.uid, conf.gid, conf.mtimeMs / 1000], [0o600, 1000, 1001, T]);
      assert.equal(lstatSync(p('a/setuid')).mode & 0o7777, 0o4755);
      assert.equal(readlinkSync(p('etc/longlink')), LONG_TARGET);
      assert.equal(lstatSync(p('z-hard')).ino, lstatSync(p('etc/passwd')).ino);
      const dev = lstatSync(p('dev/null'));
      assert.ok(dev.isCharacterDevice());
      assert.equal(dev.rdev, (1 << 8) | 3);
      assert.ok(lstatSync(p('run/fifo')).isFIFO());
      const xattr = run('python3', ['-c', 'import os,sys; print(os.getxattr(sys.argv[1], "user.kiln").hex())', p('etc/passwd')]);
      assert.equal(xattr.toString().trim(), '7600ff');
    } finally {
      cleanup();
      out.cleanup();
    }
  });

  it('writes a hardlink after its target, swapping roles when the link sorts first', async () => {
    const entries = [file('b-target', Buffer.from('shared\n'), { mode: 0o640, uid: 5 }), base('a-link', 'hardlink', { linkname: 'b-target' }), base('c-link', 'hardlink', { linkname: 'a-link' })];
    const { path, cleanup } = await writeTar(entries);
    const out = tempDir();
    try {
      const { members } = pythonList(path);
      assert.deepEqual(
        members.map((m) => [m.name, m.type, m.linkname, m.mode, m.uid]),
        [
          ['a-link', '0', '', 0o640, 5],
          ['b-target', '1', 'a-link', 0o640, 5],
          ['c-link', '1', 'a-link', 0o640, 5],
        ],
      );
      run('tar', ['-xf', path, '-C', out.dir]);
      const ino = lstatSync(join(out.dir, 'b-target')).ino;
      assert.equal(lstatSync(join(out.dir, 'a-link')).ino, ino);
      assert.equal(lstatSync(join(out.dir, 'c-link')).ino, ino);
      assert.equal(readFileSync(join(out.dir, 'c-link'), 'utf8'), 'shared\n');
    } finally {
      cleanup();
      out.cleanup();
    }
  });

  it('clamps mtimes to mtimeClamp', async () => {
    const entries = [file('new', Buffer.from('n'), { mtime: T + 1000 }), file('old', Buffer.from('o'), { mtime: T - 5 }), base('d', 'directory', { mtime: T + 1 })];
    const { path, cleanup } = await writeTar(entries, { mtimeClamp: T });
    try {
      const mtimes = Object.fromEntries(pythonList(path).members.map((m) => [m.name, m.mtime]));
      assert.deepEqual(mtimes, { d: T, new: T, old: T - 5 });
    } finally {
      cleanup();
    }
  });

  it('writes mtimes outside ustar range as PAX records', async () => {
    const entries = [file('past', Buffer.from('p'), { mtime: -1000 }), file('future', Buffer.from('f'), { mtime: 10_000_000_000 })];
    const { path, cleanup } = await writeTar(entries);
    try {
      const list = pythonList(path).members.map((m) => [m.name, m.mtime, m.pax]);
      assert.deepEqual(list, [
        ['future', 10_000_000_000, [['mtime', Buffer.from('10000000000').toString('hex')]]],
        ['past', -1000, [['mtime', Buffer.from('-1000').toString('hex')]]],
      ]);
    } finally {
      cleanup();
    }
  });

  it('normalizes names and rejects duplicates after normalization', () => {
    assert.throws(
      () => tarStream([file('a/b', Buffer.from('1')), file('/a/./b', Buffer.from('2'))]),
      (err: unknown) => err instanceof ArchiveError && err.code === 'TAR_DUPLICATE_ENTRY' && err.fields.entry === 'a/b',
    );
    assert.throws(
      () => tarStream([base('x', 'directory'), base('x/', 'directory')]),
      (err: unknown) => err instanceof ArchiveError && err.code === 'TAR_DUPLICATE_ENTRY',
    );
  });

  it('rejects entries it cannot write faithfully', () => {
    const bad: [string, TarWriteEntry][] = [
      ['dot-dot', file('a/../etc/passwd', Buffer.from('x'))],
      ['no body', base('f', 'file', { size: 3 })],
      ['symlink without target', base('l', 'symlink')],
      ['negative uid', file('f', Buffer.from('x'), { uid: -1 })],
      ['bad xattr name', file('f', Buffer.from('x'), { xattrs: { 'a=b': Buffer.from('x') } })],
      ['file as root', file('/', Buffer.from('x'))],
      ['device number', base('d', 'character-device', { devmajor: 0o10000000 })],
    ];
    for (const [what, entry] of bad) {
      assert.throws(() => tarStream([entry]), (err: unknown) => err instanceof ArchiveError && err.code === 'TAR_ENTRY_INVALID', what);
    }
  });

  it('fails the stream when a body is not exactly size bytes', async () => {
    const cases: [string, TarWriteEntry][] = [
      ['short buffer', base('f', 'file', { size: 5, body: () => Buffer.from('abc') })],
      ['long buffer', base('f', 'file', { size: 2, body: () => Buffer.from('abc') })],
      ['short stream', base('f', 'file', { size: 5, body: () => Readable.from([Buffer.from('ab'), Buffer.from('c')]) })],
      ['long stream', base('f', 'file', { size: 2, body: () => Readable.from([Buffer.from('ab'), Buffer.from('c')]) })],
    ];
    for (const [what, entry] of cases) {
      await assert.rejects(collect(tarStream([entry])), (err: unknown) => err instanceof ArchiveError && err.code === 'TAR_SIZE_MISMATCH' && err.fields.entry === 'f', what);
    }
  });

  it('writes the root directory as ./', async () => {
    const { path, cleanup } = await writeTar([base('.', 'directory', { mode: 0o700 }), file('f', Buffer.from('x'))]);
    try {
      const listing = run('tar', ['--numeric-owner', '--utc', '-tvf', path]).toString();
      assert.match(listing, /^drwx------ 0\/0 +0 2023-11-14 22:13 \.\/\n-rw-r--r-- 0\/0 +1 2023-11-14 22:13 f\n$/);
    } finally {
      cleanup();
    }
  });
});
