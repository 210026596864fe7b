/**
 * diff(lower, upper): the changes of a layer, in tar order. Expectations are
 * written from the OCI layer model (image-spec layer.md: additions and
 * modifications as entries, deletions as whiteouts), not from kiln's output.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type Change, comparePaths, diff, type DirNode, LinkGroup, type Node, setNode } from '../../lib/vfs/index.ts';
import { device, dir, fifo, file, link } from './tree-kit.ts';

const summary = (changes: Change[]) => changes.map((c) => (c.op === 'put' ? `put ${c.path} ${c.node.kind}` : `${c.op} ${c.path}`));

/** A directory whose children may not be read: diff must skip it when it is shared. */
function untouchable(): DirNode {
  const children = new Map<string, Node>([['x', file('x')]]);
  const trap = (): never => {
    throw new Error('a shared subtree was walked');
  };
  for (const m of ['keys', 'values', 'entries', 'forEach', 'get', 'has', Symbol.iterator] as const) {
    Object.defineProperty(children, m, { value: trap });
  }
  return { kind: 'dir', meta: { mode: 0o755, uid: 0, gid: 0, mtime: 1 }, children };
}

describe('diff', () => {
  const shared = untouchable();
  const lower = dir({
    a: dir({ f1: file('one'), sub: shared }),
    b: file('b'),
    c: link('target'),
    d: dir({ x: file('x') }),
    e: file('e'),
    same: file('same'),
    z: dir({ keep: file('k'), gone: dir({ deep: file('d') }) }),
  });

  test('additions, deletions, modifications and kind changes, in tar order', () => {
    let upper = setNode(lower, ['a'], { ...(lower.children.get('a') as DirNode), meta: { ...lower.meta, mode: 0o700 } });
    upper = setNode(upper, ['a', 'f0'], file('new'));
    upper = setNode(upper, ['a', 'f1'], file('ONE'));
    upper = setNode(upper, ['b'], undefined);
    upper = setNode(upper, ['c'], link('elsewhere'));
    upper = setNode(upper, ['d'], file('was a dir'));
    upper = setNode(upper, ['e'], dir({ inner: file('i'), innerdir: dir({ leaf: fifo() }) }));
    upper = setNode(upper, ['n'], dir({ m: file('m') }));
    upper = setNode(upper, ['z', 'gone'], undefined);
    upper = setNode(upper, ['A'], device('char', 1, 3));
    const changes = diff(lower, upper);
    assert.deepEqual(summary(changes), [
      'put A char',
      'put a dir',
      'put a/f0 file',
      'put a/f1 file',
      'delete b',
      'put c symlink',
      'put d file',
      'put e dir',
      'put e/inner file',
      'put e/innerdir dir',
      'put e/innerdir/leaf fifo',
      'put n dir',
      'put n/m file',
      'delete z/gone',
    ]);
    const paths = changes.map((c) => c.path);
    assert.deepEqual([...paths].sort(comparePaths), paths, 'output is in comparePaths order');
    const put = changes.find((c) => c.path === 'a/f1');
    assert.equal(put?.op === 'put' && put.node, (upper.children.get('a') as DirNode).children.get('f1'), 'puts carry the upper node');
  });

  test('identical trees, and the same tree twice, give no changes', () => {
    assert.deepEqual(diff(lower, lower), []);
    const copy = dir({ x: file('same bytes') });
    const again = dir({ x: file('same bytes') });
    assert.deepEqual(diff(copy, again), [], 'equal bytes in different buffers are no change');
  });

  test('metadata changes of leaves are changes: mode, owner, mtime, xattrs', () => {
    const base = dir({ f: file('x') });
    const variants: [string, Partial<ReturnType<typeof file>['meta']>][] = [
      ['mode', { mode: 0o600 }],
      ['uid', { uid: 1 }],
      ['gid', { gid: 1 }],
      ['mtime', { mtime: 5 }],
      ['xattrs', { xattrs: { 'user.k': Buffer.from('v') } }],
    ];
    for (const [what, meta] of variants) {
      const upper = dir({ f: file('x', meta) });
      assert.deepEqual(summary(diff(base, upper)), ['put f file'], what);
    }
    const xa = dir({ f: file('x', { xattrs: { 'user.k': Buffer.from('v') } }) });
    const xb = dir({ f: file('x', { xattrs: { 'user.k': Buffer.from('v') } }) });
    const xc = dir({ f: file('x', { xattrs: { 'user.k': Buffer.from('w') } }) });
    assert.deepEqual(diff(xa, xb), []);
    assert.deepEqual(summary(diff(xa, xc)), ['put f file']);
  });

  test('a directory whose metadata is unchanged is not itself a change', () => {
    const l = dir({ d: dir({ x: file('1') }) });
    const u = dir({ d: dir({ x: file('2') }) });
    assert.deepEqual(summary(diff(l, u)), ['put d/x file']);
  });

  test('device numbers and symlink targets are compared', () => {
    assert.deepEqual(summary(diff(dir({ c: device('char', 1, 3) }), dir({ c: device('char', 1, 5) }))), ['put c char']);
    assert.deepEqual(summary(diff(dir({ c: device('char', 1, 3) }), dir({ c: device('block', 1, 3) }))), ['put c block']);
    assert.deepEqual(diff(dir({ l: link('t') }), dir({ l: link('t') })), []);
  });

  test('from an empty root: every node, a directory before its subtree', () => {
    const upper = dir({ b: dir({ c: file('') }), a: file(''), 'b.x': file('') });
    assert.deepEqual(summary(diff(dir(), upper)), ['put a file', 'put b dir', 'put b/c file', 'put b.x file']);
  });

  test('deleting a directory is one change, not one per descendant', () => {
    assert.deepEqual(summary(diff(dir({ d: dir({ x: file(''), y: dir({ z: file('') }) }) }), dir())), ['delete d']);
  });

  test('a directory emptied and refilled becomes opaque when that is smaller than its whiteouts', () => {
    const files = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}`, file(`old ${i}`)]));
    const lower = dir({ d: dir(files), other: file('o') });
    const upper = dir({ d: dir({ fresh: file('new') }), other: file('o') });
    assert.deepEqual(summary(diff(lower, upper)), ['opaque d', 'put d/fresh file']);
  });

  test('a few deletions among kept children stay whiteouts', () => {
    const files = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}`, file(`old ${i}`)]));
    const lower = dir({ d: dir(files) });
    const { f3: _gone, ...rest } = files;
    assert.deepEqual(summary(diff(lower, dir({ d: dir(rest) }))), ['delete d/f3']);
  });

  test('opaque is not chosen when it would re-emit a large unchanged file', () => {
    const big = file('x'.repeat(1_000_000));
    const lower = dir({ d: dir({ big, b: file('b'), c: file('c') }) });
    const upper = dir({ d: dir({ big, n: file('n') }) });
    assert.deepEqual(summary(diff(lower, upper)), ['delete d/b', 'delete d/c', 'put d/n file']);
  });

  test('opaque at the root, when everything was replaced', () => {
    const lower = dir(Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`old${i}`, file('')])));
    assert.deepEqual(summary(diff(lower, dir({ new: file('n') }))), ['opaque ', 'put new file']);
  });

  test('a new hard link brings every other path of its group into the layer', () => {
    const g = new LinkGroup();
    const shared = { ...file('shared'), link: g };
    const lower = dir({ a: shared, d: dir({ b: shared }), z: file('z') });
    const upper = dir({ a: shared, d: dir({ b: shared }), z: file('z'), c: shared });
    assert.deepEqual(summary(diff(lower, upper)), ['put a file', 'put c file', 'put d/b file']);
  });

  test('a path joining or leaving a link group is a change; deleting one link is one whiteout', () => {
    const g = new LinkGroup();
    const plain = file('same');
    const joined = { ...plain, link: g };
    assert.deepEqual(summary(diff(dir({ a: plain }), dir({ a: joined, b: joined }))), ['put a file', 'put b file']);
    assert.deepEqual(summary(diff(dir({ a: joined, b: joined }), dir({ a: joined, b: plain }))), ['put b file']);
    assert.deepEqual(summary(diff(dir({ a: joined, b: joined }), dir({ a: joined }))), ['delete b']);
  });

  test('metadata-only changes of a directory: the directory alone', () => {
    const kids = { x: file('x') };
    for (const meta of [{ mtime: 5 }, { xattrs: { 'user.a': Buffer.from('1') } }, { uid: 3 }]) {
      assert.deepEqual(summary(diff(dir({ d: dir(kids) }), dir({ d: dir(kids, meta) }))), ['put d dir'], JSON.stringify(meta));
    }
  });
});
