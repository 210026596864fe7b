import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { ArchiveError, normalizeTarPath, readTar, tarStream, type TarHeader, type TarWriteEntry } from '../../lib/archive/index.ts';
import { FIXTURES, chunked, collect, pythonList, readAll, run, tempDir, type PyMember, type ReadEntry } from './tar-tools.ts';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const fixture = (name: string): Buffer => readFileSync(join(FIXTURES, name));

const PY_TYPES: Record<string, TarHeader['type']> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'character-device',
  '4': 'block-device',
  '5': 'directory',
  '6': 'fifo',
};

/** The fields both readers report, from python's view of a member. */
function fromPython(m: PyMember): Record<string, unknown> {
  const type = PY_TYPES[m.type];
  const xattrs = m.pax.filter(([k]) => k.startsWith('SCHILY.xattr.')).map(([k, v]) => [k.slice('SCHILY.xattr.'.length), v]);
  return {
    name: normalizeTarPath(m.name),
    type,
    mode: m.mode,
    uid: m.uid,
    gid: m.gid,
    mtime: m.mtime,
    size: type === 'file' ? m.size : 0,
    linkname: type === 'symlink' ? m.linkname : type === 'hardlink' ? normalizeTarPath(m.linkname) : undefined,
    dev: type === 'character-device' || type === 'block-device' ? [m.devmajor, m.devminor] : undefined,
    xattrs: xattrs.length > 0 ? Object.fromEntries(xattrs) : undefined,
    sha256: type === 'file' ? m.sha256 : undefined,
  };
}

function fromKiln({ header: h, body }: ReadEntry): Record<string, unknown> {
  return {
    name: h.name,
    type: h.type,
    mode: h.mode,
    uid: h.uid,
    gid: h.gid,
    mtime: h.mtime,
    size: h.size,
    linkname: h.linkname,
    dev: h.devmajor === undefined ? undefined : [h.devmajor, h.devminor],
    xattrs: h.xattrs === undefined ? undefined : Object.fromEntries(Object.entries(h.xattrs).map(([k, v]) => [k, v.toString('hex')])),
    sha256: h.type === 'file' ? sha(body) : undefined,
  };
}

const isArchiveError = (code: string, entry?: string) => (err: unknown) =>
  err instanceof ArchiveError && err.code === code && (entry === undefined || err.fields.entry === entry);

describe('readTar on archives written by GNU tar and Python', () => {
  const files = ['gnu.tar', 'pax.tar', 'ustar.tar', 'v7.tar', 'v7-slash-dir.tar', 'gnu-base256.tar', 'pax-big.tar', 'python-pax.tar'];
  for (const f of files) {
    it(`reads ${f} as python's tarfile does`, async () => {
      const expected = pythonList(join(FIXTURES, f)).members.map(fromPython);
      assert.ok(expected.length >= 4);
      assert.deepEqual((await readAll(createReadStream(join(FIXTURES, f)))).map(fromKiln), expected);
      // Chunk boundaries anywhere, down to single bytes, change nothing.
      assert.deepEqual((await readAll(chunked(fixture(f)))).map(fromKiln), expected);
    });
  }

  it('reads GNU long names and link targets, PAX fractional mtimes and xattrs', async () => {
    const longName = `dir/${'d'.repeat(120)}/${'f'.repeat(110)}`;
    for (const f of ['gnu.tar', 'pax.tar']) {
      const byName = new Map((await readAll(fixture(f))).map((e) => [e.header.name, e]));
      assert.equal(byName.get(longName)?.body.toString(), 'long\n', f);
      assert.equal(byName.get('dir/longlink')?.header.linkname, 't'.repeat(150), f);
      assert.equal(byName.get('dir/hard')?.header.linkname, 'dir/file.txt', f);
      assert.deepEqual(byName.get('dir/null')?.header, { name: 'dir/null', type: 'character-device', mode: 0o644, uid: 1234, gid: 5678, mtime: 1_700_000_000, size: 0, devmajor: 1, devminor: 3 });
      assert.equal(byName.get('dir/ünï.txt')?.body.toString(), 'unicode\n', f);
    }
    const pax = new Map((await readAll(fixture('pax.tar'))).map((e) => [e.header.name, e.header]));
    assert.equal(pax.get('dir/exec.sh')?.mtime, 1_700_000_000); // 1700000000.25 rounded down
    assert.deepEqual(pax.get('dir/file.txt')?.xattrs, { 'user.kiln': Buffer.from([0x76, 0, 0xff]) });
  });

  it('applies PAX global headers, local overrides and negative fractional mtimes', async () => {
    const h = new Map((await readAll(fixture('python-pax.tar'))).map((e) => [e.header.name, e.header]));
    assert.deepEqual([...h.keys()], ['global-uid.txt', 'local-uid.txt', 'fraction.txt', 'negative.txt', 'dot/slash']);
    assert.equal(h.get('global-uid.txt')?.uid, 4242);
    assert.equal(h.get('local-uid.txt')?.uid, 7);
    assert.deepEqual(h.get('local-uid.txt')?.xattrs, { 'user.bin': Buffer.from([0x78, 0xff, 0x00, 0x79]) });
    assert.equal(h.get('fraction.txt')?.mtime, 1_700_000_000);
    assert.equal(h.get('negative.txt')?.mtime, -2); // -1.5 s lies in the second starting at -2
    assert.equal(h.get('dot/slash')?.type, 'directory');
  });

  it('reads GNU base-256 numbers', async () => {
    const h = new Map((await readAll(fixture('gnu-base256.tar'))).map((e) => [e.header.name, e.header]));
    assert.deepEqual([h.get('big/uid')?.uid, h.get('big/uid')?.gid], [3_000_000, 3_000_001]);
    assert.equal(h.get('big/future')?.mtime, 10_000_000_000);
    assert.equal(h.get('big/past')?.mtime, -1000);
  });

  it('treats a pre-POSIX regular entry named with a trailing slash as a directory', async () => {
    const [first] = await readAll(fixture('v7-slash-dir.tar'));
    assert.deepEqual(first?.header, { name: 'dir', type: 'directory', mode: 0o755, uid: 1234, gid: 5678, mtime: 1_700_000_000, size: 0 });
  });
});

