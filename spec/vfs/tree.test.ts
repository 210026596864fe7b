/**
 * Tree operations: confined symlink resolution (Linux path_resolution(7)
 * semantics with `..` and absolute links clamped to the root, or refused for
 * build contexts), structural sharing, mkdir -p through symlinks.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type DirNode, getNode, mkdirAll, resolvePath, setNode, walk, type EscapePolicy } from '../../lib/vfs/index.ts';
import { codeOf, dir, file, link } from './tree-kit.ts';

const X_SO = file('elf');
const PASSWD = file('root:x:0:0::/root:/bin/sh\n');

/** A tree with every kind of link situation the resolver must handle. */
function fixture(): DirNode {
  return dir({
    etc: dir({ passwd: PASSWD }),
    usr: dir({ lib: dir({ 'x.so': X_SO }), bin: dir({ 'sh-link': link('../lib/x.so') }) }),
    lib: link('usr/lib'),
    abslib: link('/usr/lib'),
    chain1: link('chain2'),
    chain2: link('./lib'),
    loop1: link('loop2'),
    loop2: link('/loop1'),
    self: link('self'),
    up: link('../../etc'),
    dotdot: link('usr/lib/..'),
    afile: file('plain'),
    dangling: link('nowhere/deeper'),
    danglingup: link('gone/../etc2'),
    tofile: link('afile'),
  });
}

describe('resolvePath', () => {
  const root = fixture();
  const cases: { path: string; follow?: boolean; escape?: EscapePolicy; want: string | [string, string | undefined] }[] = [
    { path: '/etc/passwd', want: ['etc/passwd', 'file'] },
    { path: 'etc/passwd', want: ['etc/passwd', 'file'] },
    { path: '/', want: ['', 'dir'] },
    { path: '/lib/x.so', want: ['usr/lib/x.so', 'file'] },
    { path: '/abslib/x.so', want: ['usr/lib/x.so', 'file'] },
    { path: '/chain1/x.so', want: ['usr/lib/x.so', 'file'] },
    { path: '/usr/bin/sh-link', want: ['usr/lib/x.so', 'file'] },
    { path: '/usr/bin/sh-link', follow: false, want: ['usr/bin/sh-link', 'symlink'] },
    { path: '/lib', follow: false, want: ['lib', 'symlink'] },
    { path: '/lib', want: ['usr/lib', 'dir'] },
    { path: '/lib/', want: ['usr/lib', 'dir'] },
    // `..` after a symlink is physical: /lib is /usr/lib, so /lib/.. is /usr
    { path: '/lib/../etc', want: ['usr/etc', undefined] },
    { path: '/lib/..', want: ['usr', 'dir'] },
    { path: '/dotdot', want: ['usr', 'dir'] },
    // a relative link climbing above the root stops at the root (clamp)
    { path: '/up/passwd', want: ['etc/passwd', 'file'] },
    { path: '/../../etc/passwd', want: ['etc/passwd', 'file'] },
    { path: '/missing/a/b', want: ['missing/a/b', undefined] },
    { path: '/missing/./a/', want: ['missing/a', undefined] },
    { path: '/dangling', want: ['nowhere/deeper', undefined] },
    { path: '/dangling', follow: false, want: ['dangling', 'symlink'] },
    // the unresolved rest of a missing path never keeps `..` as a name
    { path: '/danglingup', want: ['etc2', undefined] },
    { path: '/missing/../etc/passwd', want: ['etc/passwd', undefined] },
    { path: '/tofile', want: ['afile', 'file'] },
    { path: '/afile/x', want: 'NOT_A_DIRECTORY' },
    { path: '/tofile/x', want: 'NOT_A_DIRECTORY' },
    { path: '/afile/..', want: 'NOT_A_DIRECTORY' },
    { path: '/loop1', want: 'SYMLINK_LOOP' },
    { path: '/loop1', follow: false, want: ['loop1', 'symlink'] },
    { path: '/self/x', want: 'SYMLINK_LOOP' },
    { path: '/self', follow: false, want: ['self', 'symlink'] },
    // build-context policy: leaving the root is an error, staying inside is fine
    { path: '/lib/x.so', escape: 'error', want: ['usr/lib/x.so', 'file'] },
    { path: '/dotdot', escape: 'error', want: ['usr', 'dir'] },
    { path: '/../etc', escape: 'error', want: 'PATH_OUTSIDE_ROOT' },
    { path: '/abslib/x.so', escape: 'error', want: 'PATH_OUTSIDE_ROOT' },
    { path: '/up/passwd', escape: 'error', want: 'PATH_OUTSIDE_ROOT' },
    { path: '/abslib', follow: false, escape: 'error', want: ['abslib', 'symlink'] },
  ];
  for (const c of cases) {
    const name = `${c.path} (follow=${c.follow ?? true}, escape=${c.escape ?? 'clamp'})`;
    test(name, () => {
      const run = () => resolvePath(root, c.path, { followFinal: c.follow ?? true, ...(c.escape ? { escape: c.escape } : {}) });
      if (typeof c.want === 'string') {
        assert.equal(codeOf(run), c.want);
        return;
      }
      const r = run();
      assert.deepEqual([r.path.join('/'), r.node?.kind], c.want);
    });
  }

  test('a chain of exactly 40 links resolves, 41 is a loop (Linux MAXSYMLINKS)', () => {
    const build = (n: number) => {
      const children: Record<string, ReturnType<typeof link> | ReturnType<typeof file>> = { end: file('x') };
      for (let i = 0; i < n; i++) children[`l${i}`] = link(i === n - 1 ? 'end' : `l${i + 1}`);
      return dir(children);
    };
    assert.equal(resolvePath(build(40), '/l0', { followFinal: true }).node?.kind, 'file');
    assert.equal(codeOf(() => resolvePath(build(41), '/l0', { followFinal: true })), 'SYMLINK_LOOP');
  });

  test('returns the very node objects of the tree', () => {
    assert.equal(resolvePath(root, '/chain1/x.so', { followFinal: true }).node, X_SO);
  });
});

