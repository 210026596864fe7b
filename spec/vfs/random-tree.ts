/**
 * Test kit: random trees and random edits of them, for the property tests.
 * Every node kind, hard-link groups (files and symlinks), modes with special
 * bits, owners beyond ustar's octal range, xattrs, names that need PAX.
 * Link groups are kept consistent: an edit of a grouped node's metadata or
 * content is applied to every path of its group.
 */
import { type DirNode, emptyDir, getNode, LinkGroup, type Meta, type Node, setNode, walk } from '../../lib/vfs/index.ts';

type Rand = () => number;

const NAMES = ['a', 'b', 'c', 'etc', 'usr', 'lib', 'x.so', '.hidden', '-dash', 'é', 'Z', 'a.b', '+plus', 'data'];

export class TreeRandom {
  readonly #r: Rand;
  constructor(rand: Rand) {
    this.#r = rand;
  }

  int(n: number): number {
    return Math.floor(this.#r() * n);
  }

  chance(p: number): boolean {
    return this.#r() < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  name(): string {
    if (this.chance(0.03)) return `long-${'n'.repeat(90 + this.int(60))}`;
    return this.chance(0.7) ? this.pick(NAMES) : `${this.pick(NAMES)}${this.int(100)}`;
  }

  meta(dir = false): Meta {
    const mode = dir ? this.pick([0o755, 0o700, 0o1777, 0o2775, 0o555]) : this.pick([0o644, 0o600, 0o755, 0o4755, 0o2711, 0o444, 0o7777]);
    const owner = () => (this.chance(0.8) ? 0 : this.chance(0.9) ? this.int(70_000) : 3_000_000 + this.int(100));
    const m: Meta = { mode, uid: owner(), gid: owner(), mtime: this.chance(0.1) ? 0 : 1_000_000_000 + this.int(1_000_000_000) };
    if (this.chance(0.15)) {
      const key = this.pick(['user.note', 'security.capability', 'trusted.x']);
      return { ...m, xattrs: { [key]: Buffer.from(Array.from({ length: 1 + this.int(20) }, () => this.int(256))) } };
    }
    return m;
  }

  bytes(): Buffer {
    const n = this.chance(0.1) ? 0 : this.chance(0.05) ? 70_000 + this.int(100_000) : this.int(2000);
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i += 1 + this.int(64)) b[i] = this.int(256);
    return b;
  }

  leaf(): Node {
    const k = this.int(20);
    if (k < 13) {
      const data = this.bytes();
      return { kind: 'file', meta: this.meta(), size: data.length, content: { kind: 'bytes', data } };
    }
    if (k < 17) return { kind: 'symlink', meta: { ...this.meta(), mode: 0o777 }, target: this.pick(['../a', '/usr/lib', 'x.so', './c/d', '../../..', 'é/Z']) };
    if (k < 19) return { kind: 'fifo', meta: this.meta() };
    return { kind: this.chance(0.5) ? 'char' : 'block', meta: this.meta(), major: this.int(300), minor: this.int(300) };
  }

  /** A random directory `depth` levels deep at most. */
  dir(depth: number, meta: Meta = this.meta(true)): DirNode {
    const children = new Map<string, Node>();
    const n = this.int(depth > 0 ? 6 : 4);
    for (let i = 0; i < n; i++) children.set(this.name(), depth > 0 && this.chance(0.35) ? this.dir(depth - 1) : this.leaf());
    return { kind: 'dir', meta, children };
  }

  /** A random root: its metadata is fixed, as layers never change the root. */
  tree(): DirNode {
    const d = this.dir(3, emptyDir().meta);
    return this.addLinks(d, this.int(4));
  }

  /** Adds `n` hard links to random files or symlinks of the tree. */
  addLinks(root: DirNode, n: number): DirNode {
    for (let i = 0; i < n; i++) {
      const leaves = paths(root).filter(([, node]) => node.kind === 'file' || node.kind === 'symlink');
      const dirs = paths(root).filter(([, node]) => node.kind === 'dir');
      if (leaves.length === 0) return root;
      const [path, node] = this.pick(leaves);
      const dirPath = this.chance(0.3) ? [] : this.pick([[], ...dirs.map(([p]) => p)]);
      const at = [...dirPath, this.name()];
      if (getNode(root, at) !== undefined || node.kind === 'dir') continue;
      const group = (node as { link?: LinkGroup }).link ?? new LinkGroup();
      const joined = { ...node, link: group } as Node;
      root = setNode(root, path, joined);
      root = setNode(root, at, joined);
    }
    return root;
  }

  /** A random edit of `root`: deletions, additions, content, metadata and kind changes, emptied-and-refilled directories, links made and broken. */
  edit(root: DirNode): DirNode {
    for (const [path, node] of paths(root)) {
      if (getNode(root, path) !== node) continue; // changed by an earlier edit
      const k = this.#r();
      if (k < 0.12) root = setNode(root, path, undefined);
      else if (k < 0.18) root = setNode(root, path, this.chance(0.5) ? this.leaf() : this.dir(1));
      else if (k < 0.28) root = this.#restamp(root, path, node);
      else if (k < 0.34 && node.kind === 'file') {
        const data = this.bytes();
        root = updateGroup(root, path, node, { ...node, size: data.length, content: { kind: 'bytes', data } });
      } else if (k < 0.38 && node.kind === 'dir') {
        root = setNode(root, path, { ...node, children: new Map([[this.name(), this.leaf()]]) });
      }
    }
    for (let i = this.int(5); i > 0; i--) {
      const dirs = paths(root).filter(([, n]) => n.kind === 'dir');
      const [at] = this.pick([[[] as string[]], ...dirs]);
      const name = this.name();
      if (getNode(root, [...at, name]) === undefined) root = setNode(root, [...at, name], this.chance(0.7) ? this.leaf() : this.dir(1));
    }
    return this.addLinks(root, this.int(3));
  }

  #restamp(root: DirNode, path: string[], node: Node): DirNode {
    const meta = { ...this.meta(node.kind === 'dir'), ...(node.kind === 'symlink' ? { mode: 0o777 } : {}) };
    return node.kind === 'dir' ? setNode(root, path, { ...node, meta }) : updateGroup(root, path, node, { ...node, meta });
  }
}

/** Every path of the tree with its node, in walk order. */
export function paths(root: DirNode): [string[], Node][] {
  const out: [string[], Node][] = [];
  walk(root, (p, n) => out.push([p, n]));
  return out;
}

/** Replaces `node` at `path` by `next`, and every other path of its link group likewise. */
function updateGroup(root: DirNode, path: string[], node: Node, next: Node): DirNode {
  const group = node.kind === 'dir' ? undefined : node.link;
  if (group === undefined) return setNode(root, path, next);
  for (const [p, n] of paths(root)) if (n.kind !== 'dir' && n.link === group) root = setNode(root, p, next);
  return root;
}
