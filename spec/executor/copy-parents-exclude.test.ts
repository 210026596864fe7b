/**
 * COPY --parents and COPY/ADD --exclude, after BuildKit's integration tests
 * testCopyParents, testCopyRelativeParents, testCopyParentsMissingDirectory
 * (frontend/dockerfile/dockerfile_parents_test.go) and testExcludedFilesOnCopy
 * (exclude_patterns_test.go): their Dockerfiles and assertions, the
 * `RUN [ -d … ]` checks read from the image instead. Where BuildKit's base
 * stage is made by RUN, it is a COPY of the same tree from the context.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildError, buildIt, type Built, describeFs, type Entry } from './build-kit.ts';

const has = (b: Built, path: string, type: 'file' | 'dir') => assert.equal(b.fs[path]?.type, type, `${path} is a ${type}`);
const hasNo = (b: Built, path: string) => assert.ok(!Object.keys(b.fs).some((p) => p === path || p.startsWith(`${path}/`)), `no ${path}`);

describe('COPY --parents', () => {
  test('testCopyParents', async () => {
    const b = await buildIt(
      {
        foo1: { dir: true, mode: 0o700 },
        'foo1/foo2': { dir: true, mode: 0o700 },
        'foo1/foo2/bar': { text: 'testing', mode: 0o600 },
        'foo1/foo2/baz': { text: 'testing2', mode: 0o600 },
      },
      'FROM scratch\nCOPY --parents foo1/foo2/bar /\n\nWORKDIR /test\nCOPY --parents foo1/foo2/ba* .\n',
    );
    assert.equal(b.fs['foo1/foo2/bar']?.text, 'testing');
    assert.equal(b.fs['test/foo1/foo2/bar']?.text, 'testing');
    assert.equal(b.fs['test/foo1/foo2/baz']?.text, 'testing2');
    // Beyond BuildKit's assertions: only the named path, with its parents as they are in the context.
    hasNo(b, 'foo1/foo2/baz');
    hasNo(b, 'Dockerfile');
    assert.deepEqual(describeFs(b.fs, 'foo1').slice(0, 2), ['foo1: dir 0700 0:0', 'foo1/foo2: dir 0700 0:0']);
    assert.ok(b.history.some((h) => h.created_by === 'COPY --parents foo1/foo2/ba* . # buildkit'));
  });

  describe('testCopyRelativeParents', () => {
    // BuildKit's base stage (WORKDIR /test, then mkdir -p / touch).
    const files: Record<string, Entry> = {
      'test/a/b/c/d/e': { dir: true },
      'test/a/b2/c/d/e': { dir: true },
      'test/a/b/c2/d/e': { dir: true },
      'test/a/b/c2/d/e2': { dir: true },
      'test/a/b/c/d/foo': '',
      'test/a/b/c/d/e/bay': '',
      'test/a/b2/c/d/e/bar': '',
      'test/a/b/c2/d/e/baz': '',
      'test/a/b/c2/d/e2/baz': '',
    };
    const targets: Record<string, string> = {
      middle: 'COPY --from=base --parents /test/a/b/./c/d /out/',
      end: 'COPY --from=base --parents /test/a/b/c/d/. /out/',
      start: 'COPY --from=base --parents ./test/a/b/c/d /out/',
      double: 'COPY --from=base --parents /test/a/./b/./c /out/',
      wildcard: 'COPY --from=base --parents /test/a/./*/c /out/',
      doublewildcard: 'COPY --from=base --parents /test/a/b*/./c/**/e /out/',
      doubleinputs: 'COPY --from=base --parents /test/a/b/c*/./d/**/baz /test/a/b*/./c/**/bar /out/',
    };
    const built = new Map<string, Promise<Built>>();
    const target = (name: string) => {
      let p = built.get(name);
      if (p === undefined) {
        p = buildIt(files, `FROM scratch AS base\nCOPY test /test\n\nFROM scratch AS ${name}\n${targets[name]}\n`, { target: name });
        built.set(name, p);
      }
      return p;
    };

    test('middle', async () => {
      const b = await target('middle');
      has(b, 'out/c/d/e', 'dir');
      has(b, 'out/c/d/foo', 'file');
      hasNo(b, 'out/a');
      hasNo(b, 'out/e');
    });
    test('end', async () => {
      const b = await target('end');
      has(b, 'out/test/a/b/c/d/e', 'dir');
      has(b, 'out/test/a/b/c/d/foo', 'file');
    });
    test('start', async () => {
      const b = await target('start');
      has(b, 'out/test/a/b/c/d/e', 'dir');
      has(b, 'out/test/a/b/c/d/foo', 'file');
    });
    test('double', async () => {
      const b = await target('double');
      has(b, 'out/b/c/d/e', 'dir');
      has(b, 'out/b/c/d/foo', 'file');
    });
    test('wildcard', async () => {
      const b = await target('wildcard');
      has(b, 'out/b/c/d/e', 'dir');
      has(b, 'out/b2/c/d/e/bar', 'file');
    });
    test('doublewildcard', async () => {
      const b = await target('doublewildcard');
      has(b, 'out/c/d/e', 'dir');
      has(b, 'out/c/d/e/bay', 'file');
      has(b, 'out/c/d/e/bar', 'file');
    });
    test('doubleinputs', async () => {
      const b = await target('doubleinputs');
      has(b, 'out/d/e/baz', 'file');
      hasNo(b, 'out/d/e/bay');
      has(b, 'out/d/e2/baz', 'file');
      has(b, 'out/c/d/e/bar', 'file');
    });
  });

  describe('testCopyParentsMissingDirectory', () => {
    const files: Record<string, Entry> = { 'test/a/b/c/d/e/bay': '', 'test/a/b/c/d/foo': '' };
    const run = (line: string) => buildIt(files, `FROM scratch AS base\nCOPY test /test\n\nFROM scratch\n${line}\n`);

    test('normal', async () => {
      const b = await run('COPY --from=base --parents /test/a/b/c/d /out/');
      has(b, 'out/test/a/b/c/d/e', 'dir');
      has(b, 'out/test/a/b/c/d/e/bay', 'file');
      hasNo(b, 'out/e');
      hasNo(b, 'out/a');
    });
    test('withpivot', async () => {
      const b = await run('COPY --from=base --parents /test/a/b/./c/d /out/');
      has(b, 'out/c/d/e', 'dir');
      has(b, 'out/c/d/foo', 'file');
      hasNo(b, 'out/a');
      hasNo(b, 'out/e');
    });
    test('nonexistentfile', async () => {
      const err = await buildError(files, 'FROM scratch AS base\nCOPY test /test\n\nFROM scratch\nCOPY --from=base --parents /test/nonexistent-file /out/\n');
      assert.equal(err.code, 'COPY_SOURCE_NOT_FOUND');
      assert.match(err.message, /"\/test\/nonexistent-file": not found/);
      assert.equal(err.line, 5);
    });
    test('wildcard-nonexistent', async () => {
      const b = await run('COPY --from=base --parents /test/a/b2*/c /out/');
      has(b, 'out', 'dir');
      hasNo(b, 'out/a');
    });
    test('wildcard-afterpivot', async () => {
      const b = await run('COPY --from=base --parents /test/a/b/./c2* /out/');
      has(b, 'out', 'dir');
      hasNo(b, 'out/a');
      assert.ok(!Object.keys(b.fs).some((p) => p.startsWith('out/c')));
    });
  });

  test('from the build context, a literal path that is missing is COPY_SOURCE_NOT_FOUND; with --exclude too', async () => {
    const files = { 'a/b/c': 'c' };
    assert.equal((await buildError(files, 'FROM scratch\nCOPY --parents a/./b/x /out/\n')).code, 'COPY_SOURCE_NOT_FOUND');
    assert.equal((await buildError(files, 'FROM scratch\nCOPY --parents --exclude=a/b/c a/b/c /out/\n')).code, 'COPY_SOURCE_NOT_FOUND');
    const b = await buildIt(files, 'FROM scratch\nCOPY --parents a/./b/c /out/\n');
    assert.deepEqual(Object.keys(b.fs).filter((p) => p.startsWith('out')).sort(), ['out', 'out/b', 'out/b/c']);
  });
});