describe('getNode', () => {
  test('never follows symlinks', () => {
    const root = fixture();
    assert.equal(getNode(root, ['etc', 'passwd']), PASSWD);
    assert.equal(getNode(root, ['lib', 'x.so']), undefined);
    assert.equal(getNode(root, ['lib'])?.kind, 'symlink');
    assert.equal(getNode(root, ['afile', 'x']), undefined);
    assert.equal(getNode(root, []), root);
  });
});

describe('setNode', () => {
  test('copies only the directories on the path; everything else is shared', () => {
    const root = fixture();
    const f = file('new');
    const next = setNode(root, ['usr', 'lib', 'new.so'], f);
    assert.notEqual(next, root);
    assert.notEqual(next.children.get('usr'), root.children.get('usr'));
    const oldUsr = root.children.get('usr') as DirNode;
    const newUsr = next.children.get('usr') as DirNode;
    assert.notEqual(newUsr.children.get('lib'), oldUsr.children.get('lib'));
    assert.equal(newUsr.children.get('bin'), oldUsr.children.get('bin'), 'untouched sibling subtree is the same object');
    assert.equal(next.children.get('etc'), root.children.get('etc'));
    assert.equal(getNode(next, ['usr', 'lib', 'x.so']), X_SO);
    assert.equal(getNode(next, ['usr', 'lib', 'new.so']), f);
    assert.equal(newUsr.meta, oldUsr.meta, 'directories on the path keep their metadata');
    assert.equal(getNode(root, ['usr', 'lib', 'new.so']), undefined, 'the old tree is unchanged');
  });

  test('removes an entry when the node is undefined', () => {
    const root = fixture();
    const next = setNode(root, ['etc', 'passwd'], undefined);
    assert.equal(getNode(next, ['etc', 'passwd']), undefined);
    assert.equal((getNode(next, ['etc']) as DirNode).children.size, 0);
    assert.equal(getNode(root, ['etc', 'passwd']), PASSWD);
    assert.equal(next.children.get('usr'), root.children.get('usr'));
  });

  test('refuses a missing or non-directory component, and a non-directory root', () => {
    const root = fixture();
    assert.equal(codeOf(() => setNode(root, ['missing', 'x'], file('x'))), 'NOT_A_DIRECTORY');
    assert.equal(codeOf(() => setNode(root, ['afile', 'x'], file('x'))), 'NOT_A_DIRECTORY');
    assert.equal(codeOf(() => setNode(root, ['lib', 'x'], file('x'))), 'NOT_A_DIRECTORY', 'symlinks are not followed');
    assert.equal(codeOf(() => setNode(root, [], file('x'))), 'ROOT_NOT_DIRECTORY');
    assert.equal(codeOf(() => setNode(root, [], undefined)), 'ROOT_NOT_DIRECTORY');
    const other = dir();
    assert.equal(setNode(root, [], other), other);
  });
});

