/**
 * ADD unpacks a local tar archive (plain or gzip) into the destination
 * directory, as BuildKit does (convert_copy.go: AttemptUnpack for local ADD
 * sources unless --unpack=false); COPY never does. The archives are made by
 * GNU tar, and the result is read back through Python's tarfile.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildError, buildIt, describeFs } from './build-kit.ts';

/** Makes `name` in the context with GNU tar from a small tree (owners 1234:5678, fixed mtimes). */
function makeArchive(ctx: string, name: string, flags: string[]): void {
  const src = join(ctx, '..', `src-${name}`);
  mkdirSync(join(src, 'pkg', 'bin'), { recursive: true });
  writeFileSync(join(src, 'pkg', 'README'), 'read me');
  writeFileSync(join(src, 'pkg', 'bin', 'tool'), '#!/bin/sh\necho tool\n');
  chmodSync(join(src, 'pkg', 'bin', 'tool'), 0o755);
  for (const p of ['pkg/README', 'pkg/bin/tool', 'pkg/bin', 'pkg']) utimesSync(join(src, p), 1_600_000_000, 1_600_000_000);
  const r = spawnSync('tar', [...flags, '-f', join(ctx, name), '--owner=1234', '--group=5678', '--numeric-owner', '-C', src, 'pkg']);
  assert.equal(r.status, 0, r.stderr?.toString());
}

describe('ADD of local archives', () => {
  for (const [name, flags] of [['pkg.tar', ['-c']], ['pkg.tar.gz', ['-cz']], ['pkg-no-extension', ['-cz']]] as const) {
    test(`${name} is unpacked into the destination with the archive's modes, owners and mtimes`, async () => {
      const b = await buildIt({}, `FROM scratch\nADD ${name} /opt\n`, { prepare: (ctx) => makeArchive(ctx, name, [...flags]) });
      assert.deepEqual(describeFs(b.fs, 'opt/pkg'), [
        'opt/pkg: dir 0755 1234:5678',
        'opt/pkg/README: file 0644 1234:5678 "read me"',
        'opt/pkg/bin: dir 0755 1234:5678',
        'opt/pkg/bin/tool: file 0755 1234:5678 "#!/bin/sh\\necho tool\\n"',
      ]);
      assert.equal(b.fs['opt/pkg/README']!.mtime, 1_600_000_000);
    });
  }

  test('--chown applies to the unpacked entries', async () => {
    const b = await buildIt({}, 'FROM scratch\nADD --chown=7:8 pkg.tar /opt/\n', { prepare: (ctx) => makeArchive(ctx, 'pkg.tar', ['-c']) });
    assert.deepEqual(describeFs(b.fs, 'opt/pkg/bin').map((l) => l.split(' ')[3]), ['7:8', '7:8']);
  });

  test('COPY copies the archive file itself; so does ADD --unpack=false', async () => {
    for (const df of ['FROM scratch\nCOPY pkg.tar /opt/\n', 'FROM scratch\nADD --unpack=false pkg.tar /opt/\n']) {
      let size = 0;
      const b = await buildIt({}, df, { prepare: (ctx) => { makeArchive(ctx, 'pkg.tar', ['-c']); size = readFileSync(join(ctx, 'pkg.tar')).length; } });
      assert.equal(b.fs['opt/pkg.tar']?.type, 'file', df);
      assert.equal(b.fs['opt/pkg.tar']?.size, size, df);
      assert.equal(b.fs['opt/pkg'], undefined, df);
    }
  });

  test('a file that only looks like an archive by name is copied', async () => {
    const b = await buildIt({ 'fake.tar.gz': 'not an archive at all' }, 'FROM scratch\nADD fake.tar.gz /opt/\n');
    assert.equal(b.fs['opt/fake.tar.gz']?.text, 'not an archive at all');
  });

  test('an xz archive is unpacked too (bzip2, xz and zstd: copy-add-archive.test.ts)', async () => {
    const b = await buildIt({}, 'FROM scratch\nADD pkg.tar.xz /opt/\n', { prepare: (ctx) => makeArchive(ctx, 'pkg.tar.xz', ['-cJ']) });
    assert.equal(b.fs['opt/pkg/README']?.text, 'read me');
    assert.equal(b.fs['opt/pkg.tar.xz'], undefined);
  });

  test('an archive entry that climbs out of the destination is an error', async () => {
    const err = await buildError({}, 'FROM scratch\nADD evil.tar /opt/\n', {
      prepare: (ctx) => {
        const py = `import tarfile,io\nt=tarfile.open('${join(ctx, 'evil.tar')}','w')\ni=tarfile.TarInfo('../../etc/evil')\ni.size=1\nt.addfile(i,io.BytesIO(b'x'))\nt.close()`;
        assert.equal(spawnSync('python3', ['-c', py]).status, 0);
      },
    });
    assert.equal(err.code, 'ADD_ARCHIVE_INVALID');
    assert.match(err.message, /climbs out/);
  });
});
