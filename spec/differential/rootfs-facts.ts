/**
 * Differential kit: the facts about an unpacked root filesystem that two
 * builders must agree on — for every path its type, permission bits, owner,
 * size, content hash, symlink target and hardlink group (and the mtime, which
 * is recorded but never compared: two builds never share a clock).
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';

export type EntryType = 'dir' | 'file' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';

export interface EntryFacts {
  type: EntryType;
  /** Permission bits with setuid/setgid/sticky (`mode & 0o7777`). */
  mode: number;
  uid: number;
  gid: number;
  /** Regular files only. */
  size?: number;
  /** Regular files only: hex sha256 of the content. */
  sha256?: string;
  /** Symlinks only. */
  link?: string;
  /** Regular files linked more than once: every path of the group, sorted. */
  hardlinks?: readonly string[];
  /** Devices only: `major:minor`. */
  rdev?: string;
  /**
   * Modification time, whole seconds since the epoch. Never compared (two
   * builds never share a clock); kept so an exception can tell that a
   * content change hid behind an unchanged size and mtime.
   */
  mtime: number;
}

/** Image path (`/etc/passwd`) → its facts; the root itself is `/`. */
export type RootfsFacts = Map<string, EntryFacts>;

function typeOf(st: Stats): EntryType {
  if (st.isDirectory()) return 'dir';
  if (st.isFile()) return 'file';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

function factsOf(hostPath: string, st: Stats): EntryFacts {
  const type = typeOf(st);
  const facts: EntryFacts = { type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) };
  if (type === 'file') {
    facts.size = st.size;
    facts.sha256 = createHash('sha256').update(readFileSync(hostPath)).digest('hex');
  } else if (type === 'symlink') {
    facts.link = readlinkSync(hostPath);
  } else if (type === 'char' || type === 'block') {
    facts.rdev = `${Math.floor(st.rdev / 256) & 0xfff}:${(st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00)}`;
  }
  return facts;
}

/**
 * Walks the tree under `root` (a host folder holding an unpacked image)
 * without following symlinks and returns the facts of every entry, keyed by
 * its absolute path inside the image. Files with more than one link are
 * grouped by inode, so a hardlink made in the image shows on every member.
 */
export function rootfsFacts(root: string): RootfsFacts {
  const facts: RootfsFacts = new Map();
  const inodes = new Map<string, string[]>();
  const walk = (hostDir: string, imageDir: string): void => {
    for (const name of readdirSync(hostDir).sort()) {
      const hostPath = join(hostDir, name);
      const imagePath = imageDir === '/' ? `/${name}` : `${imageDir}/${name}`;
      const st = lstatSync(hostPath);
      facts.set(imagePath, factsOf(hostPath, st));
      if (st.isFile() && st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        inodes.set(key, [...(inodes.get(key) ?? []), imagePath]);
      }
      if (st.isDirectory()) walk(hostPath, imagePath);
    }
  };
  facts.set('/', factsOf(root, lstatSync(root)));
  walk(root, '/');
  for (const group of inodes.values()) {
    // A file whose other links live outside the tree is not a group here.
    if (group.length < 2) continue;
    const sorted = [...group].sort();
    for (const path of sorted) facts.get(path)!.hardlinks = sorted;
  }
  return facts;
}
