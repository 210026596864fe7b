import { type AddInstruction, applyChmod, type ChmodSpec, type CopyInstruction, type Heredoc, parseChmod, ShellLexer } from '../dockerfile/index.ts';
import {
  archiveKind, type DirNode, emptyDir, extractTarInto, type FileNode, getNode, type Meta, type Node, glob, hasWildcards, joinPath, mkdirAll, resolvePath, setNode, splitConfined, VfsError,
} from '../vfs/index.ts';
import { commitLayer } from './commit.ts';
import { BuildStepError } from './errors.ts';
import { createdMtime, type ExecOptions, expansionEnv, runConfig, type StageState } from './stage-state.ts';
import { type Owner, resolveOwner } from './users.ts';

type Loc = { file: string; line: number };

/** Where COPY/ADD read from: the build context (confined: leaving it is an error) or another tree. */
export interface CopySource {
  readonly tree: DirNode;
  readonly confined: boolean;
  readonly describe: string;
}

/**
 * COPY and ADD of local sources, with BuildKit's semantics: sources are
 * paths or Go-style wildcards (a wildcard may match nothing), a directory
 * source copies its contents, a top-level symlink source is followed, the
 * destination is a directory when it ends in `/` or `/.`, exists as one, or
 * there are several sources (kiln's reading: BuildKit then overwrites one
 * file with the next, moby/buildkit#1853), a relative destination is relative
 * to WORKDIR, missing directories are created with the `--chmod` mode (else
 * 0755) and the `--chown` owner (else 0:0), entries keep their mode and mtime
 * and take the `--chown` owner and `--chmod` mode (octal or symbolic) when given. Heredoc sources
 * become 0644 files. `--parents` and `--exclude` are refused (not yet done).
 */
export async function copy(state: StageState, ins: CopyInstruction | AddInstruction, source: CopySource, opts: ExecOptions, loc: Loc): Promise<StageState> {
  if (ins.parents || ins.exclude.length > 0) {
    // Silently copying without them would give a different image than BuildKit.
    throw new BuildStepError('COPY_FLAG_UNSUPPORTED', `${ins.kind} ${ins.parents ? '--parents' : '--exclude'} is not supported yet`, { location: loc });
  }
  const vars = expansionEnv(state);
  const x = (w: string) => opts.expander.word(w, vars);
  const sources = ins.sources.map(x);
  const rawDest = x(ins.dest);
  // As BuildKit: a flag that expands to nothing is no flag.
  const chown = ins.chown !== undefined ? x(ins.chown) || undefined : undefined;
  const chmodText = ins.chmod !== undefined ? x(ins.chmod) || undefined : undefined;
  const chmod = chmodText !== undefined ? parseChmod(chmodText, loc) : undefined; // octal or symbolic (u+x, go=rX)
  const owner = chown !== undefined ? resolveOwner(state.tree, chown, loc) : undefined;
  const dest = joinPath(runConfig(state).WorkingDir || '/', rawDest);
  const destIsDir = rawDest === '' || rawDest === '.' || rawDest.endsWith('/') || rawDest.endsWith('/.') || sources.length + ins.heredocs.length > 1;
  // fsutil's Copy creates missing destination directories with the --chmod mode (fsutil#228) and the --chown owner.
  const dirMeta: Meta = { mode: chmod !== undefined ? applyChmod(chmod, 0o755, true) : 0o755, uid: owner?.uid ?? 0, gid: owner?.gid ?? 0, mtime: createdMtime(opts) };

  const items: { name: string; node: Node }[] = [];
  for (const src of sources) items.push(...resolveSources(source, src, loc));
  for (const h of ins.heredocs) items.push({ name: h.name, node: heredocFile(h, vars, opts) });
  let tree = state.tree;
  const multi = destIsDir || items.length > 1;
  try {
    for (const item of items) {
      if (ins.kind === 'ADD' && ins.unpack !== false && source.confined && item.node.kind === 'file' && isArchive(item.node, loc)) {
        tree = await unpackInto(tree, dest, item.node, owner, chmod, dirMeta, loc);
        continue;
      }
      const node = restamp(item.node, owner, chmod);
      tree = node.kind === 'dir' ? copyDirContents(tree, dest, node, dirMeta) : placeLeaf(tree, dest, multi, item.name, node, dirMeta);
    }
  } catch (cause) {
    if (cause instanceof VfsError) throw new BuildStepError('COPY_DEST_INVALID', `cannot copy to ${rawDest}: ${cause.message}`, { location: loc, cause });
    throw cause;
  }
  const flags = [ins.parents ? '--parents' : '', chown !== undefined ? `--chown=${chown}` : '', chmodText !== undefined ? `--chmod=${chmodText}` : ''].filter((f) => f !== '');
  const createdBy = [ins.kind, ...flags, ...sources, ...ins.heredocs.map((h) => `<<${h.name}`), rawDest].join(' ');
  return commitLayer(state, tree, `${createdBy} # buildkit`, opts);
}

