/**
 * hostTree and hard links: paths of one host inode (made here with ln(1))
 * become one LinkGroup, as BuildKit's context transfer keeps hard links; an
 * inode with only one path inside the tree, or filtered down to one, is a
 * plain node.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getNode, hostTree } from '../../lib/vfs/index.ts';

const root = mkdtempSync(join(tmpdir(), 'kiln-links-'));
const outside = mkdtempSync(join(tmpdir(), 'kiln-links-out-'));
after(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});
mkdirSync(join(root, 'd'));
writeFileSync(join(root, 'a'), 'shared');
execFileSync('ln', [join(root, 'a'), join(root, 'd', 'b')]);
execFileSync('ln', [join(root, 'a'), join(root, 'd', 'c')]);
writeFileSync(join(root, 'solo'), 'solo');
execFileSync('ln', [join(root, 'solo'), join(outside, 'solo-elsewhere')]);
writeFileSync(join(root, 'plain'), 'plain');

test('paths of one inode share one link group and one node', () => {
  assert.equal(statSync(join(root, 'a')).nlink, 3);
  const tree = hostTree(root);
  const [a, b, c] = [['a'], ['d', 'b'], ['d', 'c']].map((p) => getNode(tree, p));
  assert.ok(a?.kind === 'file' && b?.kind === 'file' && c?.kind === 'file');
  assert.ok(a.link !== undefined && a.link === b.link && b.link === c.link);
  assert.equal(a.size, 6);
  const plain = getNode(tree, ['plain']);
  assert.ok(plain?.kind === 'file' && plain.link === undefined);
});

test('an inode with its other links outside the tree, or filtered out, is a plain node', () => {
  const solo = getNode(hostTree(root), ['solo']);
  assert.ok(solo?.kind === 'file' && solo.link === undefined, 'its other link is outside the context');
  const filtered = hostTree(root, { filter: { excludes: (p) => p === 'd' } });
  const a = getNode(filtered, ['a']);
  assert.ok(a?.kind === 'file' && a.link === undefined);
  const pair = hostTree(root, { filter: { excludes: (p) => p === 'd/c' } });
  const [pa, pb] = [getNode(pair, ['a']), getNode(pair, ['d', 'b'])];
  assert.ok(pa?.kind === 'file' && pb?.kind === 'file' && pa.link !== undefined && pa.link === pb.link);
});
