import type { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { DEFAULT_EXPANSION_LIMITS, ExpansionMeter, readTar } from '../archive/index.ts';
import { DEFAULT_DECOMPRESS_TOOLS, decompressArchive, type DecompressTools, sniffArchiveCompression } from './decompress-archive.ts';

export { type ArchiveCompression, DEFAULT_DECOMPRESS_TOOLS, decompressArchive, type DecompressTools, nodeHasZstd, sniffArchiveCompression } from './decompress-archive.ts';
import { VfsError } from './errors.ts';
import { LayerApplier } from './layer-applier.ts';
import { type ApplyLimits, applyLimits } from './limits.ts';
import type { ContentRef, DirNode, Meta } from './node.ts';
import { contentStream, readContentSync } from './read-content.ts';
import { defaultSpillDir, type SpillDir } from './spill.ts';
import { getNode, mkdirAll, setNode } from './tree.ts';

/** What kind of archive a file is, judged from its bytes (never its name), as BuildKit's ADD does. */
export type ArchiveKind = 'tar' | 'tar+gzip' | 'tar+bzip2' | 'tar+xz' | 'tar+zstd' | 'not-an-archive';

const HEAD = 64 * 1024;
const BLOCK = 512;

/**
 * A quick, synchronous look at the first bytes: plain and gzip tars are
 * recognized; `needs-decompressor` means bzip2, xz or zstd data, which
 * {@link detectArchive} decides.
 */
export function archiveKind(ref: ContentRef, size: number): ArchiveKind | 'needs-decompressor' {
  if (size < 6) return 'not-an-archive';
  const head = readHead(ref, Math.min(size, HEAD));
  switch (sniffArchiveCompression(head)) {
    case 'none':
      return isTarHeader(head) ? 'tar' : 'not-an-archive';
    case 'gzip':
      try {
        const inflated = gunzipSync(head, { finishFlush: 2 /* Z_SYNC_FLUSH: a prefix is enough */ });
        return isTarHeader(inflated) ? 'tar+gzip' : 'not-an-archive';
      } catch {
        return 'not-an-archive';
      }
    default:
      return 'needs-decompressor';
  }
}

/**
 * Whether a regular file is a tar archive ADD unpacks, as BuildKit's
 * isArchivePath: its decompressed bytes (plain, gzip, bzip2, xz or zstd)
 * start with a valid tar header. Data the decompressor rejects is not an
 * archive (it is copied as a file); a decompressor that is not installed
 * is DECOMPRESSOR_MISSING, since copying the file instead would silently
 * give another image than BuildKit's.
 */
export async function detectArchive(ref: ContentRef, size: number, tools: DecompressTools = DEFAULT_DECOMPRESS_TOOLS): Promise<ArchiveKind> {
  const quick = archiveKind(ref, size);
  if (quick !== 'needs-decompressor') return quick;
  const kind = sniffArchiveCompression(readHead(ref, 6));
  const head = await decompressedHead(contentStream(ref, size), tools);
  if (head === undefined || !isTarHeader(head)) return 'not-an-archive';
  return kind === 'bzip2' ? 'tar+bzip2' : kind === 'xz' ? 'tar+xz' : 'tar+zstd';
}

/** The first block of the decompressed stream (undefined when it is shorter or corrupt); stops the decompressor after it. */
async function decompressedHead(input: Readable, tools: DecompressTools): Promise<Buffer | undefined> {
  // 512 bytes come out at most: the limits (and the environment's settings of them) do not matter here.
  const out = decompressArchive(input, tools, new ExpansionMeter(DEFAULT_EXPANSION_LIMITS, { kind: 'archive' }));
  const parts: Buffer[] = [];
  let got = 0;
  try {
    for await (const chunk of out) {
      parts.push(chunk as Buffer);
      got += (chunk as Buffer).length;
      if (got >= BLOCK) break;
    }
  } catch (err) {
    if (err instanceof VfsError && (err.code === 'DECOMPRESSOR_MISSING' || err.code === 'DECOMPRESSOR_FAILED')) throw err;
    // BuildKit: a stream the decompressor rejects is simply not an archive.
  } finally {
    out.destroy();
  }
  return got >= BLOCK ? Buffer.concat(parts, got).subarray(0, BLOCK) : undefined;
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
  if (b.length < BLOCK) return false;
  const field = b.subarray(148, 156).toString('latin1').replace(/[\0 ]+$/, '').trim();
  if (!/^[0-7]+$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : b[i]!;
  return sum === parseInt(field, 8);
}

export interface ExtractOptions {
  /** Where the archive's file contents are written (default: a process-wide temp spill directory). */
  spill?: SpillDir;
  limits?: Partial<ApplyLimits>;
  /** Directories the archive implies without listing them (default: `dirMeta`). Docker: 0755 root-owned. */
  impliedDir?: Meta;
  /** The owner of every entry, instead of the archive's (ADD --chown: Untar's ChownOpts). */
  owner?: { readonly uid: number; readonly gid: number };
  /** External decompressors for bzip2, xz (and zstd on a Node.js without it). */
  tools?: DecompressTools;
  /** The archive's name in errors (default: its host path when `ref` is a host file). */
  name?: string;
}

/**
 * Unpacks a tar (plain, gzip, bzip2, xz or zstd, told from its bytes) into
 * the directory `dest` of the tree, as ADD does with a local archive
 * (BuildKit runs Docker's Untar chrooted at the destination):
 *
 * - Missing directories of `dest` are made with `dirMeta`; `dest` is
 *   resolved through the tree's symlinks (confined to the root).
 * - The archive's root entry (`./`) is ignored: the destination keeps its
 *   metadata. Entries keep their mode, owner (or `opts.owner`), mtime and
 *   xattrs; `.wh.` names are ordinary files; an entry replaces what is there
 *   except that a directory over a directory merges and takes the entry's
 *   metadata; an existing directory the archive does not list keeps its own.
 * - Symlinks are stored as written, whatever they point at (BuildKit's
 *   Untar runs chrooted at `dest`, where pkg/archive's "invalid symlink"
 *   check compares against `/` and never fires). Symlinks already in `dest`
 *   or made by the archive resolve inside `dest` when entries are written
 *   through them (the chroot): nothing is written outside it. At run time
 *   they resolve inside the image root like any symlink.
 * - A name that climbs above `dest`, or a hardlink whose target does, is
 *   refused with PATH_OUTSIDE_ROOT: pkg/archive's breakout rule, stricter
 *   than BuildKit's chroot (which would clamp them to `dest`).
 *
 * File contents go to one spill file, not to memory; on failure it is
 * deleted. Errors: those of applyLayer, except that the expansion limits
 * fail with ARCHIVE_TOO_LARGE and ARCHIVE_RATIO_EXCEEDED (naming the
 * archive), plus DECOMPRESSOR_MISSING and COMPRESSION_INVALID.
 */
export async function extractTarInto(tree: DirNode, dest: string, ref: ContentRef, dirMeta: Meta, opts: ExtractOptions = {}): Promise<DirNode> {
  const limits = applyLimits(opts.limits);
  const meter = new ExpansionMeter(limits, { kind: 'archive', name: opts.name ?? (ref.kind === 'host-file' ? ref.path : undefined) });
  const made = mkdirAll(tree, dest, dirMeta);
  const base = getNode(made.root, made.path);
  if (base?.kind !== 'dir') throw new VfsError('NOT_A_DIRECTORY', `cannot unpack into ${dest}: not a directory`, { path: dest });
  const spill = (opts.spill ?? defaultSpillDir()).newFile();
  const applier = new LayerApplier(base, { mode: 'untar', impliedDir: opts.impliedDir ?? dirMeta, limits, meter, spill });
  const size = ref.kind === 'file-range' ? ref.size : ref.kind === 'bytes' ? ref.data.length : Number.MAX_SAFE_INTEGER;
  try {
    const owner = opts.owner;
    await readTar(decompressArchive(contentStream(ref, size), opts.tools, meter), (h, body) => applier.apply(owner === undefined ? h : { ...h, uid: owner.uid, gid: owner.gid }, body));
    spill.close();
  } catch (err) {
    spill.discard();
    throw err;
  }
  return setNode(made.root, made.path, applier.finish());
}
