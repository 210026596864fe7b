import { applyChmod, type ChmodSpec } from '../dockerfile/index.ts';
import { type DirNode, getNode, type Meta, mkdirAll, type Node, resolvePath, setNode, VfsError } from '../vfs/index.ts';
import type { Owner } from './users.ts';

/**
 * A file, symlink or other non-directory lands at `dest` itself, or inside it
 * when it is (or must be) a directory. As fsutil's Copy: the destination is
 * resolved through symlinks, its final component included (fs.RootPath);
 * an entry inside a directory replaces what is there unless that is a directory.
 */
export function placeLeaf(tree: DirNode, dest: string, intoDir: boolean, name: string, node: Node, dirMeta: Meta): DirNode {
  const existing = resolvePath(tree, dest, { followFinal: true });
  if (intoDir || existing.node?.kind === 'dir') {
    const made = mkdirAll(tree, dest, dirMeta);
    const at = [...made.path, name];
    if (getNode(made.root, at)?.kind === 'dir') throw new VfsError('NOT_A_DIRECTORY', `cannot replace to directory /${at.join('/')} with file`);
    return setNode(made.root, at, node);
  }
  const made = mkdirAll(tree, `/${existing.path.slice(0, -1).join('/')}`, dirMeta);
  return setNode(made.root, [...made.path, existing.path[existing.path.length - 1]!], node);
}

/**
 * A directory source: its contents go into `dest` (created when missing,
 * with `dirMeta`), and `dest` takes the source directory's mtime, as fsutil
 * restores it after the copy; its mode and owner stay.
 */
export function copyDirContents(tree: DirNode, dest: string, src: DirNode, dirMeta: Meta): DirNode {
  const made = mkdirAll(tree, dest, dirMeta);
  const top = getNode(made.root, made.path) as DirNode;
  return setNode(made.root, made.path, mergeInto(top, src, { ...top.meta, mtime: src.meta.mtime }, made.path));
}

/**
 * `existing` with `src`'s children copied in, as fsutil's copier does:
 * sub-directories merge (taking the source's metadata), other entries
 * replace what is there; a directory never replaces a non-directory nor the
 * reverse (NOT_A_DIRECTORY). Each directory is copied once: linear in the
 * size of `src`, whatever the size of `existing`.
 */
function mergeInto(existing: DirNode, src: DirNode, meta: Meta, at: readonly string[]): DirNode {
  const children = new Map(existing.children);
  for (const [name, child] of src.children) {
    const old = children.get(name);
    const where = () => `/${[...at, name].join('/')}`;
    if (child.kind === 'dir') {
      if (old !== undefined && old.kind !== 'dir') throw new VfsError('NOT_A_DIRECTORY', `cannot copy to non-directory: ${where()}`);
      children.set(name, old === undefined ? child : mergeInto(old, child, child.meta, [...at, name]));
    } else {
      if (old?.kind === 'dir') throw new VfsError('NOT_A_DIRECTORY', `cannot replace to directory ${where()} with file`);
      children.set(name, child);
    }
  }
  return { kind: 'dir', meta, children };
}

/** The node with the copy's owner (when `--chown` is given) and mode (when `--chmod` is) applied throughout; symlinks keep their mode. */
export function restamp(node: Node, owner: Owner | undefined, chmod: ChmodSpec | undefined): Node {
  if (owner === undefined && chmod === undefined) return node;
  const memo = new Map<object, Node>(); // hard links: every path of a group gets the same new node
  const stamp = (n: Node): Node => {
    const mode = chmod !== undefined && n.kind !== 'symlink' ? applyChmod(chmod, n.meta.mode, n.kind === 'dir') : n.meta.mode;
    const meta: Meta = { ...n.meta, ...(owner ?? {}), mode };
    if (n.kind !== 'dir') {
      if (n.link === undefined) return { ...n, meta };
      const done = memo.get(n.link) ?? { ...n, meta };
      memo.set(n.link, done);
      return done;
    }
    const children = new Map<string, Node>();
    for (const [k, v] of n.children) children.set(k, stamp(v));
    return { kind: 'dir', meta, children };
  };
  return stamp(node);
}

/**
 * `upper` laid over `lower` as a layer is applied (COPY --link's merge):
 * a directory over a directory merges and takes the upper metadata,
 * anything else replaces what was there, whatever its kind. Symlinks of
 * `lower` are never followed. The root keeps `lower`'s metadata.
 */
export function overlayTree(lower: DirNode, upper: DirNode): DirNode {
  return overlayDir(lower, upper, lower.meta);
}

function overlayDir(lower: DirNode, upper: DirNode, meta: Meta): DirNode {
  const children = new Map(lower.children);
  for (const [name, child] of upper.children) {
    const old = children.get(name);
    children.set(name, child.kind === 'dir' && old?.kind === 'dir' ? overlayDir(old, child, child.meta) : child);
  }
  return { kind: 'dir', meta, children };
}
