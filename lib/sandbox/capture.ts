import { type BigIntStats, closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { copyContentSync, type ContentRef, type DirNode, LinkGroup, type Meta, type Node, sameMeta, type SpillDir, type SpillFile } from '../vfs/index.ts';
import { SandboxError } from './errors.ts';
import type { IdMapping, RunUser } from './types.ts';
import { readXattrs, type Xattrs } from './xattrs.ts';

/** What the rootfs held at a path when the session last wrote or read it. */
export interface InodeRecord {
  readonly ino: bigint;
  readonly ctimeNs: bigint;
}

export interface CaptureInput {
  root: string;
  /** The tree the rootfs held before the command ran. */
  old: DirNode;
  /** Inode and ctime per path, taken when `old` was written or captured. */
  records: ReadonlyMap<string, InodeRecord>;
  /** False when the filesystem's ctimes did not advance: every file is then compared by content. */
  trustCtime: boolean;
  mapping: IdMapping;
  /** Owner of new files under the `single` mapping. */
  runUser: RunUser;
  /** Paths kiln itself created for the run (a missing WORKDIR): root's under the `single` mapping. */
  madeByKiln?: ReadonlySet<string>;
  /** `spill`: new contents are copied into `spill`; `in-place`: host-file references into the rootfs. */
  content: 'spill' | 'in-place';
  spill?: SpillDir;
  getfattr?: string;
}

export interface CaptureOutput {
  tree: DirNode;
  records: Map<string, InodeRecord>;
}

interface Entry {
  name: string;
  rel: string;
  abs: string;
  st: BigIntStats;
  old: Node | undefined;
  /** Same inode, ctime unchanged since recorded: the node is the old one. */
  trusted: boolean;
  /** Same inode as recorded (possibly modified). */
  sameInode: boolean;
  children?: Entry[];
}

/**
 * Reads the rootfs back into a tree relative to `old`. An entry whose inode
 * and ctime are those recorded when kiln last wrote or read it keeps its old
 * node, so diff skips it by reference: any write, chmod, chown, link,
 * rename or xattr change sets ctime to the kernel's clock, and the session
 * makes sure that clock has moved past every recorded ctime before the
 * command starts (see RootfsSession). Other entries are read from disk; a
 * file whose metadata ends up equal to the old node's is compared byte by
 * byte and keeps its node when equal. Hard links are found by inode: a group
 * left untouched keeps its LinkGroup, a changed one gets a new one. Sockets
 * are skipped. Contents are copied into a spill file (or referenced in
 * place), xattrs of changed entries read with getfattr when installed.
 */
export function captureTree(input: CaptureInput): CaptureOutput {
  const records = new Map<string, InodeRecord>();
  const inodes = new Map<string, Entry[]>();
  const rootSt = stat(input.root);
  const root = scan(input, { name: '', rel: '', abs: input.root, st: rootSt, old: input.old, ...trust(input, '', rootSt) }, records, inodes);
  const xattrs = input.getfattr !== undefined && input.content === 'spill' ? readChangedXattrs(input, root) : new Map<string, Xattrs>();
  const builder = new Builder(input, xattrs);
  builder.planLinks(inodes);
  const tree = builder.dir(root, undefined);
  builder.finish();
  return { tree, records };
}

function stat(abs: string): BigIntStats {
  try {
    return lstatSync(abs, { bigint: true });
  } catch (cause) {
    throw new SandboxError('CAPTURE_FAILED', `cannot read ${abs}: ${(cause as Error).message}`, { cause, path: abs });
  }
}

function trust(input: CaptureInput, rel: string, st: BigIntStats): { trusted: boolean; sameInode: boolean } {
  const rec = input.records.get(rel);
  const sameInode = rec !== undefined && rec.ino === st.ino;
  return { sameInode, trusted: sameInode && input.trustCtime && rec.ctimeNs === st.ctimeNs };
}

function scan(input: CaptureInput, e: Entry, records: Map<string, InodeRecord>, inodes: Map<string, Entry[]>): Entry {
  records.set(e.rel, { ino: e.st.ino, ctimeNs: e.st.ctimeNs });
  if (!e.st.isDirectory()) {
    if (e.st.nlink > 1n) {
      const key = `${e.st.dev}:${e.st.ino}`;
      const list = inodes.get(key);
      if (list === undefined) inodes.set(key, [e]);
      else list.push(e);
    }
    return e;
  }
  let names: string[];
  try {
    names = readdirSync(e.abs);
  } catch (cause) {
    throw new SandboxError('CAPTURE_FAILED', `cannot read directory ${e.abs}: ${(cause as Error).message}`, { cause, path: e.abs });
  }
  const oldDir = e.old?.kind === 'dir' ? e.old : undefined;
  e.children = names.map((name) => {
    const rel = e.rel === '' ? name : `${e.rel}/${name}`;
    const abs = join(e.abs, name);
    const st = stat(abs);
    const old = oldDir?.children.get(name);
    const t = trust(input, rel, st);
    return scan(input, { name, rel, abs, st, old, sameInode: t.sameInode, trusted: t.trusted && old !== undefined }, records, inodes);
  });
  return e;
}

function readChangedXattrs(input: CaptureInput, root: Entry): Map<string, Xattrs> {
  const paths: string[] = [];
  const visit = (e: Entry): void => {
    if (!e.trusted && !e.st.isSymbolicLink() && e.rel !== '') paths.push(e.rel);
    for (const c of e.children ?? []) visit(c);
  };
  visit(root);
  return paths.length === 0 ? new Map() : readXattrs(input.getfattr!, input.root, paths);
}

/** Builds nodes bottom-up; owns the spill file new contents go to. */
class Builder {
  readonly #input: CaptureInput;
  readonly #xattrs: Map<string, Xattrs>;
  readonly #linked = new Map<Entry, Node>();
  #spill: SpillFile | undefined;

  constructor(input: CaptureInput, xattrs: Map<string, Xattrs>) {
    this.#input = input;
    this.#xattrs = xattrs;
  }

  /** Decides every hard-link group before the walk: kept whole when untouched, else rebuilt with a new LinkGroup. */
  planLinks(inodes: Map<string, Entry[]>): void {
    for (const entries of inodes.values()) {
      if (entries.length < 2) continue;
      const first = entries[0]!;
      const oldLink = first.old !== undefined && first.old.kind !== 'dir' ? first.old.link : undefined;
      if (oldLink !== undefined && entries.every((e) => e.trusted && e.old?.kind !== 'dir' && e.old?.link === oldLink)) {
        for (const e of entries) this.#linked.set(e, e.old!);
        continue;
      }
      const link = new LinkGroup();
      const node = this.#leaf(first, undefined, true);
      if (node === undefined) continue;
      for (const e of entries) this.#linked.set(e, { ...node, link } as Node);
    }
  }

  dir(e: Entry, parent: Meta | undefined): DirNode {
    const old = e.old?.kind === 'dir' ? e.old : undefined;
    const meta = e.trusted && old !== undefined ? old.meta : this.#meta(e, parent);
    const children = new Map<string, Node>();
    let same = old !== undefined && sameMeta(old.meta, meta) && old.children.size === e.children!.length;
    for (const c of e.children!) {
      const node = c.st.isDirectory() ? this.dir(c, meta) : (this.#linked.get(c) ?? (c.trusted ? c.old : this.#leaf(c, meta, false)));
      if (node === undefined) continue;
      children.set(c.name, node);
      if (node !== old?.children.get(c.name)) same = false;
    }
    if (same && old !== undefined && children.size === old.children.size) return old;
    return { kind: 'dir', meta, children };
  }

  finish(): void {
    this.#spill?.close();
  }

  #leaf(e: Entry, parent: Meta | undefined, forLink: boolean): Node | undefined {
    const st = e.st;
    const meta = this.#meta(e, parent);
    const old = forLink ? undefined : e.old;
    const reuse = <T extends Node>(n: T): T | undefined => (n.kind !== 'dir' && n.link === undefined && sameMeta(n.meta, meta) ? n : undefined);
    if (st.isFile()) {
      const size = Number(st.size);
      if (old?.kind === 'file' && old.link === undefined && old.size === size && sameMeta(old.meta, meta) && sameBytes(old.content, size, e.abs)) return old;
      return { kind: 'file', meta, size, content: this.#content(e.abs, size) };
    }
    if (st.isSymbolicLink()) {
      const target = readlinkSync(e.abs);
      if (old?.kind === 'symlink' && old.target === target && reuse(old) !== undefined) return old;
      return { kind: 'symlink', meta, target };
    }
    if (st.isFIFO()) return (old?.kind === 'fifo' ? reuse(old) : undefined) ?? { kind: 'fifo', meta };
    if (st.isCharacterDevice() || st.isBlockDevice()) {
      const kind = st.isCharacterDevice() ? 'char' : 'block';
      const rdev = Number(st.rdev);
      const major = Math.floor(rdev / 256) & 0xfff;
      const minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
      if (old?.kind === kind && old.major === major && old.minor === minor && reuse(old) !== undefined) return old;
      return { kind, meta, major, minor };
    }
    return undefined; // sockets are not part of images
  }

  /** The image metadata of a changed entry: ids from disk, or inferred under the single-id mapping. */
  #meta(e: Entry, parent: Meta | undefined): Meta {
    const st = e.st;
    let uid = Number(st.uid);
    let gid = Number(st.gid);
    if (this.#input.mapping === 'single') {
      // One id is mapped, so nothing could chown: an inode kiln wrote keeps the tree's
      // owner, a new one belongs to the user that ran, with a set-gid directory's group.
      if (e.sameInode && e.old !== undefined) ({ uid, gid } = e.old.meta);
      else if (this.#input.madeByKiln?.has(e.rel) === true) uid = gid = 0;
      else {
        uid = this.#input.runUser.uid;
        gid = parent !== undefined && (parent.mode & 0o2000) !== 0 ? parent.gid : this.#input.runUser.gid;
      }
    }
    const xattrs = this.#xattrs.get(e.rel) ?? (this.#input.getfattr === undefined || this.#input.content === 'in-place' ? e.old?.meta.xattrs : undefined);
    const meta: Meta = { mode: Number(st.mode) & 0o7777, uid, gid, mtime: Number(st.mtimeNs / 1_000_000_000n) };
    return xattrs !== undefined && Object.keys(xattrs).length > 0 ? { ...meta, xattrs } : meta;
  }

  #content(abs: string, size: number): ContentRef {
    if (this.#input.content === 'in-place') return { kind: 'host-file', path: abs };
    if (this.#spill === undefined) {
      if (this.#input.spill === undefined) throw new SandboxError('INTERNAL', 'capture into a spill file needs a SpillDir');
      this.#spill = this.#input.spill.newFile();
    }
    const spill = this.#spill;
    const offset = spill.size;
    readFileChunks(abs, size, (chunk) => spill.append(chunk));
    return { kind: 'file-range', path: spill.path, offset, size };
  }
}

/** Calls `each` with the file's first `size` bytes in pieces; a file that is shorter is CAPTURE_FAILED. */
function readFileChunks(abs: string, size: number, each: (chunk: Buffer) => void): void {
  const fd = openSync(abs, 'r');
  try {
    const buf = Buffer.allocUnsafe(Math.min(Math.max(size, 1), 1 << 20));
    for (let done = 0; done < size; ) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, size - done), done);
      if (n === 0) throw new SandboxError('CAPTURE_FAILED', `${abs} shrank while it was read`, { path: abs });
      each(buf.subarray(0, n));
      done += n;
    }
  } finally {
    closeSync(fd);
  }
}

class Differs extends Error {}

/** True when the file at `abs` holds exactly the bytes of `ref`. */
function sameBytes(ref: ContentRef, size: number, abs: string): boolean {
  const fd = openSync(abs, 'r');
  try {
    let pos = 0;
    const mine = Buffer.allocUnsafe(Math.min(Math.max(size, 1), 1 << 20));
    copyContentSync(ref, size, (chunk) => {
      for (let off = 0; off < chunk.length; ) {
        const want = Math.min(mine.length, chunk.length - off);
        const n = readSync(fd, mine, 0, want, pos);
        if (n !== want || !mine.subarray(0, n).equals(chunk.subarray(off, off + n))) throw new Differs();
        off += n;
        pos += n;
      }
    });
    return true;
  } catch (err) {
    // A difference, or an old content that can no longer be read: either way not provably the same.
    if (err instanceof Differs || (err as { code?: string }).code === 'CONTENT_MISSING') return false;
    throw err;
  } finally {
    closeSync(fd);
  }
}