describe('readTar on archives cut short', () => {
  const full = fixture('ustar.tar');
  const { members, end } = pythonList(join(FIXTURES, 'ustar.tar'));
  const last = members.at(-1)!;
  const dataEnd = last.offset_data + last.size;

  it('has a last entry whose data does not fill its block (so the cuts below differ)', () => {
    assert.equal(last.name, 'dir/ünï.txt');
    assert.ok(last.size % 512 !== 0);
    assert.ok(dataEnd < end);
  });

  for (const [what, cut] of [
    ['without the end-of-archive blocks', end],
    ['with one end-of-archive block', end + 512],
    ['cut just after the last entry data (as umoci insert writes)', dataEnd],
    ['cut inside the last padding', dataEnd + 100],
  ] as const) {
    it(`reads every entry of an archive ${what}`, async () => {
      const expected = members.map(fromPython);
      const bytes = full.subarray(0, cut);
      assert.deepEqual((await readAll(bytes)).map(fromKiln), expected);
      assert.deepEqual((await readAll(chunked(bytes, [3, 509, 1024]))).map(fromKiln), expected);
    });
  }

  it('uses a cut that GNU tar itself rejects', () => {
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(join(dir, 'cut.tar'), full.subarray(0, dataEnd));
      assert.throws(() => run('tar', ['-tf', join(dir, 'cut.tar')]), /Unexpected EOF/);
    } finally {
      cleanup();
    }
  });

  it('fails with TAR_INVALID naming the entry when a body is cut', async () => {
    await assert.rejects(readAll(full.subarray(0, dataEnd - 3)), isArchiveError('TAR_INVALID', 'dir/ünï.txt'));
  });

  it('fails with TAR_INVALID when a header is cut', async () => {
    await assert.rejects(readAll(full.subarray(0, last.offset + 100)), isArchiveError('TAR_INVALID'));
  });
});

