import { lstatSync, readdirSync, rmdirSync, unlinkSync, lutimesSync } from 'node:fs';
import { join } from 'node:path';
import { type DirNode, getNode } from '../vfs/index.ts';

/**
 * Removes the mountpoints a run created (BuildKit's MountStubsCleaner):
 * each stub path, deepest first, when it is still an empty directory or an
 * empty non-directory. A directory of the tree that got its entries back
 * exactly gets its mtime back too, so the stubs leave no trace in the layer
 * (BuildKit restores the mtime it found before removing; kiln restores the
 * tree's when nothing else changed there).
 */
export function removeStubs(root: string, tree: DirNode, stubs: readonly string[]): void {
  const parents = new Set<string>();
  for (const rel of [...stubs].sort((a, b) => b.split('/').length - a.split('/').length)) {
    const abs = join(root, ...rel.split('/'));
    let st;
    try {
      st = lstatSync(abs);
    } catch {
      continue;
    }
    try {
      if (st.isDirectory()) {
        if (readdirSync(abs).length > 0) continue;
        rmdirSync(abs);
      } else {
        if (st.size !== 0) continue;
        unlinkSync(abs);
      }
    } catch {
      continue; // still mounted or replaced: leave it to capture
    }
    parents.add(rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');
  }
  for (const rel of parents) {
    const comps = rel === '' ? [] : rel.split('/');
    const node = getNode(tree, comps);
    if (node?.kind !== 'dir') continue;
    const abs = join(root, ...comps);
    let names: string[];
    try {
      names = readdirSync(abs);
    } catch {
      continue;
    }
    if (names.length === node.children.size && names.every((n) => node.children.has(n))) lutimesSync(abs, node.meta.mtime, node.meta.mtime);
  }
}
