/**
 * ADD of local archives beyond plain and gzip tars (add-archive.test.ts):
 * bzip2, xz and zstd told from the bytes, decompressed with the system's
 * tools; extraction merging like `tar -x` (checked against GNU tar's own
 * extraction of the same archive); the archive's root entry leaving the
 * destination alone; the rules of BuildKit's unpack (solver/llbsolver/file/unpack.go:
 * `--chown` for every entry, `--chmod` ignored, destination directories
 * 0755 with the owner; symlinks kept as written, writes through them
 * confined to the destination) and moby's pkg/archive breakout check for
 * names and hardlinks. Archives
 * are made by GNU tar or Python's tarfile.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildError, buildIt, describeFs } from './build-kit.ts';
import { copyError, copySteps } from './copy-kit.ts';

/** A small tree for GNU tar: owners 1234:5678, fixed mtimes, a symlink and a hard link. */
function makeTree(root: string): void {
  mkdirSync(join(root, 'pkg', 'bin'), { recursive: true });
  writeFileSync(join(root, 'pkg', 'README'), 'read me');
  writeFileSync(join(root, 'pkg', 'bin', 'tool'), '#!/bin/sh\necho tool\n');
  chmodSync(join(root, 'pkg', 'bin', 'tool'), 0o750);
  execFileSync('ln', [join(root, 'pkg', 'bin', 'tool'), join(root, 'pkg', 'bin', 'tool-alias')]);
  symlinkSync('bin/tool', join(root, 'pkg', 'run'));
  chmodSync(join(root, 'pkg'), 0o711);
  for (const p of ['pkg/README', 'pkg/bin/tool', 'pkg/bin', 'pkg']) utimesSync(join(root, p), 1_600_000_000, 1_600_000_000);
}

function tarWith(ctx: string, name: string, flag: string): void {
  const src = mkdtempSync(join(tmpdir(), 'kiln-arc-'));
  try {
    makeTree(src);
    execFileSync('tar', ['-c', flag, '-f', join(ctx, name), '--owner=1234', '--group=5678', '--numeric-owner', '-C', src, 'pkg'].filter((a) => a !== ''));
  } finally {
    rmSync(src, { recursive: true, force: true });
  }
}

