/** TreeDraft: directories copied once on first change, the base tree never modified, sharing kept. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type DirNode, getNode, TreeDraft } from '../../lib/vfs/index.ts';
import { codeOf, dir, file } from './tree-kit.ts';

describe('TreeDraft', () => {
  const base = dir({ a: dir({ b: dir({ f: file('f') }), c: dir({ g: file('g') }) }), x: file('x') });
  const snapshot = JSON.stringify([...(getNode(base, ['a']) as DirNode).children.keys()]);

  test('changes go to copies of the directories on the path; the rest is shared; the base is untouched', () => {
    const d = new TreeDraft(base);
    const b = d.dirAt(['a', 'b']);
    d.children(b).set('new', file('n'));
    assert.equal(d.dirAt(['a', 'b']), b, 'a directory is copied once');
    const root = d.finish();
    assert.equal(getNode(root, ['a', 'b', 'new'])?.kind, 'file');
    assert.equal(getNode(base, ['a', 'b', 'new']), undefined);
    assert.equal(getNode(root, ['a', 'c']), getNode(base, ['a', 'c']));
    assert.equal(getNode(root, ['x']), getNode(base, ['x']));
    assert.notEqual(getNode(root, ['a']), getNode(base, ['a']));
    assert.equal(JSON.stringify([...(getNode(base, ['a']) as DirNode).children.keys()]), snapshot);
  });

  test('dirAt creates missing directories only when given metadata; a file on the way is NOT_A_DIRECTORY', () => {
    const d = new TreeDraft(base);
    assert.equal(codeOf(() => d.dirAt(['m', 'n'])), 'NOT_A_DIRECTORY');
    const made = d.dirAt(['m', 'n'], { mode: 0o700, uid: 1, gid: 2, mtime: 3 });
    assert.deepEqual(made.meta, { mode: 0o700, uid: 1, gid: 2, mtime: 3 });
    assert.equal(codeOf(() => d.dirAt(['x', 'y'], { mode: 0o755, uid: 0, gid: 0, mtime: 0 })), 'NOT_A_DIRECTORY');
  });

  test('own() with new metadata keeps the children; directories the draft did not make are never changed in place', () => {
    const d = new TreeDraft(base);
    const a = getNode(base, ['a']) as ReturnType<typeof dir>;
    assert.equal(codeOf(() => d.children(a)), 'INTERNAL');
    const copy = d.own(a, { ...a.meta, mode: 0o700 });
    assert.notEqual(copy, a);
    assert.deepEqual([...copy.children.keys()], [...a.children.keys()]);
    d.children(copy).delete('b');
    assert.equal(a.children.has('b'), true);
  });

  test('a finished draft cannot be used', () => {
    const d = new TreeDraft(base);
    d.finish();
    assert.equal(codeOf(() => d.own(base)), 'INTERNAL');
  });
});
