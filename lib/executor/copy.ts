import type { AddInstruction, CopyInstruction } from '../dockerfile/index.ts';
import {
  type DirNode, type Meta, type Node, glob, hasWildcards, joinPath, mkdirAll, resolvePath, setNode, splitConfined, VfsError,
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
 * destination is a directory when it ends in `/` or there are several
 * sources, a relative destination is relative to WORKDIR, missing parents are
 * created 0755, files keep their mode and mtime and get the `--chown` owner
 * (default 0:0) and `--chmod` mode. Heredoc sources become 0644 files.
 */
export async function copy(state: StageState, ins: CopyInstruction | AddInstruction, source: CopySource, opts: ExecOptions, loc: Loc): Promise<StageState> {
  const vars = expansionEnv(state);
  const x = (w: string) => opts.expander.word(w, vars);
  const sources = ins.sources.map(x);
  const rawDest = x(ins.dest);
  const chown = ins.chown !== undefined ? x(ins.chown) : undefined;
  const chmod = ins.chmod !== undefined ? parseChmod(x(ins.chmod), loc) : undefined;
  const owner: Owner = chown !== undefined ? resolveOwner(state.tree, chown, loc) : { uid: 0, gid: 0 };
  const workdir = runConfig(state).WorkingDir || '/';
  const dest = joinPath(workdir, rawDest);
  const destIsDir = rawDest === '' || rawDest === '.' || rawDest.endsWith('/') || rawDest.endsWith('/.') || sources.length + ins.heredocs.length > 1;
  const dirMeta: Meta = { mode: 0o755, uid: owner.uid, gid: owner.gid, mtime: createdMtime(opts) };

  const items: { name: string; node: Node }[] = [];
  for (const src of sources) items.push(...resolveSources(source, src, loc));
  for (const h of ins.heredocs) {
    const text = h.expand ? x(h.content) : h.content;
    const data = Buffer.from(h.chomp ? text.replace(/^\t+/gm, '') : text, 'utf8');
    items.push({ name: h.name, node: { kind: 'file', meta: { mode: 0o644, uid: 0, gid: 0, mtime: createdMtime(opts) }, size: data.length, content: { kind: 'bytes', data } } });
  }
  let tree = state.tree;
  const multi = destIsDir || items.length > 1;
  try {
    for (const item of items) {
      const node = restamp(item.node, owner, chmod);
      if (node.kind === 'dir') {
        const made = mkdirAll(tree, dest, dirMeta);
        tree = mergeChildren(made.root, made.path, node);
      } else {
        tree = placeLeaf(tree, dest, multi, item.name, node, dirMeta);
      }
    }
  } catch (cause) {
    if (cause instanceof VfsError) throw new BuildStepError('COPY_DEST_INVALID', `cannot copy to ${rawDest}: ${cause.message}`, { location: loc, cause });
    throw cause;
  }
  const flags = [ins.parents ? '--parents' : '', chown !== undefined ? `--chown=${chown}` : '', ins.chmod !== undefined ? `--chmod=${x(ins.chmod)}` : ''].filter((f) => f !== '');
  const createdBy = [ins.kind, ...flags, ...sources, ...ins.heredocs.map((h) => `<<${h.name}`), rawDest].join(' ');
  return commitLayer(state, tree, `${createdBy} # buildkit`, opts);
}

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

/** A file, symlink or other non-directory lands at `dest` itself, or inside it when it is (or must be) a directory. */
function placeLeaf(tree: DirNode, dest: string, intoDir: boolean, name: string, node: Node, dirMeta: Meta): DirNode {
  const existing = resolvePath(tree, dest, { followFinal: true }).node;
  if (intoDir || existing?.kind === 'dir') {
    const made = mkdirAll(tree, dest, dirMeta);
    return setNode(made.root, [...made.path, name], node);
  }
  const slash = dest.lastIndexOf('/');
  const made = mkdirAll(tree, dest.slice(0, slash) || '/', dirMeta);
  const r = resolvePath(made.root, `/${[...made.path, dest.slice(slash + 1)].join('/')}`, { followFinal: false });
  return setNode(made.root, r.path, node);
}

/** Copies a directory's children into the directory at `at`; sub-directories merge, everything else replaces. */
function mergeChildren(tree: DirNode, at: string[], src: DirNode): DirNode {
  for (const [name, child] of src.children) {
    const path = [...at, name];
    const existing = resolvePath(tree, `/${path.join('/')}`, { followFinal: false }).node;
    if (child.kind === 'dir' && existing?.kind === 'dir') {
      tree = setNode(tree, path, { kind: 'dir', meta: child.meta, children: existing.children });
      tree = mergeChildren(tree, path, child);
    } else {
      tree = setNode(tree, path, child);
    }
  }
  return tree;
}

/** The node with the copy's owner and (when given) mode applied throughout. */
function restamp(node: Node, owner: Owner, chmod: number | undefined): Node {
  const meta: Meta = { ...node.meta, uid: owner.uid, gid: owner.gid, ...(chmod !== undefined && node.kind !== 'symlink' ? { mode: chmod } : {}) };
  if (node.kind !== 'dir') return { ...node, meta };
  const children = new Map<string, Node>();
  for (const [k, v] of node.children) children.set(k, restamp(v, owner, chmod));
  return { kind: 'dir', meta, children };
}

function parseChmod(s: string, loc: Loc): number {
  if (!/^[0-7]{1,4}$/.test(s)) {
    throw new BuildStepError('CHMOD_INVALID', `invalid chmod parameter: '${s}'. it should be octal string and between 0 and 07777`, { location: loc });
  }
  return parseInt(s, 8);
}