describe('mkdirAll', () => {
  const M = { mode: 0o700, uid: 7, gid: 8, mtime: 42 };

  test('creates every missing directory with the given metadata', () => {
    const root = dir();
    const r = mkdirAll(root, '/a/b/c', M);
    assert.deepEqual(r.path, ['a', 'b', 'c']);
    for (const p of [['a'], ['a', 'b'], ['a', 'b', 'c']]) {
      const n = getNode(r.root, p);
      assert.equal(n?.kind, 'dir');
      assert.deepEqual(n?.meta, M);
    }
    assert.equal(r.root.meta, root.meta);
    assert.equal(root.children.size, 0, 'input unchanged');
  });

  test('keeps existing directories and their metadata; an existing path returns the same root', () => {
    const usr = dir({}, { mode: 0o751, uid: 3 });
    const root = dir({ usr });
    const r = mkdirAll(root, '/usr/share', M);
    assert.deepEqual(getNode(r.root, ['usr'])?.meta, usr.meta);
    assert.deepEqual(getNode(r.root, ['usr', 'share'])?.meta, M);
    const again = mkdirAll(r.root, 'usr/./share/', M);
    assert.equal(again.root, r.root);
    assert.deepEqual(again.path, ['usr', 'share']);
  });

  test('follows symlinks of existing components and creates inside the target', () => {
    const root = fixture();
    const r = mkdirAll(root, '/lib/sub/x', M);
    assert.deepEqual(r.path, ['usr', 'lib', 'sub', 'x']);
    assert.equal(getNode(r.root, ['lib'])?.kind, 'symlink', 'the link itself stays');
    assert.equal(getNode(r.root, ['usr', 'lib', 'sub', 'x'])?.kind, 'dir');
    assert.equal(getNode(r.root, ['usr', 'lib', 'x.so']), X_SO);
  });

  test('a dangling symlink gets its target created, parents included', () => {
    const root = dir({ d: link('/opt/app') });
    const r = mkdirAll(root, '/d/sub', M);
    assert.deepEqual(r.path, ['opt', 'app', 'sub']);
    assert.equal(getNode(r.root, ['d'])?.kind, 'symlink');
    for (const p of [['opt'], ['opt', 'app'], ['opt', 'app', 'sub']]) assert.equal(getNode(r.root, p)?.kind, 'dir', p.join('/'));
  });

  test('`..` is resolved after the component before it', () => {
    const r = mkdirAll(dir(), '/a/../b', M);
    assert.deepEqual(r.path, ['b']);
    assert.deepEqual([...r.root.children.keys()].sort(), ['a', 'b']);
  });

  test('fails on a non-directory on the way or at the end', () => {
    const root = fixture();
    assert.equal(codeOf(() => mkdirAll(root, '/afile/x', M)), 'NOT_A_DIRECTORY');
    assert.equal(codeOf(() => mkdirAll(root, '/afile', M)), 'NOT_A_DIRECTORY');
    assert.equal(codeOf(() => mkdirAll(root, '/tofile/x', M)), 'NOT_A_DIRECTORY');
    assert.equal(codeOf(() => mkdirAll(root, '/etc/passwd/x', M)), 'NOT_A_DIRECTORY');
    assert.equal(codeOf(() => mkdirAll(root, '/loop1/x', M)), 'SYMLINK_LOOP');
  });

  test('with the error policy, an absolute symlink on the way is refused', () => {
    assert.equal(codeOf(() => mkdirAll(fixture(), '/abslib/x', M, 'error')), 'PATH_OUTSIDE_ROOT');
  });
});

describe('walk', () => {
  test('visits pre-order, children in byte order, paths relative to the start', () => {
    const root = dir({ b: file('b'), 'a.b': file(''), a: dir({ z: file(''), B: dir({ q: link('x') }) }), 'ä': file('') });
    const seen: string[] = [];
    walk(root, (p, n) => seen.push(`${p.join('/')}:${n.kind}`));
    assert.deepEqual(seen, ['a:dir', 'a/B:dir', 'a/B/q:symlink', 'a/z:file', 'a.b:file', 'b:file', 'ä:file']);
  });
});
