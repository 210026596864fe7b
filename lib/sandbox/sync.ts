import { lstatSync, readdirSync, rmSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { type Change, type DirNode, getNode } from '../vfs/index.ts';
import type { InodeRecord } from './capture.ts';
import { SandboxError } from './errors.ts';
import { applyMeta, type WriteContext, writeNode } from './write-node.ts';
import { type Xattrs, writeXattrs } from './xattrs.ts';

/**
 * Applies `changes` (diff of the tree the rootfs holds → `tree`, in tar
 * order) to the rootfs at `root`, then updates `records` with the inode and
 * ctime of every path written. Directories get their metadata after their
 * contents (so their mtimes are the tree's, not the time of the writes);
 * xattrs last (chown drops security.capability). Without `setfattr`, xattrs
 * are not written (the tree keeps them; a RUN does not see them).
 */
export function applyChanges(root: string, tree: DirNode, changes: readonly Change[], records: Map<string, InodeRecord>, ctx: WriteContext, setfattr: string | undefined): void {
  const dirs = new Set<string>(['']);
  const written: string[] = [];
  const xattrs: [string, Xattrs][] = [];
  for (const c of changes) {
    const comps = checkedComps(c.path);
    const abs = join(root, ...comps);
    const parent = comps.slice(0, -1).join('/');
    switch (c.op) {
      case 'delete': {
        const wasDir = lstatOrUndefined(abs)?.isDirectory() === true;
        rmSync(abs, { recursive: true, force: true });
        records.delete(c.path);
        if (wasDir) dropRecords(records, c.path);
        dirs.add(parent);
        break;
      }
      case 'opaque':
        for (const name of readdirSync(abs)) rmSync(join(abs, name), { recursive: true, force: true });
        dropRecords(records, c.path);
        dirs.add(c.path);
        break;
      case 'put': {
        const existing = lstatOrUndefined(abs);
        if (c.node.kind === 'dir') {
          if (existing?.isDirectory() !== true) {
            if (existing !== undefined) rmSync(abs, { recursive: true, force: true });
            writeNode(c.node, abs, ctx);
          }
          dirs.add(c.path);
        } else {
          if (existing !== undefined) rmSync(abs, { recursive: true, force: true });
          writeNode(c.node, abs, ctx);
          written.push(c.path);
        }
        if (c.node.meta.xattrs !== undefined && Object.keys(c.node.meta.xattrs).length > 0 && c.node.kind !== 'symlink') xattrs.push([c.path, c.node.meta.xattrs]);
        dirs.add(parent);
      }
    }
  }
  // Deepest first: setting a directory's mtime must come after every write inside it.
  const ordered = [...dirs].sort((a, b) => depth(b) - depth(a));
  for (const d of ordered) {
    const node = getNode(tree, d === '' ? [] : d.split('/'));
    if (node?.kind !== 'dir') continue;
    const abs = join(root, ...(d === '' ? [] : d.split('/')));
    try {
      applyMeta(node, abs, ctx);
    } catch (cause) {
      throw new SandboxError('ROOTFS_WRITE_FAILED', `cannot write ${abs}: ${(cause as Error).message}`, { cause, path: abs });
    }
  }
  if (setfattr !== undefined) writeXattrs(setfattr, root, xattrs);
  for (const p of [...written, ...ordered]) {
    const st = lstatSync(p === '' ? root : join(root, ...p.split('/')), { bigint: true });
    records.set(p, { ino: st.ino, ctimeNs: st.ctimeNs });
  }
}

function depth(p: string): number {
  return p === '' ? 0 : p.split('/').length;
}

function checkedComps(path: string): string[] {
  const comps = path.split('/');
  for (const c of comps) {
    if (c === '' || c === '.' || c === '..' || c.includes('\0')) {
      throw new SandboxError('ROOTFS_WRITE_FAILED', `cannot write the path ${JSON.stringify(path)} into a rootfs`, { path });
    }
  }
  return comps;
}

function lstatOrUndefined(abs: string): Stats | undefined {
  try {
    return lstatSync(abs);
  } catch {
    return undefined;
  }
}

/** Forgets everything below `path` (stale records would be harmless: a new inode has a newer ctime; this keeps the map small). */
function dropRecords(records: Map<string, InodeRecord>, path: string): void {
  const prefix = `${path}/`;
  for (const k of records.keys()) if (k.startsWith(prefix)) records.delete(k);
}
