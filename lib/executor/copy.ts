import { type AddInstruction, type ChmodSpec, type CopyInstruction, type Heredoc, IgnoreMatcher, parseChmod, ShellLexer } from '../dockerfile/index.ts';
import { type DecompressTools, type DirNode, emptyDir, joinPath, type Meta, type Node, VfsError } from '../vfs/index.ts';
import { commitLayer } from './commit.ts';
import { isArchive, unpackArchive } from './copy-archive.ts';
import { copyDirContents, overlayTree, placeLeaf, restamp } from './copy-place.ts';
import { type CopySource, resolveLocal, type SourceItem } from './copy-sources.ts';
import { download, parseChecksum, sourceKind, urlFileName } from './copy-url.ts';
import { BuildStepError } from './errors.ts';
import { type HttpFetcher, nodeHttpFetch } from './http-fetch.ts';
import { createdMtime, type ExecOptions, expansionEnv, runConfig, type StageState } from './stage-state.ts';
import { type Owner, resolveOwner } from './users.ts';

export type { CopySource } from './copy-sources.ts';

/** Where a COPY reads: a source, or one made for the sources it names (after expansion) — an image's layers are read only as far as they need. */
export type CopyFrom = CopySource | ((sources: readonly string[]) => Promise<CopySource>);

type Loc = { file: string; line: number };

/** What COPY/ADD need beyond ExecOptions; every field has a default. */
export interface CopyOptions extends ExecOptions {
  /** Downloads `ADD <url>` sources (default: {@link nodeHttpFetch}). */
  readonly fetch?: HttpFetcher;
  /** Cancels downloads. */
  readonly signal?: AbortSignal;
  /** External bzip2/xz/zstd decompressors for ADD of local archives (default: the system's `bzip2 -dc`, `xz -dc`, `zstd -dc`). */
  readonly decompressTools?: DecompressTools;
}

/** One COPY/ADD with its words expanded and its flags checked. */
interface Request {
  readonly sources: string[];
  readonly rawDest: string;
  readonly dest: string;
  readonly destIsDir: boolean;
  readonly chown: string | undefined;
  readonly chmodText: string | undefined;
  readonly chmod: ChmodSpec | undefined;
  readonly owner: Owner | undefined;
  /** `--link` in effect: BuildKit ignores it when `--chmod` is given (convert_copy.go). */
  readonly link: boolean;
  readonly exclude: IgnoreMatcher | undefined;
  readonly checksum: { algorithm: string; hex: string } | undefined;
  /** Directories the copy creates: 0755 (or an octal `--chmod`), the `--chown` owner. */
  readonly dirMeta: Meta;
}

/** A thing to copy, and whether ADD may unpack it (local sources, or URLs with `--unpack=true`). */
type Item = SourceItem & { readonly unpack: boolean };

/**
 * COPY and ADD, with BuildKit's semantics (dockerfile2llb/convert_copy.go
 * and fsutil's Copy): sources are paths or Go-style wildcards in `source`
 * (see {@link resolveLocal}: `--parents`, `--exclude`), ADD's http(s) URLs
 * (downloaded: 0600, mtime from Last-Modified, `--checksum` verified, not
 * unpacked unless `--unpack=true`) and heredocs (0644 files). A directory
 * source copies its contents; the destination is a directory when it ends in
 * `/` or `/.`, exists as one, or there are several sources (kiln's reading:
 * BuildKit then overwrites one file with the next, moby/buildkit#1853); a
 * relative destination is relative to WORKDIR; missing directories are
 * created 0755 (an octal `--chmod` mode; a symbolic one leaves them 0755, as
 * fsutil) with the `--chown` owner (else 0:0); entries keep their mode and
 * mtime and take the `--chown` owner and `--chmod` mode when given. ADD
 * unpacks local tar archives (gzip, bzip2, xz, zstd or plain, told from the
 * bytes) unless `--unpack=false`.
 *
 * `--link` (without `--chmod`): the copy is made onto an empty tree, which
 * becomes the layer as it is (the copied entries and their parent
 * directories) and is laid over the stage as a layer is applied, so
 * destination symlinks are not followed and existing directories take the
 * created ones' metadata. `--chown` by name is then refused (BuildKit
 * cannot read the stage's /etc/passwd either: "invalid user index: -1").
 */