describe('COPY/ADD --exclude', () => {
  test('testExcludedFilesOnCopy (from a plain directory)', async () => {
    const files: Record<string, Entry> = {
      dir1: { dir: true, mode: 0o777 },
      dir2: { dir: true, mode: 0o777 },
      dir3: { dir: true, mode: 0o777 },
      dir4: { dir: true, mode: 0o777 },
      'dir1/file-101.png': { text: '2', mode: 0o600 },
      'dir1/file-102.txt': { text: '3', mode: 0o600 },
      'dir1/file-103.jpeg': { text: '4', mode: 0o600 },
      'dir2/file-201.pdf': { text: '6', mode: 0o600 },
      'dir2/file-202.jpeg': { text: '7', mode: 0o600 },
      'dir2/file-203.png': { text: '8', mode: 0o600 },
      'dir3/file-301.mp3': { text: '9', mode: 0o600 },
      'dir3/file-302.mpeg': { text: '10', mode: 0o600 },
      'dir4/file-401.txt': { text: '11', mode: 0o600 },
      'dir4/file-402.txt': { symlink: 'file-401.txt' },
      'dir4/file-403.txt': { symlink: 'file-404.txt' },
    };
    // BuildKit's context holds no Dockerfile (it comes from another local mount): keep it out of COPY . here.
    const b = await buildIt(
      { ...files, '.dockerignore': 'Dockerfile\n.dockerignore\n' },
      `
# ignore all the image files
FROM scratch as builder1
COPY --exclude=*/*.png --exclude=*/*.jpeg . /1

# ignore all document files
FROM scratch as builder2
COPY --exclude=*/*.pdf --exclude=*/*.txt . /2

# ignore all mp3 files
FROM scratch as builder3
ADD --exclude=*.mp3 dir3/ /3/

# Ignore everything, keeping only .mpeg files, using src as a wildcard.
FROM scratch as builder4
COPY --exclude=*.mp3 --exclude=*.jpeg --exclude=*.png --exclude=*.pdf --exclude=*.txt dir* /4/

# Ignore everything, keeping only txt files.
FROM scratch as builder5
ADD --exclude=*.mp* --exclude=*.jpeg --exclude=*.png --exclude=*.pdf dir* /5

# Exclude all files.
FROM scratch as builder6
ADD --exclude=* dir* /6

FROM scratch
COPY --from=builder1 / /builder1
COPY --from=builder2 / /builder2
COPY --from=builder3 / /builder3
COPY --from=builder4 / /builder4
COPY --from=builder5 / /builder5
COPY --from=builder6 / /builder6
`,
    );
    const cases: [string, string | undefined][] = [
      ['builder1/1/dir1/file-101.png', undefined], ['builder1/1/dir1/file-102.txt', '3'], ['builder1/1/dir1/file-103.jpeg', undefined],
      ['builder1/1/dir2/file-201.pdf', '6'], ['builder1/1/dir2/file-202.jpeg', undefined], ['builder1/1/dir2/file-203.png', undefined],
      ['builder1/1/dir3/file-301.mp3', '9'], ['builder1/1/dir3/file-302.mpeg', '10'], ['builder1/1/dir4/file-401.txt', '11'],
      ['builder1/1/dir4/file-402.txt', 'file-401.txt'], ['builder1/1/dir4/file-403.txt', 'file-404.txt'],
      ['builder2/2/dir1/file-101.png', '2'], ['builder2/2/dir1/file-102.txt', undefined], ['builder2/2/dir1/file-103.jpeg', '4'],
      ['builder2/2/dir2/file-201.pdf', undefined], ['builder2/2/dir2/file-202.jpeg', '7'], ['builder2/2/dir2/file-203.png', '8'],
      ['builder2/2/dir3/file-301.mp3', '9'], ['builder2/2/dir3/file-302.mpeg', '10'], ['builder2/2/dir4/file-401.txt', undefined],
      ['builder2/2/dir4/file-402.txt', undefined], ['builder2/2/dir4/file-403.txt', undefined],
      ['builder3/3/file-301.mp3', undefined], ['builder3/3/file-302.mpeg', '10'],
      ['builder4/4/file-101.png', undefined], ['builder4/4/file-102.txt', undefined], ['builder4/4/file-103.jpeg', undefined],
      ['builder4/4/file-201.pdf', undefined], ['builder4/4/file-202.jpeg', undefined], ['builder4/4/file-203.png', undefined],
      ['builder4/4/file-301.mp3', undefined], ['builder4/4/file-302.mpeg', '10'], ['builder4/4/dir4/file-401.txt', undefined],
      ['builder4/4/dir4/file-402.txt', undefined], ['builder4/4/dir4/file-403.txt', undefined],
      ['builder5/5/file-101.png', undefined], ['builder5/5/file-102.txt', '3'], ['builder5/5/file-103.jpeg', undefined],
      ['builder5/5/file-201.pdf', undefined], ['builder5/5/file-202.jpeg', undefined], ['builder5/5/file-203.png', undefined],
      ['builder5/5/file-301.mp3', undefined], ['builder5/5/file-302.mpeg', undefined], ['builder5/5/file-401.txt', '11'],
      ['builder5/5/file-402.txt', 'file-401.txt'], ['builder5/5/file-403.txt', 'file-404.txt'],
    ];
    for (const [path, want] of cases) {
      const e = b.fs[path];
      if (want === undefined) assert.equal(e, undefined, `${path} is excluded`);
      else assert.equal(e?.type === 'symlink' ? e.linkname : e?.text, want, path);
    }
    assert.equal(b.fs['builder6/6']?.type, 'dir');
    assert.deepEqual(Object.keys(b.fs).filter((p) => p.startsWith('builder6/6/')), [], 'all files excluded: the directory is empty');
  });

  test('`!` exceptions re-include paths, and an excluded directory appears only for what is re-included', async () => {
    const b = await buildIt(
      { 'd/a.txt': 'a', 'd/keep.txt': 'k', 'd/b.md': 'b', 'd/sub': { dir: true, mode: 0o700 }, 'd/sub/x': 'x', 'd/sub/keep': 'kk', 'd/gone/y': 'y' },
      'FROM scratch\nCOPY --exclude=*.txt --exclude=!keep.txt --exclude=sub --exclude=!sub/keep --exclude=gone d /x/\n',
    );
    assert.deepEqual(describeFs(b.fs, 'x'), ['x: dir 0755 0:0', 'x/b.md: file 0644 0:0 "b"', 'x/keep.txt: file 0644 0:0 "k"', 'x/sub: dir 0700 0:0', 'x/sub/keep: file 0644 0:0 "kk"']);
  });

  test('patterns match below each source, never the source itself (BuildKit code; its docs differ, moby/buildkit#5489)', async () => {
    const b = await buildIt({ 'a.txt': 'a', 'b.txt': 'b', 'd/c.txt': 'c' }, 'FROM scratch\nCOPY --exclude=*.txt *.txt /x/\nCOPY --exclude=a.txt a.txt /y/\nCOPY --exclude=*.txt d /z/\n');
    assert.deepEqual(Object.keys(b.fs).filter((p) => /^[xyz]\//.test(p)).sort(), ['x/a.txt', 'x/b.txt', 'y/a.txt']);
    assert.equal(b.fs['z']?.type, 'dir');
  });

  test('patterns are not expanded, and are not in the history (as BuildKit)', async () => {
    const b = await buildIt({ 'd/$X': 'literal', 'd/y': 'y' }, 'FROM scratch\nARG X=y\nCOPY --exclude=$X d /x/\n');
    assert.deepEqual(Object.keys(b.fs).filter((p) => p.startsWith('x/')), ['x/y']);
    assert.equal(b.history.at(-1)?.created_by, 'COPY d /x/ # buildkit');
  });
});
