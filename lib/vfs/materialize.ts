import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, lchownSync, lutimesSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DirNode, FileNode, Node } from './node.ts';
import { compareNames } from './tree.ts';

/**
 * Writes a tree into the empty (or missing) directory `dest`. Every path is
 * created by kiln itself below `dest`, never through a symlink, so a tree
 * cannot make it write outside `dest`. Owners are applied only when running
 * as root; modes and mtimes always (directories last, so their mtimes
 * survive the writes inside them). Devices need root (mknod fails otherwise).
 */
export async function materialize(tree: DirNode, dest: string): Promise<void> {
  mkdirSync(dest, { recursive: true });
  await writeDir(tree, dest);
  finish(dest, tree);
}

const isRoot = process.getuid?.() === 0;

async function writeDir(dir: DirNode, abs: string): Promise<void> {
  for (const name of [...dir.children.keys()].sort(compareNames)) {
    const node = dir.children.get(name)!;
    const p = join(abs, name);
    if (node.kind === 'dir') {
      mkdirSync(p, { mode: 0o700 });
      await writeDir(node, p);
    } else {
      await writeLeaf(node, p);
    }
    finish(p, node);
  }
}

async function writeLeaf(node: Exclude<Node, DirNode>, p: string): Promise<void> {
  switch (node.kind) {
    case 'file':
      return writeFile(node, p);
    case 'symlink':
      symlinkSync(node.target, p);
      return;
    case 'fifo':
      // Node has no mkfifo(2); coreutils does.
      execFileSync('mkfifo', ['-m', '600', p]);
      return;
    case 'char':
    case 'block':
      execFileSync('mknod', ['-m', '600', p, node.kind === 'char' ? 'c' : 'b', String(node.major), String(node.minor)]);
  }
}

async function writeFile(node: FileNode, p: string): Promise<void> {
  const ref = node.content;
  if (ref.kind === 'bytes') writeFileSync(p, ref.data, { mode: 0o600 });
  else copyFileSync(ref.path, p);
}

function finish(p: string, node: Node): void {
  if (isRoot) lchownSync(p, node.meta.uid, node.meta.gid);
  if (node.kind !== 'symlink') chmodSync(p, node.meta.mode);
  lutimesSync(p, node.meta.mtime, node.meta.mtime);
}
