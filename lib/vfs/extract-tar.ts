import { createReadStream, openSync, readSync, closeSync } from 'node:fs';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { decompressStream, readTar, type TarHeader } from '../archive/index.ts';
import { VfsError } from './errors.ts';
import type { ContentRef, DirNode, Meta, Node } from './node.ts';
import { getNode, mkdirAll, resolvePath, setNode } from './tree.ts';

/** What kind of archive a file is, judged from its first bytes as BuildKit's ADD does. */
export type ArchiveKind = 'tar' | 'tar+gzip' | 'unsupported-compression' | 'not-an-archive';

// ADD keeps extracted bytes in memory until spilled content arrives (issue 5).
const MAX_EXTRACTED_BYTES = 512 << 20;

/**
 * Whether a regular file is a tar archive ADD should unpack: a valid tar
 * header (checksum) at the start, plain or gzip-compressed. bzip2 and xz
 * archives are recognized but not supported yet.
 */
export function archiveKind(ref: ContentRef, size: number): ArchiveKind {
  if (size < 6) return 'not-an-archive';
  const head = readHead(ref, 64 * 1024);
  if (head[0] === 0x1f && head[1] === 0x8b) {
    try {
      const inflated = gunzipSync(head, { finishFlush: 2 /* Z_SYNC_FLUSH: a prefix is enough */ });
      return isTarHeader(inflated) ? 'tar+gzip' : 'not-an-archive';
    } catch {
      return 'not-an-archive';
    }
  }
  if (head.subarray(0, 3).toString('latin1') === 'BZh' || head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) {
    return 'unsupported-compression';
  }
  return isTarHeader(head) ? 'tar' : 'not-an-archive';
}

function readHead(ref: ContentRef, n: number): Buffer {
  if (ref.kind === 'bytes') return ref.data.subarray(0, n);
  const fd = openSync(ref.path, 'r');
  try {
    const buf = Buffer.alloc(n);
    return buf.subarray(0, readSync(fd, buf, 0, n, 0));
  } finally {
    closeSync(fd);
  }
}

/** A 512-byte block whose checksum field matches its bytes (ustar, GNU and v7 headers alike). */
function isTarHeader(b: Buffer): boolean {
  if (b.length < 512) return false;
  const field = b.subarray(148, 156).toString('latin1').replace(/[\0 ]+$/, '').trim();
  if (!/^[0-7]+$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : b[i]!;
  return sum === parseInt(field, 8);
}

/**
 * Unpacks a tar (plain or gzip) into the directory `dest` of the tree, as
 * ADD does with a local archive: entries keep their mode, owner and mtime;
 * paths are confined below `dest` (an entry that climbs out with `..` is an
 * error, as Docker's untar); hardlinks become copies of their target.
 */
export async function extractTarInto(tree: DirNode, dest: string, ref: ContentRef, dirMeta: Meta): Promise<DirNode> {
  const made = mkdirAll(tree, dest, dirMeta);
  let root = made.root;
  const base = made.path;
  let total = 0;
  const input = ref.kind === 'bytes' ? Readable.from([ref.data]) : createReadStream(ref.path);
  await readTar(decompressStream(input), async (h, body) => {
    const rel = confined(h.name);
    if (rel.length === 0) return; // the archive's own root directory
    const at = [...base, ...rel];
    const meta: Meta = { mode: h.mode, uid: h.uid, gid: h.gid, mtime: h.mtime, ...(h.xattrs ? { xattrs: h.xattrs } : {}) };
    let node: Node;
    if (h.type === 'file') {
      total += h.size;
      if (total > MAX_EXTRACTED_BYTES) throw new VfsError('ARCHIVE_TOO_LARGE', `archive unpacks to more than ${MAX_EXTRACTED_BYTES} bytes`);
      const parts: Buffer[] = [];
      for await (const c of body) parts.push(c as Buffer);
      node = { kind: 'file', meta, size: h.size, content: { kind: 'bytes', data: Buffer.concat(parts) } };
    } else {
      node = leafFor(h, meta, root, base);
    }
    root = mkdirAll(root, `/${at.slice(0, -1).join('/')}`, dirMeta).root;
    const existing = getNode(root, at);
    if (node.kind === 'dir' && existing?.kind === 'dir') node = { ...node, children: existing.children };
    root = setNode(root, at, node);
  });
  return root;
}

function confined(name: string): string[] {
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) throw new VfsError('PATH_OUTSIDE_ROOT', `archive entry ${JSON.stringify(name)} climbs out of the destination`, { path: name });
      out.pop();
    } else out.push(part);
  }
  return out;
}

function leafFor(h: TarHeader, meta: Meta, root: DirNode, base: string[]): Node {
  switch (h.type) {
    case 'directory': return { kind: 'dir', meta, children: new Map() };
    case 'symlink': return { kind: 'symlink', meta, target: h.linkname ?? '' };
    case 'fifo': return { kind: 'fifo', meta };
    case 'character-device':
    case 'block-device':
      return { kind: h.type === 'character-device' ? 'char' : 'block', meta, major: h.devmajor ?? 0, minor: h.devminor ?? 0 };
    case 'hardlink': {
      const target = resolvePath(root, `/${[...base, ...confined(h.linkname ?? '')].join('/')}`, { followFinal: false }).node;
      if (target?.kind !== 'file') throw new VfsError('ARCHIVE_INVALID', `hardlink ${h.name} points to ${h.linkname}, which is not an earlier regular file`);
      return target; // a hardlink shares its target's inode, metadata included
    }
    case 'file': throw new VfsError('INTERNAL', 'regular files are read by the caller');
  }
}
