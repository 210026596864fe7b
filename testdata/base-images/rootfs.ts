/**
 * A root filesystem described as a map of paths to entries, written out as
 * one deterministic tar: entries sorted by path (parents first), every
 * mtime the given epoch, owner 0:0 (root/root), no atime/ctime. The same
 * entries and epoch always give the same bytes.
 */
import { createWriteStream, lstatSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { type Header, type Pack, pack as tarPack } from 'tar-stream';

export type RootfsEntry =
  | { kind: 'dir'; mode: number }
  /** Content read from a host file when the tar is written. */
  | { kind: 'file'; mode: number; source: string }
  | { kind: 'data'; mode: number; data: Buffer }
  | { kind: 'symlink'; target: string };

export interface TreeOptions {
  /** Leave out this path (relative to the tree's top, `/`-separated) and, for a directory, everything below it. */
  skip?: (rel: string, isDir: boolean) => boolean;
}

/** Strips leading and trailing slashes; refuses `.`/`..` components (the paths are ours, but a typo must not escape the root). */
function clean(path: string): string {
  const parts = path.split('/').filter((p) => p !== '');
  if (parts.length === 0 || parts.some((p) => p === '.' || p === '..')) throw new Error(`bad rootfs path ${JSON.stringify(path)}`);
  return parts.join('/');
}

/** A root filesystem under construction. Later calls replace entries of the same path, except that files never silently replace files. */
export class Rootfs {
  readonly entries = new Map<string, RootfsEntry>();

  /** A copy whose entries can change without touching this one. */
  clone(): Rootfs {
    const copy = new Rootfs();
    for (const [path, entry] of this.entries) copy.entries.set(path, entry);
    return copy;
  }

  /** Creates `path` (and missing parents, 0755) as a directory with `mode`. */
  dir(path: string, mode = 0o755): this {
    const p = clean(path);
    this.#parents(p);
    this.entries.set(p, { kind: 'dir', mode });
    return this;
  }

  /** Adds a regular file whose content is the host file `source` (read when written). */
  file(path: string, source: string, mode?: number): this {
    return this.#put(path, { kind: 'file', mode: mode ?? lstatSync(source).mode & 0o7777, source });
  }

  /** Adds a regular file with the given content. */
  data(path: string, data: string | Buffer, mode = 0o644): this {
    return this.#put(path, { kind: 'data', mode, data: Buffer.isBuffer(data) ? data : Buffer.from(data) });
  }

  symlink(path: string, target: string): this {
    return this.#put(path, { kind: 'symlink', target });
  }

  /**
   * Copies the host tree `hostDir` to `dest`: directories, regular files
   * and symlinks with their modes (owners become 0:0). Anything else
   * (devices, fifos, sockets) is an error: package trees have none.
   */
  tree(hostDir: string, dest: string, opts: TreeOptions = {}): this {
    const walk = (host: string, rel: string): void => {
      for (const name of readdirSync(host).sort()) {
        const childRel = rel === '' ? name : `${rel}/${name}`;
        const hostPath = join(host, name);
        const st = lstatSync(hostPath);
        if (opts.skip?.(childRel, st.isDirectory()) === true) continue;
        const to = `${dest}/${childRel}`;
        if (st.isDirectory()) {
          this.dir(to, st.mode & 0o7777);
          walk(hostPath, childRel);
        } else if (st.isFile()) this.file(to, hostPath, st.mode & 0o7777);
        else if (st.isSymbolicLink()) this.symlink(to, readlinkSync(hostPath));
        else throw new Error(`${hostPath}: unsupported file type in a package tree`);
      }
    };
    this.dir(dest, lstatSync(hostDir).mode & 0o7777);
    walk(hostDir, '');
    return this;
  }

  /** Removes `path` and everything below it. */
  remove(path: string): this {
    const p = clean(path);
    for (const key of [...this.entries.keys()]) if (key === p || key.startsWith(`${p}/`)) this.entries.delete(key);
    return this;
  }

  #put(path: string, entry: RootfsEntry): this {
    const p = clean(path);
    const old = this.entries.get(p);
    if (old !== undefined && old.kind !== 'dir' && entry.kind !== 'dir') throw new Error(`rootfs: two entries for /${p}`);
    if (old?.kind === 'dir') throw new Error(`rootfs: /${p} is a directory`);
    this.#parents(p);
    this.entries.set(p, entry);
    return this;
  }

  #parents(p: string): void {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      const old = this.entries.get(parent);
      if (old === undefined) this.entries.set(parent, { kind: 'dir', mode: 0o755 });
      else if (old.kind !== 'dir') throw new Error(`rootfs: /${parent} is not a directory`);
    }
  }
}

/** Sorted by path bytes: a parent (a prefix) always comes before its children. */
export function sortedPaths(fs: Rootfs): string[] {
  return [...fs.entries.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

export interface WrittenTar {
  entries: number;
  /** Bytes of the tar file. */
  size: number;
}

/**
 * Writes `fs` to `dest` as a tar (PAX where names are long). Every header
 * field is explicit, so the bytes depend only on the entries and `epoch`.
 */
export async function writeRootfsTar(fs: Rootfs, dest: string, epoch: number): Promise<WrittenTar> {
  const pack = tarPack();
  const done = pipeline(pack, createWriteStream(dest));
  const mtime = new Date(epoch * 1000);
  const paths = sortedPaths(fs);
  for (const path of paths) {
    const e = fs.entries.get(path)!;
    const base = { mtime, uid: 0, gid: 0, uname: 'root', gname: 'root' };
    switch (e.kind) {
      case 'dir':
        await addEntry(pack, { ...base, name: `${path}/`, type: 'directory', mode: e.mode });
        break;
      case 'symlink':
        await addEntry(pack, { ...base, name: path, type: 'symlink', linkname: e.target, mode: 0o777 });
        break;
      case 'file':
      case 'data': {
        const body = e.kind === 'file' ? readFileSync(e.source) : e.data;
        await addEntry(pack, { ...base, name: path, type: 'file', mode: e.mode, size: body.length }, body);
        break;
      }
    }
  }
  pack.finalize();
  await done;
  return { entries: paths.length, size: statSync(dest).size };
}

/** Adds one entry and waits until the pack has taken it, so at most one file's bytes wait in memory. */
function addEntry(pack: Pack, header: Partial<Header> & { name: string }, body?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
    if (body === undefined) pack.entry(header, cb);
    else pack.entry(header, body, cb);
  });
}

/** The newest mtime (whole seconds) of the host files in `fs`: the packages' own SOURCE_DATE_EPOCH, in effect. 0 when there are none. */
export function newestSourceMtime(fs: Rootfs): number {
  let newest = 0;
  for (const e of fs.entries.values()) if (e.kind === 'file') newest = Math.max(newest, Math.floor(lstatSync(e.source).mtimeMs / 1000));
  return newest;
}
