/**
 * COPY/ADD of local sources through the real build(). Expectations come from
 * BuildKit: frontend/dockerfile/dockerfile2llb/convert_copy.go (dest relative
 * to WORKDIR, trailing slash kept, FollowSymlinks + CopyDirContents +
 * AllowEmptyWildcard for context sources, history text), fsutil's copy.Copy
 * (vendored in BuildKit: destination directory semantics, created parents
 * with the --chmod mode and --chown owner, directory mtime restored from the
 * source) and the integration tests in frontend/dockerfile/dockerfile_copy_test.go
 * (testCopyWildcards, testCopyRelative, testCopySymlinks, testCopyChmod,
 * testCopyChown, testCopyChownExistingDir, testEmptyDestDir…), whose
 * Dockerfiles several cases below repeat.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildError, buildIt, type Built, CTX_MTIME, describeFs, type Entry } from './build-kit.ts';

const FILES: Record<string, Entry> = {
  'a.txt': 'A',
  'b.txt': { text: 'B', mode: 0o600 },
  'exec.sh': { text: '#!/bin/sh\n', mode: 0o755 },
  'foo.go': 'foo-contents',
  'bar.go': 'bar-contents',
  'sub/dir1/dir2/foo': 'foo-contents',
  d: { dir: true, mode: 0o700, mtime: 1_600_000_000 },
  'd/inner.txt': 'inner',
  'd/nested': { dir: true, mode: 0o750 },
  'd/nested/deep.txt': 'deep',
  'd/rel': { symlink: 'inner.txt' },
  'd/abs': { symlink: '/etc/passwd' },
};

const entry = (b: Built, path: string) => describeFs(b.fs, path).find((l) => l.startsWith(`${path}:`));

describe('COPY destinations', () => {
  let b: Built;
  before(async () => {
    b = await buildIt(
      FILES,
      `FROM scratch
COPY a.txt /file-dest
COPY a.txt /dir-dest/
COPY a.txt /deep/er/file
COPY a.txt /deep2/er/
COPY a.txt /dot-dest/.
COPY a.txt /exists/keep
COPY b.txt /exists
COPY b.txt /exists/keep
WORKDIR /wd/sub
COPY a.txt .
COPY b.txt ./
COPY exec.sh rel/
COPY exec.sh rel2
COPY a.txt ../up.txt
COPY a.txt ..
ENV empty=""
COPY foo.go $empty
`,
    );
  });

  const want: [string, string][] = [
    ['file-dest', 'file-dest: file 0644 0:0 "A"'],
    ['dir-dest', 'dir-dest: dir 0755 0:0'],
    ['dir-dest/a.txt', 'dir-dest/a.txt: file 0644 0:0 "A"'],
    ['deep/er', 'deep/er: dir 0755 0:0'],
    ['deep/er/file', 'deep/er/file: file 0644 0:0 "A"'],
    ['deep2/er/a.txt', 'deep2/er/a.txt: file 0644 0:0 "A"'],
    ['dot-dest/a.txt', 'dot-dest/a.txt: file 0644 0:0 "A"'],
    ['exists/b.txt', 'exists/b.txt: file 0600 0:0 "B"'],
    ['exists/keep', 'exists/keep: file 0600 0:0 "B"'],
    ['wd/sub/a.txt', 'wd/sub/a.txt: file 0644 0:0 "A"'],
    ['wd/sub/b.txt', 'wd/sub/b.txt: file 0600 0:0 "B"'],
    ['wd/sub/rel/exec.sh', 'wd/sub/rel/exec.sh: file 0755 0:0 "#!/bin/sh\\n"'],
    ['wd/sub/rel2', 'wd/sub/rel2: file 0755 0:0 "#!/bin/sh\\n"'],
    ['wd/up.txt', 'wd/up.txt: file 0644 0:0 "A"'],
    ['wd/a.txt', 'wd/a.txt: file 0644 0:0 "A"'],
    ['wd/sub/foo.go', 'wd/sub/foo.go: file 0644 0:0 "foo-contents"'],
  ];
  for (const [path, line] of want) test(path, () => assert.equal(entry(b, path), line));

  test('a file dest without a slash is the file itself, not a directory', () => {
    assert.equal(b.fs['file-dest']?.type, 'file');
    assert.equal(b.fs['exists']?.type, 'dir');
  });

  test('every COPY makes one layer and a history entry without empty_layer', () => {
    assert.equal(b.layers.length, 16);
    const copies = b.history.filter((h) => h.created_by?.startsWith('COPY'));
    assert.equal(copies.length, 15);
    assert.ok(copies.every((h) => h.empty_layer === undefined));
  });

  test('history: BuildKit\'s commit message (sources and dest as written, expanded) + " # buildkit"', () => {
    const by = b.history.map((h) => h.created_by);
    assert.ok(by.includes('COPY a.txt /dot-dest/. # buildkit'));
    assert.ok(by.includes('COPY a.txt ../up.txt # buildkit'));
    assert.ok(by.includes('COPY foo.go  # buildkit'), 'an empty dest prints as empty');
  });

  test('file mtimes come from the context', () => {
    assert.equal(b.fs['file-dest']?.mtime, CTX_MTIME);
  });
});

describe('COPY of directories', () => {
  let b: Built;
  before(async () => {
    b = await buildIt(
      FILES,
      `FROM scratch
COPY --chown=5:6 a.txt /existing/
COPY d /newdir
COPY d /existing/
COPY sub/dir1/ subdest4
COPY sub/dir1/. subdest5
COPY sub/dir1 subdest6
COPY . /all/
COPY d /merge/
COPY sub /merge/
`,
    );
  });

  test('the contents are copied, not the directory itself', () => {
    assert.deepEqual(describeFs(b.fs, 'newdir'), [
      'newdir: dir 0755 0:0',
      'newdir/abs: symlink 0777 0:0 -> /etc/passwd',
      'newdir/inner.txt: file 0644 0:0 "inner"',
      'newdir/nested: dir 0750 0:0',
      'newdir/nested/deep.txt: file 0644 0:0 "deep"',
      'newdir/rel: symlink 0777 0:0 -> inner.txt',
    ]);
  });

  test('a created destination is 0755 root-owned (not the source dir\'s mode) and takes the source dir\'s mtime', () => {
    assert.equal(b.fs['newdir']?.mode, 0o755);
    assert.equal(b.fs['newdir']?.mtime, 1_600_000_000);
  });

  test('an existing destination keeps its mode and owner, takes the source mtime, and gains the contents', () => {
    assert.equal(entry(b, 'existing'), 'existing: dir 0755 5:6');
    assert.equal(b.fs['existing']?.mtime, 1_600_000_000);
    assert.equal(entry(b, 'existing/a.txt'), 'existing/a.txt: file 0644 5:6 "A"');
    assert.equal(entry(b, 'existing/inner.txt'), 'existing/inner.txt: file 0644 0:0 "inner"');
  });

  for (const d of ['subdest4', 'subdest5', 'subdest6']) {
    test(`${d}: dir2/foo (testCopyWildcards)`, () => assert.equal(entry(b, `${d}/dir2/foo`), `${d}/dir2/foo: file 0644 0:0 "foo-contents"`));
  }

  test('COPY . copies the whole context, Dockerfile included', () => {
    for (const p of ['all/a.txt', 'all/Dockerfile', 'all/sub/dir1/dir2/foo', 'all/d/nested/deep.txt']) assert.ok(b.fs[p], p);
    assert.equal(b.fs['all/d']?.mode, 0o700, 'nested directories keep their own mode');
  });

  test('two directories merge into one destination', () => {
    assert.ok(b.fs['merge/inner.txt'] && b.fs['merge/dir1/dir2/foo']);
  });
});

describe('COPY sources: symlinks and wildcards', () => {
  let b: Built;
  before(async () => {
    b = await buildIt(
      {
        ...FILES,
        bar: 'bar-contents',
        foo: { symlink: 'bar' },
        'lsub/lfile': 'lfile-contents',
        'lsub/l0': { symlink: 'subfile' },
        'lsub/subfile': 'subfile-contents',
        'lsub/l1': { symlink: 'second' },
        'lsub/second': { symlink: 'baz' },
        'lsub/baz': 'baz-contents',
        'ldir/sub': { symlink: '../bar' },
        link: { symlink: 'realdir' },
        'realdir/foo': 'through',
        tolink: { symlink: 'd' },
      },
      `FROM scratch
COPY foo /
COPY lsub/l* alllinks/
COPY ldir/sub renamed
COPY link/foo /through
COPY tolink /fromlinkdir/
COPY *.go /gofiles/
COPY f*.go foo2.go
COPY sub/* /subdest/
COPY sub/*/dir2/foo /subdest2/
COPY sub/*/dir2/foo /subdest3/bar
COPY nomatch* /nothing/
COPY nomatch* a.txt /mixed/
`,
    );
  });

  const want: [string, string][] = [
    // a top-level symlink source is followed; the entry is named after the link
    ['foo', 'foo: file 0644 0:0 "bar-contents"'],
    ['alllinks/l0', 'alllinks/l0: file 0644 0:0 "subfile-contents"'],
    ['alllinks/l1', 'alllinks/l1: file 0644 0:0 "baz-contents"'],
    ['alllinks/lfile', 'alllinks/lfile: file 0644 0:0 "lfile-contents"'],
    ['renamed', 'renamed: file 0644 0:0 "bar-contents"'],
    ['through', 'through: file 0644 0:0 "through"'],
    ['fromlinkdir/inner.txt', 'fromlinkdir/inner.txt: file 0644 0:0 "inner"'],
    // symlinks inside a copied directory are kept as links
    ['fromlinkdir/rel', 'fromlinkdir/rel: symlink 0777 0:0 -> inner.txt'],
    ['gofiles/foo.go', 'gofiles/foo.go: file 0644 0:0 "foo-contents"'],
    ['gofiles/bar.go', 'gofiles/bar.go: file 0644 0:0 "bar-contents"'],
    ['foo2.go', 'foo2.go: file 0644 0:0 "foo-contents"'],
    ['subdest/dir2/foo', 'subdest/dir2/foo: file 0644 0:0 "foo-contents"'],
    ['subdest2/foo', 'subdest2/foo: file 0644 0:0 "foo-contents"'],
    ['subdest3/bar', 'subdest3/bar: file 0644 0:0 "foo-contents"'],
    ['mixed/a.txt', 'mixed/a.txt: file 0644 0:0 "A"'],
  ];
  for (const [path, line] of want) test(path, () => assert.equal(entry(b, path), line));

  test('the copied symlink sources themselves are not links in the image', () => {
    assert.equal(b.fs['alllinks/l0']?.type, 'file');
    assert.equal(b.fs['alllinks/second'], undefined);
  });

  test('a wildcard matching nothing copies nothing (and creates no destination)', () => {
    assert.equal(b.fs['nothing'], undefined);
    assert.equal(b.layers.length, 12, 'the step still makes its (empty) layer');
  });
});

describe('COPY errors', () => {
  const cases: [string, string, string, number][] = [
    ['a missing literal source', 'FROM scratch\nCOPY a.txt /\nCOPY missing.txt /\n', 'COPY_SOURCE_NOT_FOUND', 3],
    ['a missing literal next to a wildcard', 'FROM scratch\nCOPY *.go missing /x/\n', 'COPY_SOURCE_NOT_FOUND', 2],
    ['a directory onto an existing file', 'FROM scratch\nCOPY a.txt /f\nCOPY d /f\n', 'COPY_DEST_INVALID', 3],
    ['(not an error) a file onto an existing directory goes inside it', 'FROM scratch\nCOPY d /x/\nCOPY b.txt /x/nested\n', 'none', 0],
    ['a directory in a copied tree over an existing file', 'FROM scratch\nCOPY a.txt /x/nested\nCOPY d /x/\n', 'COPY_DEST_INVALID', 3],
    ['a destination below a file', 'FROM scratch\nCOPY a.txt /f\nCOPY b.txt /f/g\n', 'COPY_DEST_INVALID', 3],
    ['a non-octal --chmod (refused when parsed)', 'FROM scratch\nCOPY --chmod=64a a.txt /\n', 'FLAG_INVALID', 2],
    ['a --chmod above 07777 (refused when parsed)', 'FROM scratch\nCOPY --chmod=10000 a.txt /\n', 'FLAG_INVALID', 2],
    ['a --chmod that is invalid only after expansion', 'FROM scratch\nARG M=u+q\nCOPY --chmod=$M a.txt /\n', 'FLAG_INVALID', 3],
    ['--parents with a literal path that matches nothing', 'FROM scratch\nCOPY --parents sub/nope /x/\n', 'COPY_SOURCE_NOT_FOUND', 2],
    ['an --exclude pattern with bad syntax', 'FROM scratch\nCOPY --exclude=[ . /x/\n', 'COPY_EXCLUDE_INVALID', 2],
  ];
  for (const [what, dockerfile, code, line] of cases) {
    test(what, async () => {
      const got = await buildError(FILES, dockerfile);
      assert.equal(got.code, code, got.message);
      if (line > 0) assert.equal(got.line, line);
    });
  }

  test('a file of a copied tree over a directory already there is refused (fsutil: cannot replace to directory)', async () => {
    const merge = await buildError({ ...FILES, 'n1/nested/more': 'm' }, 'FROM scratch\nCOPY d /x/\nCOPY n1 /x/\n');
    assert.equal(merge.code, 'none', 'a directory merges into the directory already there');
    const clash = await buildError({ ...FILES, 'n2/nested': 'a file named like the directory' }, 'FROM scratch\nCOPY d /x/\nCOPY n2 /x/\n');
    assert.equal(clash.code, 'COPY_DEST_INVALID');
    assert.equal(clash.line, 3);
  });
});

describe('COPY destination through symlinks in the image', () => {
  let b: Built;
  before(async () => {
    b = await buildIt(
      { ...FILES, 'ln/tgt': { symlink: '/real/target.txt' }, 'ln/dirlink': { symlink: 'realdir' }, 'ln/realdir/x': 'x', 'ln/dangle': { symlink: '/made/here' } },
      `FROM scratch
COPY ln /links/
COPY a.txt /real/target.txt
COPY b.txt /links/tgt
COPY exec.sh /links/dirlink
COPY foo.go /links/dirlink/
COPY a.txt /links/dangle
`,
    );
  });
  test('a final symlink of the destination is followed: its target is replaced, the link stays', () => {
    assert.equal(entry(b, 'links/tgt'), 'links/tgt: symlink 0777 0:0 -> /real/target.txt');
    assert.equal(entry(b, 'real/target.txt'), 'real/target.txt: file 0600 0:0 "B"');
  });
  test('a destination that is a symlink to a directory receives the file inside the directory', () => {
    assert.equal(entry(b, 'links/dirlink'), 'links/dirlink: symlink 0777 0:0 -> realdir');
    assert.equal(entry(b, 'links/realdir/exec.sh'), 'links/realdir/exec.sh: file 0755 0:0 "#!/bin/sh\\n"');
    assert.equal(entry(b, 'links/realdir/foo.go'), 'links/realdir/foo.go: file 0644 0:0 "foo-contents"');
  });
  test('a dangling destination link gets its target created, parents included', () => {
    assert.equal(entry(b, 'links/dangle'), 'links/dangle: symlink 0777 0:0 -> /made/here');
    assert.equal(entry(b, 'made'), 'made: dir 0755 0:0');
    assert.equal(entry(b, 'made/here'), 'made/here: file 0644 0:0 "A"');
  });
});
