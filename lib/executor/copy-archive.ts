import { type DecompressTools, detectArchive, type DirNode, extractTarInto, type FileNode, type Meta, mkdirAll, type SpillDir, VfsError } from '../vfs/index.ts';
import { KilnError } from '../errors.ts';
import { BuildStepError } from './errors.ts';
import type { Owner } from './users.ts';

type Loc = { file: string; line: number };

/**
 * Whether ADD unpacks this file: a tar, plain or compressed with gzip,
 * bzip2, xz or zstd, judged from its bytes (BuildKit's isArchivePath). A
 * decompressor that is not installed stops the build with
 * ADD_ARCHIVE_UNSUPPORTED rather than copying the archive as a file.
 */
export async function isArchive(node: FileNode, tools: DecompressTools | undefined, loc: Loc): Promise<boolean> {
  try {
    return (await detectArchive(node.content, node.size, tools)) !== 'not-an-archive';
  } catch (cause) {
    if (cause instanceof VfsError && (cause.code === 'DECOMPRESSOR_MISSING' || cause.code === 'DECOMPRESSOR_FAILED')) {
      throw new BuildStepError('ADD_ARCHIVE_UNSUPPORTED', `cannot tell whether the source is an archive: ${cause.message}`, { location: loc, cause });
    }
    throw cause;
  }
}

export interface UnpackOptions {
  /** `--chown`: the owner of every entry (Untar's ChownOpts) and of the directories made for `dest`. */
  readonly owner: Owner | undefined;
  /** The mtime of directories made for `dest` and implied by the archive. */
  readonly mtime: number;
  readonly spill: SpillDir;
  readonly tools: DecompressTools | undefined;
}

/**
 * Unpacks `archive` into the directory `dest`, as BuildKit's file op does
 * for ADD (solver/llbsolver/file/unpack.go): missing directories of `dest`
 * are made 0755 with the `--chown` owner (copy.MkdirAll), then Docker's
 * Untar runs chrooted at `dest` with the `--chown` owner for every entry.
 * `--chmod` does not apply to unpacked entries (BuildKit passes no mode to
 * Untar). Directories the archive implies are 0755 root-owned (Untar's
 * RootPair). A corrupt or hostile archive is ADD_ARCHIVE_INVALID, a missing
 * decompressor ADD_ARCHIVE_UNSUPPORTED, `dest` below a file COPY_DEST_INVALID;
 * an archive past a limit keeps the limit's code (ARCHIVE_TOO_LARGE,
 * ARCHIVE_RATIO_EXCEEDED, PATH_TOO_DEEP, NAME_TOO_LONG, PATH_TOO_LONG,
 * LAYER_TOO_MANY_ENTRIES, LIMIT_INVALID) so that scripts can tell "too big"
 * from "broken", and its message names the archive and the limit.
 */
export async function unpackArchive(tree: DirNode, dest: string, archive: FileNode, opts: UnpackOptions, loc: Loc): Promise<DirNode> {
  const destMeta: Meta = { mode: 0o755, uid: opts.owner?.uid ?? 0, gid: opts.owner?.gid ?? 0, mtime: opts.mtime };
  const implied: Meta = { mode: 0o755, uid: 0, gid: 0, mtime: opts.mtime };
  try {
    mkdirAll(tree, dest, destMeta);
  } catch (cause) {
    if (cause instanceof VfsError) throw new BuildStepError('COPY_DEST_INVALID', `cannot unpack into ${dest}: ${cause.message}`, { location: loc, cause });
    throw cause;
  }
  try {
    return await extractTarInto(tree, dest, archive.content, destMeta, {
      spill: opts.spill,
      impliedDir: implied,
      ...(opts.owner !== undefined ? { owner: opts.owner } : {}),
      ...(opts.tools !== undefined ? { tools: opts.tools } : {}),
    });
  } catch (cause) {
    if (cause instanceof VfsError && cause.code === 'DECOMPRESSOR_MISSING') {
      throw new BuildStepError('ADD_ARCHIVE_UNSUPPORTED', cause.message, { location: loc, cause });
    }
    if (cause instanceof KilnError && LIMIT_CODES.has(cause.code)) {
      throw new BuildStepError(cause.code, `ADD: ${cause.message}`, { ...cause.fields, location: loc, cause });
    }
    throw new BuildStepError('ADD_ARCHIVE_INVALID', `cannot unpack archive: ${(cause as Error).message}`, { location: loc, cause });
  }
}

/** Codes of an archive refused by a limit rather than for being malformed. */
const LIMIT_CODES: ReadonlySet<string> = new Set([
  'ARCHIVE_TOO_LARGE',
  'ARCHIVE_RATIO_EXCEEDED',
  'PATH_TOO_DEEP',
  'NAME_TOO_LONG',
  'PATH_TOO_LONG',
  'LAYER_TOO_MANY_ENTRIES',
  'LIMIT_INVALID',
]);
