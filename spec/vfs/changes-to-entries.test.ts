/**
 * changesToEntries: a diff becomes the entries of an OCI layer tar
 * (image-spec layer.md): every parent directory of a change present with its
 * metadata, deletions as `.wh.<name>`, opaque directories as `.wh..wh..opq`.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { type Change, changesToEntries, diff, type DirNode, entryFor, LinkGroup, setNode } from '../../lib/vfs/index.ts';
import { device, dir, fifo, file, link } from './tree-kit.ts';

async function bodyText(body: Buffer | Readable | undefined): Promise<string> {
  if (body === undefined) return '<none>';
  if (Buffer.isBuffer(body)) return body.toString('utf8');
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

describe('changesToEntries', () => {
  const upper = dir({
    a: dir({ b: dir({ f: file('deep', { mtime: 10.9 }) }, { mode: 0o700, uid: 2, gid: 3, mtime: 20 }) }, { mode: 0o750, uid: 5, gid: 6, mtime: 30 }),
    top: file('t'),
  });

  test('a change deep in unchanged directories brings every parent along, with its metadata', () => {
    const entries = changesToEntries(upper, [{ op: 'put', path: 'a/b/f', node: file('deep', { mtime: 10.9 }) }]);
    assert.deepEqual(
      entries.map((e) => [e.name, e.type, e.mode, e.uid, e.gid, e.mtime]),
      [
        ['a', 'directory', 0o750, 5, 6, 30],
        ['a/b', 'directory', 0o700, 2, 3, 20],
        ['a/b/f', 'file', 0o644, 0, 0, 10],
      ],
    );
  });

  test('deletions become whiteouts next to the deleted name; parents are included once', () => {
    const changes: Change[] = [
      { op: 'delete', path: 'a/b/gone' },
      { op: 'delete', path: 'a/b/gone2' },
      { op: 'delete', path: 'old' },
    ];
    const entries = changesToEntries(upper, changes);
    assert.deepEqual(
      entries.map((e) => [e.name, e.type, e.size]),
      [
        ['a', 'directory', 0],
        ['a/b', 'directory', 0],
        ['a/b/.wh.gone', 'file', 0],
        ['a/b/.wh.gone2', 'file', 0],
        ['.wh.old', 'file', 0],
      ],
    );
  });

  test('an opaque directory becomes its .wh..wh..opq entry', () => {
    const entries = changesToEntries(upper, [{ op: 'opaque', path: 'a/b' }]);
    assert.ok(entries.some((e) => e.name === 'a/b/.wh..wh..opq' && e.type === 'file' && e.size === 0));
    assert.ok(entries.some((e) => e.name === 'a' && e.type === 'directory'));
  });

  test('the result of diff: parents first, no duplicate names', () => {
    let next = setNode(upper, ['a', 'b', 'g'], file('g'));
    next = setNode(next, ['a', 'h'], link('b/g'));
    next = setNode(next, ['top'], undefined);
    const entries = changesToEntries(next, diff(upper, next));
    const names = entries.map((e) => e.name);
    assert.deepEqual(names, ['a', 'a/b', 'a/b/g', 'a/h', '.wh.top']);
    assert.equal(new Set(names).size, names.length);
  });

  test('an entry for each node kind', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'kiln-vfs-'));
    try {
      const host = join(tmp, 'h.txt');
      writeFileSync(host, 'from the host');
      const xattrs = { 'user.note': Buffer.from('v') };
      const cases: [string, Parameters<typeof entryFor>[1], Record<string, unknown>, string][] = [
        ['d', dir({}, { mode: 0o1777, xattrs }), { type: 'directory', mode: 0o1777, xattrs }, '<none>'],
        ['f', file('hello', { mode: 0o4755, uid: 1000, gid: 1001 }), { type: 'file', size: 5, mode: 0o4755, uid: 1000, gid: 1001 }, 'hello'],
        ['h', { kind: 'file', meta: file('').meta, size: 13, content: { kind: 'host-file', path: host } }, { type: 'file', size: 13 }, 'from the host'],
        ['l', link('../x/y'), { type: 'symlink', linkname: '../x/y', size: 0 }, '<none>'],
        ['c', device('char', 1, 3), { type: 'character-device', devmajor: 1, devminor: 3 }, '<none>'],
        ['b', device('block', 8, 1), { type: 'block-device', devmajor: 8, devminor: 1 }, '<none>'],
        ['p', fifo(), { type: 'fifo', mode: 0o600 }, '<none>'],
      ];
      for (const [name, node, want, body] of cases) {
        const e = entryFor(name, node);
        assert.equal(e.name, name);
        for (const [k, v] of Object.entries(want)) assert.deepEqual((e as unknown as Record<string, unknown>)[k], v, `${name}.${k}`);
        assert.equal(await bodyText((e as { body?: () => Buffer | Readable }).body?.()), body, `${name} body`);
      }
      assert.equal('xattrs' in entryFor('f', file('x')), false, 'no xattrs field without xattrs');
      assert.equal('xattrs' in entryFor('f', file('x', { xattrs: {} })), false, 'no xattrs field for an empty set');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('the entries do not alias the node metadata (xattrs are copied)', () => {
    const xattrs = { 'user.a': Buffer.from('1') };
    const e = entryFor('f', file('x', { xattrs }));
    assert.notEqual((e as { xattrs?: unknown }).xattrs, xattrs);
    assert.deepEqual((e as { xattrs?: unknown }).xattrs, xattrs);
  });

  test('the root itself never becomes an entry', () => {
    const root: DirNode = dir({ x: file('') }, { mode: 0o700 });
    assert.deepEqual(changesToEntries(root, diff(dir(), root)).map((e) => e.name), ['x']);
  });

  test('a link group becomes one entry with the content and hardlinks to it (its first path in tar order)', () => {
    const g = new LinkGroup();
    const f = { ...file('data', { mode: 0o750, uid: 3 }), link: g };
    const s = { ...link('t'), link: new LinkGroup() };
    const tree = dir({ z: f, a: dir({ b: f }), s1: s, s0: s });
    const changes: Change[] = [
      { op: 'put', path: 'z', node: f },
      { op: 'put', path: 'a/b', node: f },
      { op: 'put', path: 's1', node: s },
      { op: 'put', path: 's0', node: s },
    ];
    assert.deepEqual(
      changesToEntries(tree, changes)
        .map((e) => [e.name, e.type, e.linkname, e.size, e.mode, e.uid, e.body !== undefined])
        .sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
      [
        ['a', 'directory', undefined, 0, 0o755, 0, false],
        ['a/b', 'file', undefined, 4, 0o750, 3, true],
        ['s0', 'symlink', 't', 0, 0o777, 0, false],
        ['s1', 'hardlink', 's0', 0, 0o777, 0, false],
        ['z', 'hardlink', 'a/b', 0, 0o750, 3, false],
      ],
    );
  });

  test('an opaque root becomes .wh..wh..opq at the top', () => {
    assert.deepEqual(changesToEntries(dir(), [{ op: 'opaque', path: '' }]).map((e) => e.name), ['.wh..wh..opq']);
  });
});
