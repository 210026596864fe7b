/**
 * materialize: a tree written to a real directory, then read back with
 * lstat/readlink/readFile, independent of the code that wrote it.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DirNode, type FileNode, LinkGroup, materialize } from '../../lib/vfs/index.ts';
import { device, dir, fifo, file, link } from './tree-kit.ts';

const isRoot = process.getuid?.() === 0;

describe('materialize', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'kiln-mat-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));
  const hostFile = join(tmp, 'host-src');
  writeFileSync(hostFile, 'bytes from a host file');

  const tree: DirNode = dir(
    {
      etc: dir({ 'app.conf': file('key=value\n', { mode: 0o640, uid: 1000, gid: 1001, mtime: 1_600_000_000 }) }, { mode: 0o755, mtime: 1_650_000_000 }),
      secret: dir({ ro: file('read only', { mode: 0o400 }) }, { mode: 0o500, uid: 7, gid: 8, mtime: 1_500_000_000 }),
      shared: dir({}, { mode: 0o2775, mtime: 1_400_000_000 }),
      tmp: dir({}, { mode: 0o1777 }),
      bin: dir({
        su: file('#!/bin/sh\n', { mode: 0o4755, uid: 0, gid: 0 }),
        host: { kind: 'file', meta: { mode: 0o755, uid: 3, gid: 4, mtime: 1_234_567_890 }, size: 22, content: { kind: 'host-file', path: hostFile } },
      }),
      rel: link('etc/app.conf', { mtime: 1_300_000_000, uid: 5, gid: 6 }),
      abs: link('/etc/passwd'),
      dangling: link('../../nowhere'),
      pipe: fifo({ mode: 0o620, mtime: 1_100_000_000 }),
      ...(isRoot ? { null: device('char', 1, 3, { mode: 0o666 }) } : {}),
    },
    { mode: 0o750, mtime: 1_000_000_000 },
  );
  const dest = join(tmp, 'out');

  test('writes the tree', async () => {
    await materialize(tree, dest);
  });

  const expect: (readonly [string, number, number, number, number])[] = [
    ['', 0o040750, 0, 0, 1_000_000_000],
    ['etc', 0o040755, 0, 0, 1_650_000_000],
    ['etc/app.conf', 0o100640, 1000, 1001, 1_600_000_000],
    ['secret', 0o040500, 7, 8, 1_500_000_000],
    ['secret/ro', 0o100400, 0, 0, 1_700_000_000],
    ['shared', 0o042775, 0, 0, 1_400_000_000],
    ['tmp', 0o041777, 0, 0, 1_700_000_000],
    ['bin/su', 0o104755, 0, 0, 1_700_000_000],
    ['bin/host', 0o100755, 3, 4, 1_234_567_890],
    ['rel', 0o120777, 5, 6, 1_300_000_000],
    ['pipe', 0o010620, 0, 0, 1_100_000_000],
    ...(isRoot ? ([['null', 0o020666, 0, 0, 1_700_000_000]] as const) : []),
  ];
  for (const [path, mode, uid, gid, mtime] of expect) {
    test(`${path || '/'}: type and mode, owner (as root), mtime`, () => {
      const st = lstatSync(join(dest, path));
      assert.equal(st.mode.toString(8), mode.toString(8));
      assert.equal(st.mtimeMs / 1000, mtime);
      if (isRoot) assert.deepEqual([st.uid, st.gid], [uid, gid]);
    });
  }

  test('contents and link targets', () => {
    assert.equal(readFileSync(join(dest, 'etc/app.conf'), 'utf8'), 'key=value\n');
    assert.equal(readFileSync(join(dest, 'secret/ro'), 'utf8'), 'read only');
    assert.equal(readFileSync(join(dest, 'bin/host'), 'utf8'), 'bytes from a host file');
    assert.equal(readlinkSync(join(dest, 'rel')), 'etc/app.conf');
    assert.equal(readlinkSync(join(dest, 'abs')), '/etc/passwd');
    assert.equal(readlinkSync(join(dest, 'dangling')), '../../nowhere');
    if (isRoot) {
      const st = lstatSync(join(dest, 'null'));
      assert.deepEqual([Math.floor(st.rdev / 256) & 0xfff, st.rdev & 0xff], [1, 3]);
    }
  });
});

describe('materialize: link groups and spilled contents', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'kiln-mat2-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test('the paths of a link group become hard links of one file; file ranges are copied byte for byte', async () => {
    const spillFile = join(tmp, 'spill');
    const big = Buffer.alloc(3 * 1024 * 1024 + 11);
    for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
    writeFileSync(spillFile, Buffer.concat([Buffer.from('HEADERhello'), big, Buffer.from('TAIL')]));
    const g = new LinkGroup();
    const small: FileNode = { kind: 'file', meta: { mode: 0o640, uid: 0, gid: 0, mtime: 1_000 }, size: 5, content: { kind: 'file-range', path: spillFile, offset: 6, size: 5 }, link: g };
    const large: FileNode = { kind: 'file', meta: { mode: 0o644, uid: 0, gid: 0, mtime: 1_000 }, size: big.length, content: { kind: 'file-range', path: spillFile, offset: 11, size: big.length } };
    const sl = { ...link('target'), link: new LinkGroup() };
    const dest = join(tmp, 'out');
    await materialize(dir({ a: small, sub: dir({ b: small }), c: small, large, s1: sl, s2: sl }), dest);
    const [a, b, c] = ['a', 'sub/b', 'c'].map((p) => lstatSync(join(dest, p)));
    assert.equal(a!.ino, b!.ino);
    assert.equal(a!.ino, c!.ino);
    assert.equal(a!.nlink, 3);
    assert.equal((a!.mode & 0o7777).toString(8), '640');
    assert.equal(readFileSync(join(dest, 'sub/b'), 'utf8'), 'hello');
    assert.ok(readFileSync(join(dest, 'large')).equals(big));
    assert.equal(lstatSync(join(dest, 'large')).nlink, 1);
    assert.equal(lstatSync(join(dest, 's1')).ino, lstatSync(join(dest, 's2')).ino, 'a symlink group is one inode too');
    assert.equal(readlinkSync(join(dest, 's2')), 'target');
  });

  test('names that are not one path component are NAME_INVALID, and nothing is written outside', async () => {
    for (const bad of ['..', '.', 'a/b', '']) {
      const dest = join(tmp, `bad-${bad.length}-${bad.replace(/\W/g, '_')}`);
      const err = await materialize(dir({ [bad]: file('x') }), dest).then(() => undefined, (e: { code?: string }) => e);
      assert.equal(err?.code, 'NAME_INVALID', JSON.stringify(bad));
    }
    assert.equal(existsSync(join(tmp, 'x')), false);
  });
});

describe('materialize: what the host refuses is MATERIALIZE_FAILED, naming the path', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'kiln-mat-refused-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));
  const refused = async (tree: DirNode, name: string, why: RegExp): Promise<void> => {
    const dest = join(tmp, name);
    await assert.rejects(materialize(tree, dest), (e: unknown) => {
      const err = e as { code?: string; message: string };
      assert.equal(err.code, 'MATERIALIZE_FAILED', err.message);
      assert.ok(err.message.startsWith(`cannot write ${join(dest, 'x')}: `), err.message);
      assert.match(err.message, why);
      return true;
    });
  };

  // Found by make fuzz (spec/fuzz/crashers, now removed): a tar header holds owner ids chown cannot take.
  test('an owner id beyond 2^32 - 1 (as root, where owners are applied)', { skip: !isRoot && 'owners are applied only as root' }, async () => {
    await refused(dir({ x: file('a', { uid: 2 ** 32 + 5 }) }), 'uid', /uid/);
  });

  test('a device mknod cannot make (its complaint in the message, not on stderr)', async () => {
    await refused(dir({ x: device('char', 1, 2 ** 53 - 3) }), 'mknod', isRoot ? /mknod: invalid minor device number/ : /mknod/);
  });
});