export async function copy(state: StageState, ins: CopyInstruction | AddInstruction, from: CopyFrom, opts: CopyOptions, loc: Loc): Promise<StageState> {
  const vars = expansionEnv(state);
  const req = request(state, ins, vars, opts, loc);
  const source = typeof from === 'function' ? await from(req.sources) : from;
  const items: Item[] = [];
  for (const src of req.sources) items.push(...(await sourceItems(ins, req, src, source, opts, loc)));
  for (const h of ins.heredocs) items.push({ name: h.name, node: heredocFile(h, vars, opts), unpack: false });
  const tree = await place(req.link ? emptyDir() : state.tree, items, req, opts, loc);
  const flags = [ins.parents ? '--parents' : '', req.chown !== undefined ? `--chown=${req.chown}` : '', req.chmodText !== undefined ? `--chmod=${req.chmodText}` : ''];
  const createdBy = [ins.kind, ...flags.filter((f) => f !== ''), ...req.sources, ...ins.heredocs.map((h) => `<<${h.name}`), req.rawDest].join(' ');
  if (!req.link) return commitLayer(state, tree, `${createdBy} # buildkit`, opts);
  // The layer is the copy onto nothing; the stage sees it merged over its files.
  const committed = await commitLayer({ ...state, tree: emptyDir() }, tree, `${createdBy} # buildkit`, opts);
  return { ...committed, tree: overlayTree(state.tree, tree) };
}

function request(state: StageState, ins: CopyInstruction | AddInstruction, vars: ReadonlyMap<string, string>, opts: ExecOptions, loc: Loc): Request {
  const x = (w: string) => opts.expander.word(w, vars);
  const sources = ins.sources.map(x);
  const rawDest = x(ins.dest);
  // As BuildKit: a flag that expands to nothing is no flag.
  const chown = ins.chown !== undefined ? x(ins.chown) || undefined : undefined;
  const chmodText = ins.chmod !== undefined ? x(ins.chmod) || undefined : undefined;
  const chmod = chmodText !== undefined ? parseChmod(chmodText, loc) : undefined;
  const link = ins.link && chmod === undefined;
  if (link && chown !== undefined && namesUser(chown)) {
    throw new BuildStepError('COPY_LINK_CHOWN_NAME', `${ins.kind} --link --chown=${chown}: with --link the copy cannot read the stage's /etc/passwd or /etc/group; use numeric ids`, {
      location: loc,
    });
  }
  const owner = chown !== undefined ? resolveOwner(state.tree, chown, loc) : undefined;
  const checksumText = ins.kind === 'ADD' && ins.checksum !== undefined ? x(ins.checksum) || undefined : undefined;
  const dest = joinPath(runConfig(state).WorkingDir || '/', rawDest);
  const destIsDir = rawDest === '' || rawDest === '.' || rawDest.endsWith('/') || rawDest.endsWith('/.') || sources.length + ins.heredocs.length > 1;
  const dirMode = chmod?.kind === 'octal' ? chmod.mode : 0o755;
  return {
    sources,
    rawDest,
    dest,
    destIsDir,
    chown,
    chmodText,
    chmod,
    owner,
    link,
    exclude: excludeMatcher(ins.exclude, loc),
    checksum: checksumText !== undefined ? checkedChecksum(checksumText, sources, loc) : undefined,
    dirMeta: { mode: dirMode, uid: owner?.uid ?? 0, gid: owner?.gid ?? 0, mtime: createdMtime(opts) },
  };
}