/** ADD unpacks a local tar (plain or gzip) instead of copying it; bzip2/xz archives are refused, not copied. */
function isArchive(node: FileNode, loc: Loc): boolean {
  const kind = archiveKind(node.content, node.size);
  if (kind === 'unsupported-compression') {
    throw new BuildStepError('ADD_ARCHIVE_UNSUPPORTED', 'ADD of a bzip2 or xz compressed archive is not supported yet (gzip and plain tar are)', { location: loc });
  }
  return kind === 'tar' || kind === 'tar+gzip';
}

/** The archive's entries go into the directory `dest` (created when missing) with their own metadata, or `--chown`/`--chmod`'s. */
async function unpackInto(tree: DirNode, dest: string, archive: FileNode, owner: Owner | undefined, chmod: ChmodSpec | undefined, dirMeta: Meta, loc: Loc): Promise<DirNode> {
  let unpacked: DirNode;
  try {
    unpacked = await extractTarInto(emptyDir(), '/', archive.content, dirMeta);
  } catch (cause) {
    throw new BuildStepError('ADD_ARCHIVE_INVALID', `cannot unpack archive: ${(cause as Error).message}`, { location: loc, cause });
  }
  const made = mkdirAll(tree, dest, dirMeta);
  return mergeChildren(made.root, made.path, owner || chmod !== undefined ? (restamp(unpacked, owner, chmod) as DirNode) : unpacked);
}

/**
 * A heredoc source: a 0644 root-owned file (BuildKit's Mkfile). Chomped
 * first, then expanded like BuildKit's ExpandRaw: quotes are kept as text and
 * `\` is the escape character whatever the escape directive says.
 */
function heredocFile(h: Heredoc, vars: ReadonlyMap<string, string>, opts: ExecOptions): Node {
  const chomped = h.chomp ? h.content.replace(/^\t+/gm, '') : h.content;
  const text = h.expand ? RAW_LEXER.processWord(chomped, vars).word : chomped;
  const data = Buffer.from(text, 'utf8');
  return { kind: 'file', meta: { mode: 0o644, uid: 0, gid: 0, mtime: createdMtime(opts) }, size: data.length, content: { kind: 'bytes', data } };
}

const RAW_LEXER = new ShellLexer('\\', { skipProcessQuotes: true });

function resolveSources(source: CopySource, src: string, loc: Loc): { name: string; node: Node }[] {
  const escape = source.confined ? 'error' : 'clamp';
  try {
    if (source.confined) splitConfined(src, 'COPY source');
    const paths = hasWildcards(src) ? glob(source.tree, src, escape) : [src];
    const out: { name: string; node: Node }[] = [];
    for (const p of paths) {
      const r = resolvePath(source.tree, `/${p}`, { followFinal: true, escape });
      if (r.node === undefined) {
        if (hasWildcards(src)) continue;
        throw new BuildStepError('COPY_SOURCE_NOT_FOUND', `${source.describe}: "/${p.replace(/^\/+/, '')}": not found`, { location: loc, source: src });
      }
      out.push({ name: p.split('/').filter((c) => c !== '' && c !== '.').pop() ?? '', node: r.node });
    }
    return out;
  } catch (cause) {
    if (cause instanceof VfsError) {
      const code = cause.code === 'PATH_OUTSIDE_ROOT' ? 'COPY_SOURCE_OUTSIDE_CONTEXT' : 'COPY_SOURCE_INVALID';
      throw new BuildStepError(code, `${source.describe}: ${src}: ${cause.message}`, { location: loc, source: src, cause });
    }
    throw cause;
  }
}

