import type { DirNode, LinkGroup, Node } from './node.ts';
import { sameContent, sameMeta } from './node.ts';
import { comparePaths } from './path.ts';
import { compareNames, walk } from './tree.ts';

/**
 * One difference between two snapshots. `path` is relative to the root
 * (`etc/passwd`). `put` carries the node of the upper tree (for a directory:
 * its metadata; its new or changed children come as their own changes).
 * `opaque` hides everything lower layers had below the directory `path`
 * (its upper contents follow as puts).
 */
export type Change =
  | { op: 'put'; path: string; node: Node }
  | { op: 'delete'; path: string }
  | { op: 'opaque'; path: string };

/** Bytes of one tar header block: the unit of the size estimates below. */
const BLOCK = 512;

/**
 * The changes that turn `lower` into `upper`, in tar order (a directory
 * before its subtree, names in byte order). Subtrees shared by reference are
 * skipped without being walked, so diffing after a small change is cheap.
 *
 * - A path is deleted only when it exists in `lower`: no spurious whiteouts.
 * - A node of another kind replaces the old one with a put (the tar entry
 *   replaces it); metadata-only changes (mode, owner, mtime, xattrs) are puts.
 * - A directory that lost children becomes `opaque` plus puts of all its
 *   upper contents when that makes a smaller layer than one whiteout per
 *   deleted child plus the changed entries (estimated in tar bytes).
 * - Hard links: when any path of a {@link LinkGroup} is put, every other
 *   path of that group in `upper` is put too, so the layer holds the group
 *   whole (as containerd's differ writes the unmodified links of a changed
 *   inode); a node that joins or leaves a group is a change.
 */
export function diff(lower: DirNode, upper: DirNode): Change[] {
  const out: Change[] = [];
  diffDir(lower, upper, [], out);
  return addLinkPeers(upper, out);
}

function diffDir(lower: DirNode, upper: DirNode, prefix: string[], out: Change[]): void {
  if (lower === upper) return;
  const start = out.length;
  let deleted = 0;
  const names = new Set([...lower.children.keys(), ...upper.children.keys()]);
  for (const name of [...names].sort(compareNames)) {
    const l = lower.children.get(name);
    const u = upper.children.get(name);
    if (l === u) continue;
    const path = [...prefix, name];
    const p = path.join('/');
    if (u === undefined) {
      out.push({ op: 'delete', path: p });
      deleted++;
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
  if (deleted > 0) preferOpaque(upper, prefix, out, start);
}

/**
 * Replaces the changes below `dir` (from `start`) by an opaque marker and
 * the directory's whole upper contents when that is estimated smaller.
 */
function preferOpaque(dir: DirNode, prefix: string[], out: Change[], start: number): void {
  let whiteoutCost = 0;
  for (let i = start; i < out.length; i++) whiteoutCost += changeCost(out[i]!);
  // Every upper child costs a header at least: most directories are decided without a walk.
  if (BLOCK * (1 + dir.children.size) >= whiteoutCost) return;
  const opaqueCost = BLOCK + subtreeCost(dir, whiteoutCost);
  if (opaqueCost >= whiteoutCost) return;
  out.length = start;
  out.push({ op: 'opaque', path: prefix.join('/') });
  for (const name of [...dir.children.keys()].sort(compareNames)) pushSubtree(dir.children.get(name)!, [...prefix, name], out);
}

function changeCost(c: Change): number {
  return c.op === 'put' ? nodeCost(c.node) : BLOCK;
}

function nodeCost(n: Node): number {
  return n.kind === 'file' ? BLOCK + Math.ceil(n.size / BLOCK) * BLOCK : BLOCK;
}

/**
 * The tar bytes of everything below `dir`, counted level by level until it
 * passes `budget`: the walk costs no more than the changes it would replace.
 */
function subtreeCost(dir: DirNode, budget: number): number {
  let total = 0;
  let level: DirNode[] = [dir];
  while (level.length > 0 && total <= budget) {
    const next: DirNode[] = [];
    for (const d of level) {
      for (const child of d.children.values()) {
        total += nodeCost(child);
        if (child.kind === 'dir') next.push(child);
      }
      if (total > budget) break;
    }
    level = next;
  }
  return total;
}

function pushSubtree(node: Node, path: string[], out: Change[]): void {
  out.push({ op: 'put', path: path.join('/'), node });
  if (node.kind === 'dir') walk(node, (sub, n) => out.push({ op: 'put', path: [...path, ...sub].join('/'), node: n }));
}

function sameLeaf(a: Node, b: Node): boolean {
  if (!sameMeta(a.meta, b.meta)) return false;
  if (a.kind !== 'dir' && b.kind !== 'dir' && a.link !== b.link) return false;
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

/** Adds puts for the unchanged paths of every link group that has a put (one walk of `upper`, only when needed). */
function addLinkPeers(upper: DirNode, changes: Change[]): Change[] {
  const groups = new Set<LinkGroup>();
  const put = new Set<string>();
  for (const c of changes) {
    if (c.op !== 'put') continue;
    put.add(c.path);
    if (c.node.kind !== 'dir' && c.node.link !== undefined) groups.add(c.node.link);
  }
  if (groups.size === 0) return changes;
  const peers: Change[] = [];
  walk(upper, (path, node) => {
    if (node.kind === 'dir' || node.link === undefined || !groups.has(node.link)) return;
    const p = path.join('/');
    if (!put.has(p)) peers.push({ op: 'put', path: p, node });
  });
  if (peers.length === 0) return changes;
  // Stable: a directory's own put stays before its opaque marker.
  return [...changes, ...peers].sort((a, b) => comparePaths(a.path, b.path));
}