/** llb.WithUser: `root` and decimal numbers are ids; anything else in either part is a name. */
function namesUser(chown: string): boolean {
  return chown.split(':', 2).some((part) => part !== 'root' && !/^\d+$/.test(part));
}

function excludeMatcher(patterns: readonly string[], loc: Loc): IgnoreMatcher | undefined {
  if (patterns.length === 0) return undefined;
  try {
    return new IgnoreMatcher(patterns);
  } catch (cause) {
    throw new BuildStepError('COPY_EXCLUDE_INVALID', `invalid --exclude pattern: ${(cause as Error).message}`, { location: loc, cause });
  }
}

/** `--checksum`: ADD of exactly one URL (or git) source, in go-digest syntax (convert_copy.go's checks, in its order). */
function checkedChecksum(text: string, sources: readonly string[], loc: Loc): { algorithm: string; hex: string } {
  if (sources.length !== 1) throw new BuildStepError('ADD_CHECKSUM_INVALID', "checksum can't be specified for multiple sources", { location: loc });
  if (sourceKind(sources[0]!) === 'local') throw new BuildStepError('ADD_CHECKSUM_INVALID', 'checksum requires HTTP(S) or Git sources', { location: loc });
  return parseChecksum(text, loc);
}

async function sourceItems(ins: CopyInstruction | AddInstruction, req: Request, src: string, source: CopySource, opts: CopyOptions, loc: Loc): Promise<Item[]> {
  const kind = ins.kind === 'COPY' && ins.from !== undefined ? 'local' : sourceKind(src);
  switch (kind) {
    case 'git':
      if (ins.kind === 'COPY') throw new BuildStepError('COPY_SOURCE_INVALID', `source can't be a git ref for COPY: ${src}`, { location: loc, source: src });
      throw new BuildStepError('ADD_GIT_UNSUPPORTED', `ADD from a git repository is not supported: ${src}`, { location: loc, source: src });
    case 'http': {
      if (ins.kind === 'COPY') throw new BuildStepError('COPY_SOURCE_INVALID', `source can't be a URL for COPY: ${src}`, { location: loc, source: src });
      const fetch = opts.fetch ?? nodeHttpFetch;
      const node = await download(src, { fetch, spill: opts.spill, ...(req.checksum ? { checksum: req.checksum } : {}), ...(opts.signal ? { signal: opts.signal } : {}) }, loc);
      return [{ name: urlFileName(src), node, unpack: ins.unpack === true }];
    }
    case 'local': {
      const unpack = ins.kind === 'ADD' && ins.unpack !== false;
      return resolveLocal(source, src, { parents: ins.parents, exclude: req.exclude }, loc).map((item) => ({ ...item, unpack }));
    }
  }
}

/** Puts every item into `tree` at the destination; a destination that cannot hold it is COPY_DEST_INVALID. */
async function place(tree: DirNode, items: readonly Item[], req: Request, opts: CopyOptions, loc: Loc): Promise<DirNode> {
  const intoDir = req.destIsDir || items.length > 1;
  try {
    for (const item of items) {
      if (item.unpack && item.node.kind === 'file' && (await isArchive(item.node, opts.decompressTools, loc))) {
        tree = await unpackArchive(tree, req.dest, item.node, { owner: req.owner, mtime: req.dirMeta.mtime, spill: opts.spill, tools: opts.decompressTools }, loc);
        continue;
      }
      const node = restamp(item.node, req.owner, req.chmod);
      tree = node.kind === 'dir' ? copyDirContents(tree, req.dest, node, req.dirMeta) : placeLeaf(tree, req.dest, intoDir, item.name, node, req.dirMeta);
    }
  } catch (cause) {
    if (cause instanceof VfsError) throw new BuildStepError('COPY_DEST_INVALID', `cannot copy to ${req.rawDest}: ${cause.message}`, { location: loc, cause });
    throw cause;
  }
  return tree;
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