/**
 * A file, symlink or other non-directory lands at `dest` itself, or inside it
 * when it is (or must be) a directory. As fsutil's Copy: the destination is
 * resolved through symlinks, its final component included (fs.RootPath);
 * an entry inside a directory replaces what is there unless that is a directory.
 */
function placeLeaf(tree: DirNode, dest: string, intoDir: boolean, name: string, node: Node, dirMeta: Meta): DirNode {
  const existing = resolvePath(tree, dest, { followFinal: true });
  if (intoDir || existing.node?.kind === 'dir') {
    const made = mkdirAll(tree, dest, dirMeta);
    const at = [...made.path, name];
    if (getNode(made.root, at)?.kind === 'dir') throw new VfsError('NOT_A_DIRECTORY', `cannot replace to directory /${at.join('/')} with file`);
    return setNode(made.root, at, node);
  }
  const made = mkdirAll(tree, `/${existing.path.slice(0, -1).join('/')}`, dirMeta);
  return setNode(made.root, [...made.path, existing.path[existing.path.length - 1]!], node);
}

/**
 * A directory source: its contents go into `dest` (created when missing,
 * with `dirMeta`), and `dest` takes the source directory's mtime, as fsutil
 * restores it after the copy; its mode and owner stay.
 */
function copyDirContents(tree: DirNode, dest: string, src: DirNode, dirMeta: Meta): DirNode {
  const made = mkdirAll(tree, dest, dirMeta);
  const merged = mergeChildren(made.root, made.path, src);
  const top = getNode(merged, made.path) as DirNode;
  return setNode(merged, made.path, { ...top, meta: { ...top.meta, mtime: src.meta.mtime } });
}

/**
 * Copies a directory's children into the directory at `at`: sub-directories
 * merge (taking the source's metadata), other entries replace what is there.
 * As fsutil, a directory never replaces a non-directory nor the reverse.
 */
function mergeChildren(tree: DirNode, at: string[], src: DirNode): DirNode {
  for (const [name, child] of src.children) {
    const path = [...at, name];
    const existing = getNode(tree, path);
    if (child.kind === 'dir' && existing !== undefined && existing.kind !== 'dir') {
      throw new VfsError('NOT_A_DIRECTORY', `cannot copy to non-directory: /${path.join('/')}`);
    }
    if (child.kind !== 'dir' && existing?.kind === 'dir') throw new VfsError('NOT_A_DIRECTORY', `cannot replace to directory /${path.join('/')} with file`);
    if (child.kind === 'dir' && existing?.kind === 'dir') {
      tree = setNode(tree, path, { kind: 'dir', meta: child.meta, children: existing.children });
      tree = mergeChildren(tree, path, child);
    } else {
      tree = setNode(tree, path, child);
    }
  }
  return tree;
}

/** The node with the copy's owner (when `--chown` is given) and mode (when `--chmod` is) applied throughout. */
function restamp(node: Node, owner: Owner | undefined, chmod: ChmodSpec | undefined): Node {
  const mode = chmod !== undefined && node.kind !== 'symlink' ? applyChmod(chmod, node.meta.mode, node.kind === 'dir') : node.meta.mode;
  const meta: Meta = { ...node.meta, ...(owner ?? {}), mode };
  if (node.kind !== 'dir') return { ...node, meta };
  const children = new Map<string, Node>();
  for (const [k, v] of node.children) children.set(k, restamp(v, owner, chmod));
  return { kind: 'dir', meta, children };
}
