import type { DirNode, Node } from './node.ts';

/**
 * The tree with every mtime later than `epoch` set to `epoch` (BuildKit's
 * rewrite-timestamp: clamp, never raise). Unchanged subtrees are shared.
 * Used so rootfs exports show the same times as the image's layers.
 */
export function clampMtimes<T extends Node>(node: T, epoch: number): T {
  let out: Node = node.meta.mtime > epoch ? { ...node, meta: { ...node.meta, mtime: epoch } } : node;
  if (out.kind === 'dir') {
    let changed = false;
    const children = new Map<string, Node>();
    for (const [name, child] of out.children) {
      const c = clampMtimes(child, epoch);
      changed ||= c !== child;
      children.set(name, c);
    }
    if (changed) out = { ...(out as DirNode), children };
  }
  return out as T;
}
