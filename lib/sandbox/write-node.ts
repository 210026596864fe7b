import { chmodSync, closeSync, constants, copyFileSync, lchownSync, linkSync, lutimesSync, mkdirSync, openSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { copyContentSync, type FileNode, type LinkGroup, type Node, runTool } from '../vfs/index.ts';
import { SandboxError } from './errors.ts';

/** State shared by the writes of one sync: the first path of each link group, and whether owners can be set. */
export interface WriteContext {
  /** Owners are applied only when true (root, or root of a user namespace). */
  readonly privileged: boolean;
  readonly links: Map<LinkGroup, string>;
}

/**
 * Creates `node` at the absolute host path `abs`, which must not exist (a
 * directory is created empty; its children are separate writes). The
 * paths of one link group become hard links of the first one written.
 * Leaf metadata is applied at once; a directory's with {@link applyMeta}
 * after its children are written. File contents are copied (reflinked
 * where the filesystem can), never hard-linked: the command may modify them.
 * Devices cannot be made without privileges: an empty placeholder file
 * stands in (capture keeps the tree's device node while it is untouched).
 */
export function writeNode(node: Node, abs: string, ctx: WriteContext): void {
  try {
    if (node.kind === 'dir') {
      mkdirSync(abs, { mode: 0o700 });
      return;
    }
    const first = node.link && ctx.links.get(node.link);
    if (first !== undefined) {
      linkSync(first, abs);
      return;
    }
    if (node.link !== undefined) ctx.links.set(node.link, abs);
    writeLeaf(node, abs, ctx);
    applyMeta(node, abs, ctx);
  } catch (cause) {
    if (cause instanceof SandboxError) throw cause;
    throw new SandboxError('ROOTFS_WRITE_FAILED', `cannot write ${abs}: ${(cause as Error).message}`, { cause, path: abs });
  }
}

function writeLeaf(node: Exclude<Node, { kind: 'dir' }>, abs: string, ctx: WriteContext): void {
  switch (node.kind) {
    case 'file':
      return writeFile(node, abs);
    case 'symlink':
      return symlinkSync(node.target, abs);
    case 'fifo':
      // Node has no mkfifo(2); coreutils does.
      runTool('mkfifo', ['-m', '600', abs]);
      return;
    case 'char':
    case 'block':
      if (!ctx.privileged) return writeFileSync(abs, '', { mode: 0, flag: 'wx' });
      runTool('mknod', ['-m', '600', abs, node.kind === 'char' ? 'c' : 'b', String(node.major), String(node.minor)]);
  }
}

function writeFile(node: FileNode, abs: string): void {
  const ref = node.content;
  if (ref.kind === 'bytes') return writeFileSync(abs, ref.data, { mode: 0o600, flag: 'wx' });
  if (ref.kind === 'host-file') return copyFileSync(ref.path, abs, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
  const fd = openSync(abs, 'wx', 0o600);
  try {
    copyContentSync(ref, node.size, (chunk) => {
      for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
    });
  } finally {
    closeSync(fd);
  }
}

/** Owner (when privileged), then mode (chown clears set-id bits), then mtime and atime. */
export function applyMeta(node: Node, abs: string, ctx: WriteContext): void {
  if (ctx.privileged) lchownSync(abs, node.meta.uid, node.meta.gid);
  if (node.kind !== 'symlink') chmodSync(abs, node.meta.mode);
  lutimesSync(abs, node.meta.mtime, node.meta.mtime);
}