describe('readTar on corrupt archives', () => {
  const full = fixture('ustar.tar');

  it('fails with TAR_INVALID on a bad header checksum', async () => {
    const second = pythonList(join(FIXTURES, 'ustar.tar')).members[1]!;
    const bad = Buffer.from(full);
    bad[second.offset + 5] = bad[second.offset + 5]! ^ 0x01; // a byte of the name
    await assert.rejects(readAll(bad), (err: unknown) => isArchiveError('TAR_INVALID')(err) && /checksum/.test((err as Error).message) && (err as ArchiveError).fields.offset === second.offset);
  });

  it('fails with TAR_INVALID on a malformed PAX record', async () => {
    const pax = Buffer.from(fixture('pax.tar'));
    const at = pax.indexOf('30 SCHILY.xattr.user.kiln=');
    assert.ok(at > 0);
    pax.write('31', at, 'latin1');
    await assert.rejects(readAll(pax), isArchiveError('TAR_INVALID'));
  });

  it('fails with TAR_INVALID on a lone zero block followed by entries', async () => {
    const second = pythonList(join(FIXTURES, 'ustar.tar')).members[1]!;
    const bad = Buffer.concat([full.subarray(0, second.offset), Buffer.alloc(512), full.subarray(second.offset)]);
    await assert.rejects(readAll(bad), isArchiveError('TAR_INVALID'));
  });

  it('expands GNU sparse files (more cases in tar-sparse.test.ts)', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const sparse = join(dir, 'sparse');
      writeFileSync(sparse, 'x');
      run('truncate', ['-s', '1M', sparse]);
      run('tar', ['--sparse', '--format=gnu', '-cf', join(dir, 's.tar'), '-C', dir, 'sparse']);
      const [e] = await readAll(createReadStream(join(dir, 's.tar')));
      assert.equal(e?.header.size, 1024 * 1024);
      assert.equal(sha(e!.body), sha(readFileSync(sparse)));
    } finally {
      cleanup();
    }
  });
});

describe('readTar body handling', () => {
  const sizes = [3 * 1024 * 1024 + 7, 10, 700_000, 0, 5];
  const datas = sizes.map((n) => randomBytes(n));
  const entries: TarWriteEntry[] = datas.map((d, i) => ({ name: `f${i}`, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1, size: d.length, body: () => d }));

  it('skips whatever the consumer leaves unread', async () => {
    const tar = await collect(tarStream(entries));
    const seen: [string, string][] = [];
    let i = 0;
    await readTar(chunked(tar, [65_536, 1000, 333]), async (h, body) => {
      const mode = i++ % 3;
      if (mode === 1) {
        seen.push([h.name, sha(await collect(body))]);
      } else if (mode === 2) {
        // read one chunk and walk away
        for await (const _ of body) break;
        seen.push([h.name, 'partial']);
      } else {
        seen.push([h.name, 'ignored']);
      }
    });
    assert.deepEqual(seen, [
      ['f0', 'ignored'],
      ['f1', sha(datas[1]!)],
      ['f2', 'partial'],
      ['f3', 'ignored'],
      ['f4', sha(datas[4]!)],
    ]);
  });

  it('delivers the same bytes to a slow consumer', async () => {
    const tar = await collect(tarStream(entries));
    const got: string[] = [];
    await readTar(chunked(tar, [16_384]), async (_h, body) => {
      const parts: Buffer[] = [];
      for await (const c of body) {
        parts.push(c as Buffer);
        await new Promise((r) => setImmediate(r));
      }
      got.push(sha(Buffer.concat(parts)));
    });
    assert.deepEqual(got, datas.map(sha));
  });

  it('rethrows an onEntry failure and destroys the input', async () => {
    const input = Readable.from([await collect(tarStream(entries))]);
    const boom = new Error('boom');
    await assert.rejects(
      readTar(input, async () => {
        throw boom;
      }),
      (err) => err === boom,
    );
    assert.ok(input.destroyed);
  });

  it('passes an input failure through unchanged, also to the body being read', async () => {
    const tar = await collect(tarStream(entries));
    const failure = new Error('network down');
    const input = new Readable({
      read() {
        this.push(tar.subarray(0, 100_000));
        this.destroy(failure);
      },
    });
    let bodyError: unknown;
    await assert.rejects(
      readTar(input, async (_h, body) => {
        try {
          await collect(body);
        } catch (err) {
          bodyError = err;
        }
      }),
      (err) => err === failure,
    );
    assert.equal(bodyError, failure);
  });

  it('reads to the end of the input past the end-of-archive blocks', async () => {
    const tar = await collect(tarStream(entries.slice(1, 2)));
    let ended = false;
    const input = Readable.from([tar, Buffer.alloc(8192)]).on('end', () => (ended = true));
    await readTar(input, async () => {});
    assert.ok(ended);
  });
});
