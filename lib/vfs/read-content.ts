import { readFileSync } from 'node:fs';
import { VfsError } from './errors.ts';
import type { ContentRef, DirNode } from './node.ts';
import { resolvePath } from './tree.ts';

/** Reads a whole small file's bytes (for /etc/passwd and the like). Not for layer-sized content. */
export function readContentSync(ref: ContentRef): Buffer {
  return ref.kind === 'bytes' ? ref.data : readFileSync(ref.path);
}

/**
 * Reads the regular file at `path` inside the tree (symlinks followed,
 * confined to the root); undefined when there is none. Files larger than
 * `maxSize` give FILE_TOO_LARGE.
 */
export function readTreeFile(root: DirNode, path: string, maxSize = 16 << 20): Buffer | undefined {
  let node;
  try {
    node = resolvePath(root, path, { followFinal: true }).node;
  } catch {
    return undefined;
  }
  if (node?.kind !== 'file') return undefined;
  if (node.size > maxSize) throw new VfsError('FILE_TOO_LARGE', `${path} is larger than ${maxSize} bytes`, { path });
  return readContentSync(node.content);
}
