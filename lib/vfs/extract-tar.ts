import { gunzipSync } from 'node:zlib';
import { readTar } from '../archive/index.ts';
import { meteredTar } from './apply-layer.ts';
import { LayerApplier } from './layer-applier.ts';
import { type ApplyLimits, ByteMeter, applyLimits } from './limits.ts';
import { type ContentRef, type DirNode, emptyDir, type Meta, type Node } from './node.ts';
import { contentStream, readContentSync } from './read-content.ts';
import { defaultSpillDir, type SpillDir } from './spill.ts';
import { TreeDraft } from './tree-draft.ts';
import { mkdirAll } from './tree.ts';

/** What kind of archive a file is, judged from its first bytes as BuildKit's ADD does. */
export type ArchiveKind = 'tar' | 'tar+gzip' | 'unsupported-compression' | 'not-an-archive';

const HEAD = 64 * 1024;

/**
 * Whether a regular file is a tar archive ADD should unpack: a valid tar
 * header (checksum) at the start, plain or gzip-compressed. bzip2 and xz
 * archives are recognized but not supported yet.
 */
export function archiveKind(ref: ContentRef, size: number): ArchiveKind {
  if (size < 6) return 'not-an-archive';
  const head = readHead(ref, Math.min(size, HEAD));
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
  switch (ref.kind) {
    case 'bytes':
      return ref.data.subarray(0, n);
    case 'file-range':
      return readContentSync({ ...ref, size: Math.min(n, ref.size) });
    case 'host-file':
      return readContentSync({ kind: 'file-range', path: ref.path, offset: 0, size: n });
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

export interface ExtractOptions {
  /** Where the archive's file contents are written (default: a process-wide temp spill directory). */
  spill?: SpillDir;
  limits?: Partial<ApplyLimits>;
}

/**
 * Unpacks a tar (plain, gzip or zstd) into the directory `dest` of the
 * tree, as ADD does with a local archive (Docker's Untar): entries keep
 * their mode, owner, mtime and xattrs; `.wh.` names are ordinary files;
 * a name that climbs above the archive's root is PATH_OUTSIDE_ROOT; symlinks
 * in the archive resolve inside the archive (as Untar inside a chroot);
 * hardlinks become link groups. Directories the archive implies are made
 * with `dirMeta`; an existing directory of `dest` keeps its metadata unless
 * the archive lists it. File contents go to a spill file, not to memory.
 */
export async function extractTarInto(tree: DirNode, dest: string, ref: ContentRef, dirMeta: Meta, opts: ExtractOptions = {}): Promise<DirNode> {
  const limits = applyLimits(opts.limits);
  const meter = new ByteMeter(limits);
  const spill = (opts.spill ?? defaultSpillDir()).newFile();
  const applier = new LayerApplier(emptyDir(dirMeta), { mode: 'untar', impliedDir: dirMeta, limits, meter, spill });
  const size = ref.kind === 'file-range' ? ref.size : ref.kind === 'bytes' ? ref.data.length : Number.MAX_SAFE_INTEGER;
  try {
    await readTar(meteredTar(contentStream(ref, size), meter), (h, body) => applier.apply(h, body));
    spill.close();
  } catch (err) {
    spill.discard();
    throw err;
  }
  const unpacked = applier.finish();
  const made = mkdirAll(tree, dest, dirMeta);
  const draft = new TreeDraft(made.root);
  merge(draft, made.path, unpacked, '', (key) => applier.isEntry(key));
  return draft.finish();
}

/** Merges `src`'s children into the directory at `at`: directories merge, everything else replaces. */
function merge(draft: TreeDraft, at: readonly string[], src: DirNode, key: string, listed: (key: string) => boolean): void {
  const dir = draft.dirAt(at);
  for (const [name, child] of src.children) {
    const childKey = key === '' ? name : `${key}/${name}`;
    const existing: Node | undefined = dir.children.get(name);
    if (child.kind === 'dir' && existing?.kind === 'dir') {
      draft.children(dir).set(name, draft.own(existing, listed(childKey) ? child.meta : existing.meta));
      merge(draft, [...at, name], child, childKey, listed);
    } else {
      draft.children(dir).set(name, child);
    }
  }
}
