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
 */
export type ContentRef =
  | { readonly kind: 'bytes'; readonly data: Buffer }
  | { readonly kind: 'host-file'; readonly path: string };

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
}

export interface SymlinkNode {
  readonly kind: 'symlink';
  readonly meta: Meta;
  readonly target: string;
}

export interface DeviceNode {
  readonly kind: 'char' | 'block';
  readonly meta: Meta;
  readonly major: number;
  readonly minor: number;
}

export interface FifoNode {
  readonly kind: 'fifo';
  readonly meta: Meta;
}

export type Node = DirNode | FileNode | SymlinkNode | DeviceNode | FifoNode;

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

/** Same content reference (same bytes object, or same host file). Not a byte comparison. */
export function sameContent(a: ContentRef, b: ContentRef): boolean {
  if (a === b) return true;
  if (a.kind === 'bytes' && b.kind === 'bytes') return a.data === b.data || a.data.equals(b.data);
  if (a.kind === 'host-file' && b.kind === 'host-file') return a.path === b.path;
  return false;
}
