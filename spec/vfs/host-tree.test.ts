/**
 * hostTree: a build context read into a tree. Expectations from what the
 * host filesystem holds (set up here with fs calls and mkfifo), and from
 * BuildKit's context semantics: owners are not carried (0:0), symlinks are
 * kept verbatim (resolved later, confined), a .dockerignore-like filter
 * removes paths, and an excluded directory is still entered when something
 * below it may be re-included.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DirNode, getNode, type HostFilter, hostTree } from '../../lib/vfs/index.ts';
import { codeOf } from './tree-kit.ts';

describe('hostTree', () => {
  const root = mkdtempSync(join(tmpdir(), 'kiln-host-'));
  let server: Server;

  before(async () => {
    writeFileSync(join(root, 'a.txt'), 'hello');
    chmodSync(join(root, 'a.txt'), 0o640);
    mkdirSync(join(root, 'sub'));
    chmodSync(join(root, 'sub'), 0o2750);
    writeFileSync(join(root, 'sub', 'b'), '');
    chmodSync(join(root, 'sub', 'b'), 0o4755);
    symlinkSync('../outside', join(root, 'rel-link'));
    symlinkSync('/etc/passwd', join(root, 'abs-link'));
    execFileSync('mkfifo', [join(root, 'pipe')]);
    mkdirSync(join(root, 'node_modules', 'x'), { recursive: true });
    writeFileSync(join(root, 'node_modules', 'x', 'index.js'), '');
    mkdirSync(join(root, 'docs'));
    writeFileSync(join(root, 'docs', 'keep.md'), 'kept');
    writeFileSync(join(root, 'docs', 'drop.md'), 'dropped');
    mkdirSync(join(root, 'empty-excluded'));
    writeFileSync(join(root, 'empty-excluded', 'x'), '');
    writeFileSync(join(root, 'debug.log'), '');
    utimesSync(join(root, 'a.txt'), 1_600_000_000, 1_700_000_000.75);
    server = createServer();
    await new Promise<void>((resolve) => server.listen(join(root, 'sock'), resolve));
  });
  after(() => {
    server.close();
    rmSync(root, { recursive: true, force: true });
  });

  test('reads files, directories, symlinks and fifos; a socket becomes an empty file (BuildKit testCopySocket)', () => {
    const tree = hostTree(root);
    const kinds = Object.fromEntries([...tree.children].map(([k, v]) => [k, v.kind]));
    assert.deepEqual(kinds, {
      'a.txt': 'file',
      sub: 'dir',
      'rel-link': 'symlink',
      'abs-link': 'symlink',
      pipe: 'fifo',
      node_modules: 'dir',
      docs: 'dir',
      'empty-excluded': 'dir',
      'debug.log': 'file',
      sock: 'file',
    });
    const sock = getNode(tree, ['sock']);
    assert.ok(sock?.kind === 'file' && sock.size === 0);
    assert.equal(getNode(hostTree(root, { sockets: 'skip' }), ['sock']), undefined);
  });

  test('keeps symlink targets verbatim', () => {
    const tree = hostTree(root);
    const rel = getNode(tree, ['rel-link']);
    const abs = getNode(tree, ['abs-link']);
    assert.equal(rel?.kind === 'symlink' && rel.target, '../outside');
    assert.equal(abs?.kind === 'symlink' && abs.target, '/etc/passwd');
  });

  test('modes keep permission and special bits; owners are 0:0 unless given; mtimes in whole seconds', () => {
    const tree = hostTree(root);
    assert.equal(getNode(tree, ['a.txt'])?.meta.mode, 0o640);
    assert.equal(getNode(tree, ['sub'])?.meta.mode, 0o2750);
    assert.equal(getNode(tree, ['sub', 'b'])?.meta.mode, 0o4755);
    assert.equal(getNode(tree, ['a.txt'])?.meta.mtime, 1_700_000_000);
    assert.deepEqual([getNode(tree, ['a.txt'])?.meta.uid, getNode(tree, ['a.txt'])?.meta.gid], [0, 0]);
    const owned = hostTree(root, { uid: 12, gid: 34 });
    assert.deepEqual([getNode(owned, ['sub', 'b'])?.meta.uid, getNode(owned, ['sub', 'b'])?.meta.gid], [12, 34]);
    assert.deepEqual([owned.meta.uid, owned.meta.gid], [12, 34]);
  });

  test('files are references to the host file, with their size', () => {
    const f = getNode(hostTree(root), ['a.txt']);
    assert.equal(f?.kind, 'file');
    if (f?.kind !== 'file') return;
    assert.equal(f.size, 5);
    assert.deepEqual(f.content, { kind: 'host-file', path: join(root, 'a.txt') });
  });

  test('a filter removes paths; an excluded directory is entered only when descendants may be re-included', () => {
    const asked: string[] = [];
    const subtreeAsked: string[] = [];
    // like a .dockerignore of: node_modules, docs, !docs/keep.md, empty-excluded, *.log
    const excluded = (p: string) => p === 'node_modules' || p.startsWith('node_modules/') || p.startsWith('docs') || p.startsWith('empty-excluded') || p.endsWith('.log');
    const filter: HostFilter = {
      excludes: (p) => {
        asked.push(p);
        return excluded(p) && p !== 'docs/keep.md';
      },
      excludesSubtree: (p) => {
        subtreeAsked.push(p);
        return p !== 'docs';
      },
    };
    const tree = hostTree(root, { filter });
    assert.deepEqual([...tree.children.keys()].sort(), ['a.txt', 'abs-link', 'docs', 'pipe', 'rel-link', 'sock', 'sub']);
    assert.deepEqual([...(getNode(tree, ['docs']) as DirNode).children.keys()], ['keep.md']);
    assert.equal(getNode(tree, ['docs'])?.kind, 'dir');
    assert.ok(!asked.some((p) => p.startsWith('node_modules/')), 'a subtree that cannot come back is not walked');
    assert.ok(asked.includes('sub/b'), 'paths are relative and slash-separated');
    assert.ok(!asked.some((p) => p.startsWith('/') || p.includes(root)));
    assert.deepEqual(subtreeAsked.sort(), ['docs', 'empty-excluded', 'node_modules']);
  });

  test('without excludesSubtree, an excluded directory is dropped whole', () => {
    const tree = hostTree(root, { filter: { excludes: (p) => p === 'docs' } });
    assert.equal(getNode(tree, ['docs']), undefined);
  });

  test('a missing root or a root that is not a directory is an error', () => {
    assert.equal(codeOf(() => hostTree(join(root, 'nope'))), 'HOST_PATH_MISSING');
    assert.equal(codeOf(() => hostTree(join(root, 'a.txt'))), 'HOST_NOT_DIRECTORY');
  });

  test('a tree deeper than maxDepth is PATH_TOO_DEEP (a 10,000-deep context is in the malicious corpus)', () => {
    const deep = mkdtempSync(join(tmpdir(), 'kiln-deep-'));
    try {
      mkdirSync(join(deep, 'a', 'b', 'c', 'd'), { recursive: true });
      assert.equal(codeOf(() => hostTree(deep, { maxDepth: 3 })), 'PATH_TOO_DEEP');
      assert.equal(getNode(hostTree(deep, { maxDepth: 4 }), ['a', 'b', 'c', 'd'])?.kind, 'dir');
    } finally {
      rmSync(deep, { recursive: true, force: true });
    }
  });
});
