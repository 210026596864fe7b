/**
 * The VFS node model. Nodes are immutable values; a tree is its root
 * DirNode, and every change returns a new root that shares every untouched
 * subtree with the old one (so snapshots are free and comparing two
 * snapshots skips shared subtrees by reference).
 */

/** Metadata every node carries. `mode` holds permission and special bits only (07777). */
export interface Meta {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Seconds since the epoch (may be fractional). */
  readonly mtime: number;
  readonly xattrs?: Readonly<Record<string, Buffer>>;
}

/**
 * Where a regular file's bytes are: never the bytes of a large file in
 * memory, but a reference that can be opened when a layer is written.
 * - `bytes`: small contents made by kiln itself (heredocs, empty files).
 * - `host-file`: a whole file on the host (the build context).
 * - `file-range`: `size` bytes at `offset` of a file on the host. Applied
 *   layers and unpacked archives point into the spill file their bytes were
 *   written to (see {@link SpillDir}); the file must not change while a tree
 *   refers to it.
 */
export type ContentRef =
  | { readonly kind: 'bytes'; readonly data: Buffer }
  | { readonly kind: 'host-file'; readonly path: string }
  | { readonly kind: 'file-range'; readonly path: string; readonly offset: number; readonly size: number };

/**
 * The identity of one inode that several paths share (hard links). Two
 * nodes are links of one inode when their `link` is the same object; the
 * `id` is for messages and dumps only. Every node of a group carries the
 * same kind, metadata and content (target, device numbers); a path leaves
 * its group by being replaced with a node without that `link`.
 */
export class LinkGroup {
  static #next = 0;
  readonly id: number = ++LinkGroup.#next;
}

export interface DirNode {
  readonly kind: 'dir';
  readonly meta: Meta;
  readonly children: ReadonlyMap<string, Node>;
}

export interface FileNode {
  readonly kind: 'file';
  readonly meta: Meta;
  readonly size: number;
  readonly content: ContentRef;
  /** Set when this path is one of several hard links to one inode. */
  readonly link?: LinkGroup;
}

export interface SymlinkNode {
  readonly kind: 'symlink';
  readonly meta: Meta;
  readonly target: string;
  /** Set when this path is one of several hard links to one inode. */
  readonly link?: LinkGroup;
}

export interface DeviceNode {
  readonly kind: 'char' | 'block';
  readonly meta: Meta;
  readonly major: number;
  readonly minor: number;
  /** Set when this path is one of several hard links to one inode. */
  readonly link?: LinkGroup;
}

export interface FifoNode {
  readonly kind: 'fifo';
  readonly meta: Meta;
  /** Set when this path is one of several hard links to one inode. */
  readonly link?: LinkGroup;
}

export type Node = DirNode | FileNode | SymlinkNode | DeviceNode | FifoNode;

/** Every kind but a directory: the nodes a hard link may share. */
export type LeafNode = Exclude<Node, DirNode>;

/** The root directory of an empty image: 0755 root:root, mtime 0. */
export function emptyDir(meta: Partial<Meta> = {}): DirNode {
  return { kind: 'dir', meta: { mode: 0o755, uid: 0, gid: 0, mtime: 0, ...meta }, children: new Map() };
}

/** True when two metadata values describe the same attributes. */
export function sameMeta(a: Meta, b: Meta): boolean {
  if (a === b) return true;
  if (a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid || a.mtime !== b.mtime) return false;
  const ax = a.xattrs ?? {};
  const bx = b.xattrs ?? {};
  const ak = Object.keys(ax);
  if (ak.length !== Object.keys(bx).length) return false;
  return ak.every((k) => bx[k] !== undefined && Buffer.compare(ax[k]!, bx[k]!) === 0);
}

/**
 * Same content reference: equal in-memory bytes, the same host file, or the
 * same range of the same file. References of different kinds are never the
 * same (comparing them would mean reading files).
 */
export function sameContent(a: ContentRef, b: ContentRef): boolean {
  if (a === b) return true;
  switch (a.kind) {
    case 'bytes':
      return b.kind === 'bytes' && (a.data === b.data || a.data.equals(b.data));
    case 'host-file':
      return b.kind === 'host-file' && a.path === b.path;
    case 'file-range':
      return b.kind === 'file-range' && a.path === b.path && a.offset === b.offset && a.size === b.size;
  }
}
