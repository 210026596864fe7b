/**
 * GNU sparse files, as GNU tar 1.34 writes them in its four formats, come
 * out of readTar as regular files of their real size whose bytes equal the
 * source files on disk (sha256 of the file GNU tar read). Broken maps are
 * written by hand with Python's tarfile.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { ArchiveError, readTar } from '../../lib/archive/index.ts';
import { readAll, run, tempDir } from './tar-tools.ts';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Files with data regions and holes: many regions (old GNU extension blocks), a hole at the end, all hole. */
const MAKE_FILES = `
import os, sys
d = sys.argv[1]
def make(name, regions, size):
    with open(os.path.join(d, name), 'wb') as f:
        for off, data in regions:
            f.seek(off); f.write(data)
        f.truncate(size)
make('few', [(100000, b'hello' * 1000), (3000000, b'world')], 5000000)
make('many', [(i * 65536, bytes([65 + i % 26]) * (4096 + i)) for i in range(30)], 40 * 65536)
make('tailhole', [(0, b'abc')], 2 * 1024 * 1024)
make('empty', [], 3 * 1024 * 1024)
with open(os.path.join(d, 'plain'), 'wb') as f:
    f.write(b'after the sparse files\\n')
`;
const FILES = ['few', 'many', 'tailhole', 'empty', 'plain'];
const FORMATS: [string, string[]][] = [
  ['old GNU (S)', ['--format=gnu']],
  ['PAX 0.0', ['--format=posix', '--sparse-version=0.0']],
  ['PAX 0.1', ['--format=posix', '--sparse-version=0.1']],
  ['PAX 1.0', ['--format=posix', '--sparse-version=1.0']],
];

const isArchiveError = (code: string) => (err: unknown) => err instanceof ArchiveError && err.code === code;

describe('readTar: GNU sparse files', () => {
  const { dir, cleanup } = tempDir();
  before(() => run('python3', ['-c', MAKE_FILES, dir]));
  after(cleanup);

  for (const [what, flags] of FORMATS) {
    it(`${what}: names, real sizes and bytes equal the source files`, async () => {
      const tar = join(dir, `${what.replace(/\W/g, '_')}.tar`);
      run('tar', ['--sparse', ...flags, '-cf', tar, '-C', dir, ...FILES]);
      const entries = await readAll(Readable.from([readFileSync(tar)]));
      assert.deepEqual(
        entries.map((e) => [e.header.name, e.header.type, e.header.size, sha(e.body)]),
        FILES.map((f) => {
          const data = readFileSync(join(dir, f));
          return [f, 'file', data.length, sha(data)];
        }),
      );
    });
  }

  it('a consumer that reads part of a sparse body leaves the next entry intact', async () => {
    const tar = join(dir, 'partial.tar');
    run('tar', ['--sparse', '--format=posix', '-cf', tar, '-C', dir, 'few', 'plain']);
    const seen: string[] = [];
    await readTar(Readable.from([readFileSync(tar)]), async (h, body) => {
      if (h.name === 'few') {
        for await (const _ of body) break;
        seen.push('few');
      } else {
        const parts: Buffer[] = [];
        for await (const c of body) parts.push(c as Buffer);
        seen.push(Buffer.concat(parts).toString('utf8'));
      }
    });
    assert.deepEqual(seen, ['few', 'after the sparse files\n']);
  });

  /** A PAX tar with one member carrying `records` and `data` (written by Python's tarfile, which checks nothing). */
  function paxTar(name: string, records: Record<string, string>, data: Buffer): Buffer {
    const out = join(dir, name);
    const py = `
import io, json, sys, tarfile
recs = json.loads(sys.argv[2]); data = bytes.fromhex(sys.argv[3])
with tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT) as t:
    i = tarfile.TarInfo('GNUSparseFile.0/x'); i.size = len(data); i.pax_headers = recs
    t.addfile(i, io.BytesIO(data))
`;
    run('python3', ['-c', py, out, JSON.stringify(records), data.toString('hex')]);
    return readFileSync(out);
  }

  const map10 = (text: string, data: string): Buffer => {
    const block = Buffer.alloc(512);
    block.write(text, 'latin1');
    return Buffer.concat([block, Buffer.from(data, 'latin1')]);
  };
  const v10 = (size: number) => ({ 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.name': 'x', 'GNU.sparse.realsize': String(size) });

  it('a hand-written PAX 1.0 entry expands as its map says', async () => {
    const [e] = await readAll(paxTar('ok.tar', v10(10), map10('2\n1\n2\n6\n1\n', 'abc')));
    assert.equal(e?.header.name, 'x');
    assert.deepEqual([...e!.body], [0, 0x61, 0x62, 0, 0, 0, 0x63, 0, 0, 0]);
  });

  const broken: [string, Record<string, string>, Buffer, string][] = [
    ['a map covering more than the stored data', v10(10), map10('1\n0\n5\n', 'abc'), 'TAR_INVALID'],
    ['a chunk past the real size', v10(4), map10('1\n2\n3\n', 'abc'), 'TAR_INVALID'],
    ['overlapping chunks', v10(10), map10('2\n0\n2\n1\n1\n', 'abc'), 'TAR_INVALID'],
    ['a map that is not numbers', v10(10), map10('x\n', 'abc'), 'TAR_INVALID'],
    ['an unknown format version', { ...v10(3), 'GNU.sparse.major': '2' }, Buffer.from('abc'), 'TAR_UNSUPPORTED'],
    ['a 0.1 map with an odd number of values', { 'GNU.sparse.map': '0,1,5', 'GNU.sparse.size': '10' }, Buffer.from('a'), 'TAR_INVALID'],
  ];
  for (const [what, records, data, code] of broken) {
    it(`${what}: ${code}`, async () => {
      await assert.rejects(readAll(paxTar('bad.tar', records, data)), isArchiveError(code));
    });
  }

  it('a sparse file of 1 TiB real size is described without reading 1 TiB', async () => {
    const data = paxTar('huge.tar', { 'GNU.sparse.map': '0,1', 'GNU.sparse.size': String(2 ** 40) }, Buffer.from('z'));
    let size = -1;
    await readTar(Readable.from([data]), async (h) => {
      size = h.size;
    });
    assert.equal(size, 2 ** 40);
  });

  it('the old GNU map of a file with 30 regions needs extension blocks (checked with GNU tar --list)', () => {
    const tar = join(dir, 'ext.tar');
    run('tar', ['--sparse', '--format=gnu', '-cf', tar, '-C', dir, 'many']);
    const raw = readFileSync(tar);
    assert.equal(String.fromCharCode(raw[156]!), 'S');
    assert.equal(raw[482], 1, 'the header says an extension block follows');
    writeFileSync(join(dir, 'listing'), run('tar', ['-tvf', tar]));
    assert.match(readFileSync(join(dir, 'listing'), 'utf8'), / 2621440 .* many\n/);
  });
});
