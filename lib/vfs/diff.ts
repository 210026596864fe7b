import type { DirNode, Node } from './node.ts';
import { sameContent, sameMeta } from './node.ts';
import { compareNames, walk } from './tree.ts';

/**
 * One difference between two snapshots. `path` is relative to the root
 * (`etc/passwd`). `put` carries the node of the upper tree (for a directory:
 * its metadata; its new or changed children come as their own changes).
 */
export type Change =
  | { op: 'put'; path: string; node: Node }
  | { op: 'delete'; path: string }
  | { op: 'opaque'; path: string };

/**
 * The changes that turn `lower` into `upper`, in tar order (a directory
 * before its subtree, names in byte order). Subtrees shared by reference are
 * skipped without being walked, so diffing after a small change is cheap.
 */
export function diff(lower: DirNode, upper: DirNode): Change[] {
  const out: Change[] = [];
  diffDir(lower, upper, [], out);
  return out;
}

function diffDir(lower: DirNode, upper: DirNode, prefix: string[], out: Change[]): void {
  if (lower === upper) return;
  const names = new Set([...lower.children.keys(), ...upper.children.keys()]);
  for (const name of [...names].sort(compareNames)) {
    const l = lower.children.get(name);
    const u = upper.children.get(name);
    if (l === u) continue;
    const path = [...prefix, name];
    const p = path.join('/');
    if (u === undefined) {
      out.push({ op: 'delete', path: p });
    } else if (l === undefined || l.kind !== u.kind) {
      // new, or a different kind replacing the old (the tar entry replaces it)
      pushSubtree(u, path, out);
    } else if (u.kind === 'dir' && l.kind === 'dir') {
      if (!sameMeta(l.meta, u.meta)) out.push({ op: 'put', path: p, node: u });
      diffDir(l, u, path, out);
    } else if (!sameLeaf(l, u)) {
      out.push({ op: 'put', path: p, node: u });
    }
  }
}

function pushSubtree(node: Node, path: string[], out: Change[]): void {
  out.push({ op: 'put', path: path.join('/'), node });
  if (node.kind === 'dir') walk(node, (sub, n) => out.push({ op: 'put', path: [...path, ...sub].join('/'), node: n }));
}

function sameLeaf(a: Node, b: Node): boolean {
  if (!sameMeta(a.meta, b.meta)) return false;
  switch (a.kind) {
    case 'file':
      return b.kind === 'file' && a.size === b.size && sameContent(a.content, b.content);
    case 'symlink':
      return b.kind === 'symlink' && a.target === b.target;
    case 'char':
    case 'block':
      return b.kind === a.kind && a.major === b.major && a.minor === b.minor;
    case 'fifo':
      return b.kind === 'fifo';
    case 'dir':
      return b.kind === 'dir';
  }
}
