/** Small constructors for VFS trees in tests: every node explicit, nothing read from disk. */
import type { DirNode, FileNode, FifoNode, DeviceNode, Meta, Node, SymlinkNode } from '../../lib/vfs/index.ts';

export const META: Meta = Object.freeze({ mode: 0o755, uid: 0, gid: 0, mtime: 1_700_000_000 });

export function dir(children: Record<string, Node> = {}, meta: Partial<Meta> = {}): DirNode {
  return { kind: 'dir', meta: { ...META, ...meta }, children: new Map(Object.entries(children)) };
}

export function file(text: string, meta: Partial<Meta> = {}): FileNode {
  const data = Buffer.from(text, 'utf8');
  return { kind: 'file', meta: { ...META, mode: 0o644, ...meta }, size: data.length, content: { kind: 'bytes', data } };
}

export function link(target: string, meta: Partial<Meta> = {}): SymlinkNode {
  return { kind: 'symlink', meta: { ...META, mode: 0o777, ...meta }, target };
}

export function fifo(meta: Partial<Meta> = {}): FifoNode {
  return { kind: 'fifo', meta: { ...META, mode: 0o600, ...meta } };
}

export function device(kind: 'char' | 'block', major: number, minor: number, meta: Partial<Meta> = {}): DeviceNode {
  return { kind, meta: { ...META, mode: 0o660, ...meta }, major, minor };
}

/** Asserts-free helper: the error code of what `f` throws, or 'none'. */
export function codeOf(f: () => unknown): string {
  try {
    f();
    return 'none';
  } catch (e) {
    return (e as { code?: string }).code ?? `uncoded: ${(e as Error).message}`;
  }
}
