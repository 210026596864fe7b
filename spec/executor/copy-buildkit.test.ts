/**
 * BuildKit's own COPY integration tests (frontend/dockerfile/dockerfile_copy_test.go),
 * one kiln test per BuildKit test, named after it: the same context (files,
 * modes, symlinks), the same Dockerfile, and the same assertions, read back
 * from the image's layers with Python's tarfile. Where BuildKit's
 * Dockerfile runs busybox (`RUN stat …`, `RUN adduser`), kiln has no RUN
 * yet: the image is read instead, and the stage a RUN would have prepared is
 * built with COPY (noted at each test). Other kiln tests cover the same
 * cases in more detail: copy.test.ts, copy-owner-mode.test.ts,
 * copy-chmod-symbolic.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildIt, type Built, type Entry } from './build-kit.ts';

const text = (b: Built, path: string) => {
  const e = b.fs[path];
  assert.ok(e !== undefined, `${path} is in the image`);
  assert.equal(e.type, 'file', `${path} is a regular file`);
  return e.text;
};
const owner = (b: Built, path: string) => `${b.fs[path]?.uid}:${b.fs[path]?.gid}`;
const perm = (b: Built, path: string) => b.fs[path]?.mode.toString(8).padStart(4, '0');

describe('BuildKit COPY tests', () => {
  test('testCopyWildcards', async () => {
    const b = await buildIt(
      {
        'foo.go': { text: 'foo-contents', mode: 0o600 },
        'bar.go': { text: 'bar-contents', mode: 0o600 },
        sub: { dir: true, mode: 0o700 },
        'sub/dir1': { dir: true, mode: 0o700 },
        'sub/dir1/dir2': { dir: true, mode: 0o700 },
        'sub/dir1/dir2/foo': { text: 'foo-contents', mode: 0o600 },
      },
      `FROM scratch AS base
COPY *.go /gofiles/
COPY f*.go foo2.go
COPY sub/* /subdest/
COPY sub/*/dir2/foo /subdest2/
COPY sub/*/dir2/foo /subdest3/bar
COPY . all/
COPY sub/dir1/ subdest4
COPY sub/dir1/. subdest5
COPY sub/dir1 subdest6
`,
    );
    assert.equal(text(b, 'gofiles/foo.go'), 'foo-contents');
    assert.equal(text(b, 'gofiles/bar.go'), 'bar-contents');
    assert.equal(text(b, 'foo2.go'), 'foo-contents');
    assert.equal(text(b, 'subdest/dir2/foo'), 'foo-contents');
    assert.equal(text(b, 'subdest2/foo'), 'foo-contents');
    assert.equal(text(b, 'subdest3/bar'), 'foo-contents');
    assert.equal(text(b, 'all/foo.go'), 'foo-contents');
    assert.equal(text(b, 'subdest4/dir2/foo'), 'foo-contents');
    assert.equal(text(b, 'subdest5/dir2/foo'), 'foo-contents');
    assert.equal(text(b, 'subdest6/dir2/foo'), 'foo-contents');
  });

  test('testEmptyWildcard', async () => {
    const b = await buildIt({ foo: { text: 'contents0', mode: 0o600 } }, 'FROM scratch\nCOPY foo nomatch* /\n');
    assert.equal(text(b, 'foo'), 'contents0');
  });

  test('testEmptyDestDir (FROM busybox: WORKDIR is /; the RUN check reads the image)', async () => {
    const b = await buildIt({ testfile: { text: 'contents0', mode: 0o600 } }, 'FROM scratch\nENV empty=""\nCOPY testfile $empty\n');
    assert.equal(text(b, 'testfile'), 'contents0');
  });

  test('testPreserveDestDirSlash', async () => {
    const b = await buildIt({ testfile: { text: 'contents0', mode: 0o600 } }, 'FROM scratch\nCOPY testfile /sample/\n');
    assert.equal(b.fs['sample']?.type, 'dir');
    assert.equal(text(b, 'sample/testfile'), 'contents0');
  });

  test('testCopyRelative (the RUN checks read the image)', async () => {
    const b = await buildIt(
      { foo: { text: 'hello', mode: 0o600 } },
      `FROM scratch
WORKDIR /test1
WORKDIR test2
COPY foo ./
ADD foo ./bar/baz
COPY foo ./bar/baz2
WORKDIR ..
COPY foo ./
COPY foo /test3/
WORKDIR /test4
COPY . .
WORKDIR /test5/test6
COPY foo ../
`,
    );
    for (const p of ['test1/test2/foo', 'test1/test2/bar/baz', 'test1/test2/bar/baz2', 'test1/foo', 'test3/foo', 'test4/foo', 'test5/foo']) assert.equal(text(b, p), 'hello', p);
    assert.equal(b.config.WorkingDir, '/test5/test6');
  });

  test('testCopyOverrideFiles', async () => {
    const b = await buildIt(
      {
        sub: { dir: true, mode: 0o700 },
        'sub/dir1': { dir: true, mode: 0o700 },
        'sub/dir1/dir2': { dir: true, mode: 0o700 },
        'sub/dir1/dir2/foo': { text: 'foo-contents', mode: 0o600 },
        files: { dir: true, mode: 0o700 },
        'files/foo.go': { text: 'foo.go-contents', mode: 0o600 },
      },
      `FROM scratch AS base
COPY sub sub
COPY sub sub
COPY files/foo.go dest/foo.go
COPY files/foo.go dest/foo.go
COPY files dest
`,
    );
    assert.equal(text(b, 'sub/dir1/dir2/foo'), 'foo-contents');
    assert.equal(text(b, 'dest/foo.go'), 'foo.go-contents');
  });

  test('testCopyThroughSymlinkContext', async () => {
    const b = await buildIt(
      { link: { symlink: 'sub' }, sub: { dir: true, mode: 0o700 }, 'sub/foo': { text: 'contents', mode: 0o600 } },
      'FROM scratch\nCOPY link/foo .\n',
    );
    assert.equal(text(b, 'foo'), 'contents');
  });

  test('testCopyThroughSymlinkMultiStage (the RUN that makes the links is a COPY of them)', async () => {
    // BuildKit: RUN mkdir -p /out/sub && ln -s /out/sub /sub && ln -s out/sub /sub2 && echo -n "data" > /sub/foo
    const b = await buildIt(
      { 'rootfs/out/sub/foo': 'data', 'rootfs/sub': { symlink: '/out/sub' }, 'rootfs/sub2': { symlink: 'out/sub' } },
      `FROM scratch AS build
COPY rootfs /
FROM scratch
COPY --from=build /sub/foo .
COPY --from=build /sub2/foo bar
`,
    );
    assert.equal(text(b, 'foo'), 'data');
    assert.equal(text(b, 'bar'), 'data');
  });

  test('testCopySymlinks', async () => {
    const b = await buildIt(
      {
        bar: { text: 'bar-contents', mode: 0o600 },
        foo: { symlink: 'bar' },
        sub: { dir: true, mode: 0o700 },
        'sub/lfile': { text: 'lfile-contents', mode: 0o600 },
        'sub/l0': { symlink: 'subfile' },
        'sub/subfile': { text: 'subfile-contents', mode: 0o600 },
        'sub/l1': { symlink: 'second' },
        'sub/second': { symlink: 'baz' },
        'sub/baz': { text: 'baz-contents', mode: 0o600 },
      },
      'FROM scratch\nCOPY foo /\nCOPY sub/l* alllinks/\n',
    );
    assert.equal(text(b, 'foo'), 'bar-contents');
    assert.equal(text(b, 'alllinks/l0'), 'subfile-contents');
    assert.equal(text(b, 'alllinks/lfile'), 'lfile-contents');
    assert.equal(text(b, 'alllinks/l1'), 'baz-contents');
  });

  test('testCopyFollowAllSymlinks (#1197: BuildKit only asks the build to succeed)', async () => {
    const b = await buildIt(
      { bar: { text: 'bar-contents', mode: 0o600 }, foo: { dir: true, mode: 0o700 }, 'foo/sub': { symlink: '../bar' } },
      'FROM scratch\nCOPY foo /\nCOPY foo/sub bar\n',
    );
    assert.equal(b.fs['sub']?.type, 'symlink', 'a link inside a copied directory stays a link');
    assert.equal(b.fs['sub']?.linkname, '../bar');
    assert.equal(text(b, 'bar'), 'bar-contents', 'a link named as the source is followed');
  });

  test('testCopySocket', async () => {
    const b = await buildIt({}, 'FROM scratch\nCOPY . /\n', {
      prepare: (ctx) => {
        // A listening socket in the context, made by Python (fstest.CreateSocket binds one too).
        execFileSync('python3', ['-c', `import socket,os\ns=socket.socket(socket.AF_UNIX)\ns.bind(${JSON.stringify(join(ctx, 'socket.sock'))})\nos.chmod(${JSON.stringify(join(ctx, 'socket.sock'))}, 0o600)`]);
        assert.ok(statSync(join(ctx, 'socket.sock')).isSocket());
      },
    });
    assert.equal(b.fs['socket.sock']?.type, 'file', 'the socket is converted to a regular file');
    assert.equal(b.fs['socket.sock']?.size, 0);
    assert.equal(perm(b, 'socket.sock'), '0600');
  });

  test('testCopyChmod (the RUN stat checks read the image)', async () => {
    const b = await buildIt(
      { foo: { text: 'foo-contents', mode: 0o600 }, bar: { text: 'bar-contents', mode: 0o700 } },
      `FROM scratch AS base
COPY --chmod=0644 foo /
COPY --chmod=777 bar /baz
COPY --chmod=0 foo /foobis
COPY --chmod=777 foo /parent/foo
COPY --chmod=770 foo /parent/sub/foo
ARG mode
COPY --chmod=\${mode} foo /footer
`,
      { buildArgs: { mode: '755' } },
    );
    assert.equal(perm(b, 'foo'), '0644');
    assert.equal(perm(b, 'baz'), '0777');
    assert.equal(perm(b, 'foobis'), '0000');
    assert.equal(perm(b, 'parent'), '0777');
    assert.equal(perm(b, 'parent/sub'), '0770');
    assert.equal(perm(b, 'footer'), '0755');
  });

  test('testChmodNonOctal (expected modes from GNU chmod on real files, as BuildKit compares with chmod)', async () => {
    const cases = [
      { src: 'file', dst: 'f1', mode: 'go-w', isDir: false },
      { src: 'file', dst: 'f2', mode: 'u=rw,g=r,o=r', isDir: false },
      { src: 'file', dst: 'f3', mode: 'a+X', isDir: false },
      { src: 'dir', dst: 'd1', mode: 'go-w', isDir: true },
      { src: 'dir', dst: 'd2', mode: 'u+rw,g+r,o-x,o+w', isDir: true },
      { src: 'dir', dst: 'd3', mode: 'a+X', isDir: true },
    ];
    const scratch = mkdtempSync(join(tmpdir(), 'kiln-chmod-'));
    const expected = new Map<string, string>();
    try {
      for (const c of cases) {
        const p = join(scratch, c.dst);
        if (c.isDir) mkdirSync(p);
        else writeFileSync(p, '');
        chmodSync(p, c.isDir ? 0o124 : 0o666);
        execFileSync('chmod', [c.mode, p]);
        expected.set(c.dst, (statSync(p).mode & 0o7777).toString(8).padStart(4, '0'));
      }
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
    // BuildKit's base stage: /input/file 0666 and /input/dir 0124, each dir case nested so that COPY copies the dir itself.
    const files: Record<string, Entry> = { 'input/file': { text: '', mode: 0o666 } };
    for (const c of cases.filter((x) => x.isDir)) files[`input/dirs/${c.dst}/${c.dst}`] = { dir: true, mode: 0o124 };
    const copies = cases.map((c) => (c.isDir ? `COPY --chmod=${c.mode} input/dirs/${c.dst} /\n` : `COPY --chmod=${c.mode} input/${c.src} /${c.dst}\n`));
    const b = await buildIt(files, `FROM scratch\n${copies.join('')}`);
    for (const c of cases) assert.equal(perm(b, c.dst), expected.get(c.dst), `${c.dst}: chmod ${c.mode}`);
  });

  test('testCopyChownCreateDest (RUN adduser -D: busybox gives user 1000:1000, user01 1001:1001)', async () => {
    const b = await buildIt(
      {
        passwd: 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:Linux User,,,:/home/user:/bin/sh\nuser01:x:1001:1001:Linux User,,,:/home/user01:/bin/sh\n',
        group: 'root:x:0:root\nuser:x:1000:\nuser01:x:1001:\n',
      },
      `FROM scratch
ARG group
ENV owner user01
COPY passwd group /etc/
COPY --chown=user:user . /dest
COPY --chown=\${owner}:\${group} . /dest01
`,
      { buildArgs: { group: 'user' } },
    );
    assert.equal(owner(b, 'dest'), '1000:1000', 'stat -c "%U %G" /dest == "user user"');
    assert.equal(owner(b, 'dest01'), '1001:1000', 'stat -c "%U %G" /dest01 == "user01 user"');
  });

  describe('testCopyChownExistingDir (the RUNs that chown are COPY --chown)', () => {
    // BuildKit's stages `source` and `test_base`, made without RUN.
    const files: Record<string, Entry> = { file: '', empty: { dir: true }, nestedfile: '' };
    const stages = `FROM scratch AS source
COPY --chown=100:200 file /file
COPY --chown=100:200 empty /dir
COPY --chown=101:201 empty /dir/subdir
COPY --chown=102:202 nestedfile /dir/subdir/nestedfile

FROM scratch AS test_base
COPY --chown=500:600 empty /existingdir
COPY --chown=501:601 empty /existingdir/existingsubdir
COPY --chown=501:601 file /existingdir/existingfile
`;
    test('copy_from', async () => {
      const b = await buildIt(
        files,
        `${stages}
FROM test_base AS copy_from
COPY --from=source /file .
COPY --from=source /dir /dir
COPY --from=source /dir/. /existingdir
`,
        { target: 'copy_from' },
      );
      const want: [string, string][] = [
        ['file', '100:200'], ['dir', '0:0'], ['dir/subdir', '101:201'], ['dir/subdir/nestedfile', '102:202'],
        ['existingdir', '500:600'], ['existingdir/existingsubdir', '501:601'], ['existingdir/existingfile', '501:601'],
        ['existingdir/subdir', '101:201'], ['existingdir/subdir/nestedfile', '102:202'],
      ];
      for (const [p, o] of want) assert.equal(owner(b, p), o, p);
    });
    test('copy_from_chowned', async () => {
      const b = await buildIt(
        files,
        `${stages}
FROM test_base AS copy_from_chowned
COPY --from=source --chown=300:400 /file .
COPY --from=source --chown=300:400 /dir /dir
COPY --from=source --chown=300:400 /dir/. /existingdir
`,
        { target: 'copy_from_chowned' },
      );
      const want: [string, string][] = [
        ['file', '300:400'], ['dir', '300:400'], ['dir/subdir', '300:400'], ['dir/subdir/nestedfile', '300:400'],
        ['existingdir', '500:600'], ['existingdir/existingsubdir', '501:601'], ['existingdir/existingfile', '501:601'],
        ['existingdir/subdir', '300:400'], ['existingdir/subdir/nestedfile', '300:400'],
      ];
      for (const [p, o] of want) assert.equal(owner(b, p), o, p);
    });
  });

  test('testCopyUnicodePath', async () => {
    const b = await buildIt(
      { 'test-äöü.txt': 'foo', 'test-%C3%A4%C3%B6%C3%BC.txt': 'bar', 'test+aou.txt': 'baz' },
      'FROM scratch\nCOPY test-äöü.txt /\nCOPY test-%C3%A4%C3%B6%C3%BC.txt /\nCOPY test+aou.txt /\n',
    );
    assert.equal(text(b, 'test-äöü.txt'), 'foo');
    assert.equal(text(b, 'test-%C3%A4%C3%B6%C3%BC.txt'), 'bar');
    assert.equal(text(b, 'test+aou.txt'), 'baz');
  });

  test('testCopyVarSubstitution', async () => {
    const b = await buildIt({ bar: { text: 'bar-contents', mode: 0o600 } }, 'FROM scratch AS base\nENV FOO bar\nCOPY $FOO baz\n');
    assert.equal(text(b, 'baz'), 'bar-contents');
  });
});

describe('hard links in the build context', () => {
  const prepare = (ctx: string) => {
    mkdirSync(join(ctx, 'd'));
    writeFileSync(join(ctx, 'd', 'a'), 'shared');
    execFileSync('ln', [join(ctx, 'd', 'a'), join(ctx, 'd', 'b')]);
    assert.equal(statSync(join(ctx, 'd', 'a')).nlink, 2);
  };

  test('COPY of a directory keeps them linked: one file and one hardlink entry in the layer', async () => {
    const b = await buildIt({}, 'FROM scratch\nCOPY d /x/\n', { prepare });
    const entries = b.layers[0]!.filter((e) => e.name.startsWith('x/'));
    assert.deepEqual(entries.map((e) => `${e.name} ${e.type}${e.linkname ? ` ${e.linkname}` : ''}`), ['x/a file', 'x/b hardlink x/a']);
    assert.equal(text(b, 'x/a'), 'shared');
  });

  test('separate sources, and separate COPYs, are not linked to each other', async () => {
    const b = await buildIt({}, 'FROM scratch\nCOPY d/a d/b /y/\nCOPY d /x/\nCOPY d /z/\n', { prepare });
    assert.deepEqual(b.layers[0]!.map((e) => `${e.name} ${e.type}`), ['y dir', 'y/a file', 'y/b file']);
    assert.deepEqual(b.layers[2]!.map((e) => `${e.name} ${e.type}`), ['z dir', 'z/a file', 'z/b hardlink'], 'the third layer re-emits nothing of /x');
  });

});
