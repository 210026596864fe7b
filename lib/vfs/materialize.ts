import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, constants, copyFileSync, lchownSync, linkSync, lutimesSync, mkdirSync, openSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../errors.ts';
import { VfsError } from './errors.ts';
import type { DirNode, FileNode, LinkGroup, Node } from './node.ts';
import { copyContentSync } from './read-content.ts';
import { compareNames } from './tree.ts';

/**
 * Writes a tree into the empty (or missing) directory `dest`. Every path is
 * created by kiln itself below `dest`, never through a symlink, so a tree
 * cannot make it write outside `dest`. Owners are applied only when running
 * as root; modes and mtimes always (directories last, so their mtimes
 * survive the writes inside them). Devices need root (mknod fails otherwise).
 * The paths of one {@link LinkGroup} become hard links of one file. Files
 * are created exclusively (O_EXCL), and a name that is not a plain path
 * component (`..`, `a/b`, NUL) is NAME_INVALID; what the host refuses (an
 * owner id out of chown's range, a device mknod cannot make) is
 * MATERIALIZE_FAILED, naming the path.
 */
export async function materialize(tree: DirNode, dest: string): Promise<void> {
  mkdirSync(dest, { recursive: true });
  await writeDir(tree, dest, new Map());
  try {
    finish(dest, tree);
  } catch (err) {
    throw writeFailed(err, dest);
  }
}

const isRoot = process.getuid?.() === 0;

async function writeDir(dir: DirNode, abs: string, links: Map<LinkGroup, string>): Promise<void> {
  for (const name of [...dir.children.keys()].sort(compareNames)) {
    if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
      throw new VfsError('NAME_INVALID', `cannot materialize the name ${JSON.stringify(name)} in ${abs}`, { path: abs });
    }
    const node = dir.children.get(name)!;
    const p = join(abs, name);
    try {
      if (node.kind === 'dir') {
        mkdirSync(p, { mode: 0o700 });
        await writeDir(node, p, links);
      } else {
        const first = node.link && links.get(node.link);
        if (first !== undefined) {
          linkSync(first, p);
          continue;
        }
        if (node.link !== undefined) links.set(node.link, p);
        await writeLeaf(node, p);
      }
      finish(p, node);
    } catch (err) {
      throw writeFailed(err, p);
    }
  }
}

/**
 * MATERIALIZE_FAILED for what the host refused (an owner id chown cannot
 * take, a device mknod cannot make, a full disk…); kiln's own errors pass.
 */
function writeFailed(err: unknown, p: string): unknown {
  if (err instanceof KilnError) return err;
  return new VfsError('MATERIALIZE_FAILED', `cannot write ${p}: ${(err as Error).message}`, { path: p, cause: err });
}

/** Runs a coreutils program (mknod, mkfifo); its complaint becomes the error's message (and stays off kiln's stderr). */
export function runTool(cmd: string, args: readonly string[]): void {
  try {
    execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const said = (err as { stderr?: Buffer }).stderr?.toString('utf8').trim();
    throw new Error(said ? said.split('\n')[0]! : `${cmd} failed`);
  }
}

async function writeLeaf(node: Exclude<Node, DirNode>, p: string): Promise<void> {
  switch (node.kind) {
    case 'file':
      return writeFile(node, p);
    case 'symlink':
      symlinkSync(node.target, p);
      return;
    case 'fifo':
      // Node has no mkfifo(2); coreutils does.
      runTool('mkfifo', ['-m', '600', p]);
      return;
    case 'char':
    case 'block':
      runTool('mknod', ['-m', '600', p, node.kind === 'char' ? 'c' : 'b', String(node.major), String(node.minor)]);
  }
}

async function writeFile(node: FileNode, p: string): Promise<void> {
  const ref = node.content;
  if (ref.kind === 'bytes') return writeFileSync(p, ref.data, { mode: 0o600, flag: 'wx' });
  if (ref.kind === 'host-file') return copyFileSync(ref.path, p, constants.COPYFILE_EXCL);
  const fd = openSync(p, 'wx', 0o600);
  try {
    copyContentSync(ref, node.size, (chunk) => {
      for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
    });
  } finally {
    closeSync(fd);
  }
}

function finish(p: string, node: Node): void {
  if (isRoot) lchownSync(p, node.meta.uid, node.meta.gid);
  if (node.kind !== 'symlink') chmodSync(p, node.meta.mode);
  lutimesSync(p, node.meta.mtime, node.meta.mtime);
}