/** `path: type mode uid:gid [-> link | "text"]` of what GNU tar extracts (as root: owners and modes kept). */
function gnuTarListing(archive: string): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-gnutar-'));
  try {
    execFileSync('tar', ['-xf', archive, '-C', dir]);
    const out: string[] = [];
    const walk = (rel: string): void => {
      for (const name of readdirSync(join(dir, rel)).sort()) {
        const p = rel === '' ? name : `${rel}/${name}`;
        const st = lstatSync(join(dir, p));
        const kind = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file';
        const tail = kind === 'symlink' ? ` -> ${readlinkSync(join(dir, p))}` : kind === 'file' ? ` ${JSON.stringify(readFileSync(join(dir, p), 'utf8'))}` : '';
        out.push(`${p}: ${kind} ${(st.mode & 0o7777).toString(8).padStart(4, '0')} ${st.uid}:${st.gid}${tail}`);
        if (kind === 'dir') walk(p);
      }
    };
    walk('');
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('ADD of bzip2, xz and zstd archives', () => {
  for (const [kind, flag] of [['bzip2', '-j'], ['xz', '-J'], ['zstd', '--zstd'], ['gzip', '-z'], ['plain', '']] as const) {
    test(`${kind}: detected from the bytes (no extension), extracted as GNU tar extracts it`, async () => {
      let expected: string[] = [];
      const b = await buildIt({}, 'FROM scratch\nADD archive /opt/\n', {
        prepare: (ctx) => {
          tarWith(ctx, 'archive', flag);
          expected = gnuTarListing(join(ctx, 'archive'));
        },
      });
      // GNU tar extracts the hard link as a second file; kiln keeps it as a link to the first.
      const got = describeFs(b.fs, 'opt/pkg').map((l) => l.replace(/^opt\//, '').replace(/: hardlink (\d+) (\d+:\d+)$/, ': file $1 $2 "#!/bin/sh\\necho tool\\n"'));
      assert.deepEqual(got, expected);
      assert.ok(expected.length >= 6 && expected.some((l) => l.includes('symlink')));
      assert.equal(b.fs['opt/pkg/bin/tool-alias']?.type, 'hardlink', 'the hard link stays a link in the layer');
      assert.equal(b.fs['opt/archive'], undefined);
    });
  }

  test('a missing decompressor stops the build (ADD_ARCHIVE_UNSUPPORTED) rather than copying the archive', async () => {
    const tools = { bzip2: ['/nonexistent/bzip2', '-dc'], xz: ['/nonexistent/xz', '-dc'], zstd: ['/nonexistent/zstd', '-dc'] };
    for (const flag of ['-j', '-J']) {
      const err = await copyError({}, 'ADD archive /opt/\n', { decompressTools: tools, prepare: (ctx) => tarWith(ctx, 'archive', flag) });
      assert.equal(err.code, 'ADD_ARCHIVE_UNSUPPORTED', flag);
      assert.match(err.message, /not installed/);
      assert.equal(err.line, 1);
    }
    const plain = await copySteps({}, 'ADD archive /opt/\n', { decompressTools: tools, prepare: (ctx) => tarWith(ctx, 'archive', '-z') });
    assert.equal(plain.fs['opt/pkg/README']?.text, 'read me', 'gzip needs no tool');
  });

  test('data that only starts like bzip2 or xz is copied as a file (BuildKit: not an archive)', async () => {
    const b = await buildIt({ 'fake.bz2': 'BZh91AY&SY but nothing more', 'fake.xz': '\u00fd7zXZ\u0000 junk' }, 'FROM scratch\nADD fake.bz2 fake.xz /opt/\n');
    assert.equal(b.fs['opt/fake.bz2']?.text, 'BZh91AY&SY but nothing more');
    assert.equal(b.fs['opt/fake.xz']?.type, 'file');
  });

  test('a corrupt stream after a valid start fails the step (ADD_ARCHIVE_INVALID)', async () => {
    const err = await buildError({}, 'FROM scratch\nADD broken /opt/\n', {
      prepare: (ctx) => {
        tarWith(ctx, 'ok.tar.xz', '-J');
        const data = readFileSync(join(ctx, 'ok.tar.xz'));
        writeFileSync(join(ctx, 'broken'), data.subarray(0, data.length - 40));
        rmSync(join(ctx, 'ok.tar.xz'));
      },
    });
    assert.deepEqual([err.code, err.line], ['ADD_ARCHIVE_INVALID', 2]);
  });
});

describe('ADD archive extraction rules', () => {
  const py = (ctx: string, name: string, entries: string) => {
    const script = `import tarfile,io\nt=tarfile.open(${JSON.stringify(join(ctx, name))},'w')\ndef add(n,kind=tarfile.REGTYPE,data=b'',mode=0o644,link='',uid=0,gid=0):\n  i=tarfile.TarInfo(n);i.type=kind;i.mode=mode;i.linkname=link;i.size=len(data);i.uid=uid;i.gid=gid;i.mtime=1600000000\n  t.addfile(i,io.BytesIO(data))\n${entries}\nt.close()`;
    execFileSync('python3', ['-c', script]);
  };

  test("the archive's root entry does not change the destination; merging keeps what was there", async () => {
    const b = await buildIt({ old: 'old', keep: { dir: true, mode: 0o750 } }, 'FROM scratch\nCOPY old /opt/pkg/old\nCOPY old /opt/pkg/README\nCOPY --chmod=750 keep /opt/pkg/bin\nADD root.tar /opt/\n', {
      prepare: (ctx) => py(ctx, 'root.tar', "add('./', tarfile.DIRTYPE, mode=0o700, uid=9, gid=9)\nadd('./pkg/README', data=b'new')\nadd('./pkg/bin/tool', data=b'x', mode=0o755)"),
    });
    assert.deepEqual(describeFs(b.fs, 'opt'), [
      'opt: dir 0755 0:0',
      'opt/pkg: dir 0755 0:0',
      'opt/pkg/README: file 0644 0:0 "new"',
      'opt/pkg/bin: dir 0750 0:0',
      'opt/pkg/bin/tool: file 0755 0:0 "x"',
      'opt/pkg/old: file 0644 0:0 "old"',
    ]);
  });

  test('--chown owns every entry, implied directories stay root-owned, --chmod is ignored, new destination directories get the owner', async () => {
    const b = await buildIt({}, 'FROM scratch\nADD --chown=7:8 --chmod=600 a.tar /new/deep/\n', {
      prepare: (ctx) => py(ctx, 'a.tar', "add('implied/sub/file', data=b'f', mode=0o755, uid=3, gid=4)\nadd('listed', tarfile.DIRTYPE, mode=0o700)"),
    });
    assert.deepEqual(describeFs(b.fs, 'new'), [
      'new: dir 0755 7:8',
      'new/deep: dir 0755 7:8',
      'new/deep/implied: dir 0755 0:0',
      'new/deep/implied/sub: dir 0755 0:0',
      'new/deep/implied/sub/file: file 0755 7:8 "f"',
      'new/deep/listed: dir 0700 7:8',
    ]);
  });

  test('symlinks are kept as written, even pointing outside; writing through them stays inside the destination (BuildKit: Untar chrooted there)', async () => {
    const b = await buildIt({}, 'FROM scratch\nADD links.tar /opt/\n', {
      prepare: (ctx) =>
        py(ctx, 'links.tar', "add('lib/abs', tarfile.SYMTYPE, link='/etc')\nadd('lib/up', tarfile.SYMTYPE, link='../../../..')\nadd('lib/abs/passwd', data=b'a')\nadd('lib/up/escaped', data=b'u')"),
    });
    assert.deepEqual(describeFs(b.fs, 'opt').map((l) => l.replace(/ 0\d+ 0:0/, '')), [
      'opt: dir',
      'opt/escaped: file "u"',
      'opt/etc: dir',
      'opt/etc/passwd: file "a"',
      'opt/lib: dir',
      'opt/lib/abs: symlink -> /etc',
      'opt/lib/up: symlink -> ../../../..',
    ]);
    assert.equal(b.fs['etc/passwd'], undefined, 'nothing written at the image root');
    assert.equal(b.fs['escaped'], undefined);
  });

  test('a name or a hardlink target climbing out of the destination is refused (pkg/archive breakout)', async () => {
    const name = await buildError({}, 'FROM scratch\nADD evil.tar /opt/\n', { prepare: (ctx) => py(ctx, 'evil.tar', "add('a/../../x', data=b'x')") });
    assert.deepEqual([name.code, name.line], ['ADD_ARCHIVE_INVALID', 2]);
    const hard = await buildError({}, 'FROM scratch\nADD evil.tar /opt/\n', { prepare: (ctx) => py(ctx, 'evil.tar', "add('a', data=b'a')\nadd('h', tarfile.LNKTYPE, link='../a')") });
    assert.deepEqual([hard.code, hard.line], ['ADD_ARCHIVE_INVALID', 2]);
  });

  test('symlinks already in the destination resolve inside it (Untar runs chrooted there)', async () => {
    const b = await buildIt({ 'tree/etc': { symlink: '/real' } }, 'FROM scratch\nCOPY tree /opt/\nADD a.tar /opt/\n', {
      prepare: (ctx) => py(ctx, 'a.tar', "add('etc/passwd', data=b'p')"),
    });
    assert.equal(b.fs['opt/real/passwd']?.text, 'p');
    assert.equal(b.fs['real'], undefined, 'nothing written at the image root');
  });

  test('a destination below a file is COPY_DEST_INVALID; --unpack=false copies the archive', async () => {
    const prepare = (ctx: string) => py(ctx, 'a.tar', "add('x', data=b'x')");
    const err = await buildError({ f: 'f' }, 'FROM scratch\nCOPY f /f\nADD a.tar /f/sub/\n', { prepare });
    assert.deepEqual([err.code, err.line], ['COPY_DEST_INVALID', 3]);
    const kept = await buildIt({}, 'FROM scratch\nADD --unpack=false a.tar /opt/\n', { prepare });
    assert.equal(kept.fs['opt/a.tar']?.type, 'file');
  });
});
