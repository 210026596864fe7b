import { IgnoreMatcher } from '../dockerfile/index.ts';
import { cleanPath, type DirNode, getNode, glob, hasWildcards, type LeafNode, LinkGroup, type Node, resolvePath, splitConfined, VfsError } from '../vfs/index.ts';
import { BuildStepError } from './errors.ts';

type Loc = { file: string; line: number };

/** Where COPY/ADD read from: the build context (confined: leaving it is an error) or another tree. */
export interface CopySource {
  readonly tree: DirNode;
  readonly confined: boolean;
  readonly describe: string;
}

/** One thing to copy: a file (or link, device…) named `name`, or a directory whose contents are copied. */
export interface SourceItem {
  readonly name: string;
  readonly node: Node;
}

export interface LocalOptions {
  /** `COPY --parents`: keep each source's path below the context root or the `/./` pivot. */
  readonly parents: boolean;
  /** `--exclude` patterns (`.dockerignore` syntax), matched below each source. */
  readonly exclude: IgnoreMatcher | undefined;
}

/**
 * The items one source word names in `source`, as BuildKit's file op copies
 * them (fsutil's Copy with FollowSymlinks, CopyDirContents and
 * AllowEmptyWildcard):
 *
 * - Wildcards (Go filepath.Match syntax) may match nothing; a literal path
 *   that does not exist is COPY_SOURCE_NOT_FOUND. Symlinks named in the path
 *   are followed (confined to the source); the item keeps the name written.
 * - `--exclude` patterns are matched against paths relative to each source,
 *   so they filter inside directory sources and never remove a source itself
 *   (BuildKit's code; its docs say a wildcard match is excluded too,
 *   moby/buildkit#5489).
 * - `--parents` (convert_copy.go): `base/./pattern` copies the contents of
 *   `base` (wildcards allowed) keeping only paths that `pattern` matches
 *   (`.dockerignore` syntax with `**`), with their parent directories;
 *   without a `/./` pivot the base is the source root. A pattern without
 *   wildcards must match something (COPY_SOURCE_NOT_FOUND).
 * - Hard links inside one item stay linked to each other, never to the
 *   source tree or to other items (each item gets fresh link groups).
 */
export function resolveLocal(source: CopySource, src: string, opts: LocalOptions, loc: Loc): SourceItem[] {
  try {
    if (source.confined) splitConfined(src, 'COPY source');
    return opts.parents ? parentsItems(source, src, opts.exclude, loc) : plainItems(source, src, opts.exclude, loc);
  } catch (cause) {
    if (cause instanceof VfsError) {
      const code = cause.code === 'PATH_OUTSIDE_ROOT' ? 'COPY_SOURCE_OUTSIDE_CONTEXT' : 'COPY_SOURCE_INVALID';
      throw new BuildStepError(code, `${source.describe}: ${src}: ${cause.message}`, { location: loc, source: src, cause });
    }
    throw cause;
  }
}

function plainItems(source: CopySource, src: string, exclude: IgnoreMatcher | undefined, loc: Loc): SourceItem[] {
  const out: SourceItem[] = [];
  for (const { path, node } of matches(source, src, loc)) {
    const filtered = node.kind === 'dir' && exclude !== undefined ? filterDir(node, { exclude }, '') : node;
    out.push({ name: path.split('/').filter((c) => c !== '' && c !== '.').pop() ?? '', node: relink(filtered) });
  }
  return out;
}

function parentsItems(source: CopySource, src: string, exclude: IgnoreMatcher | undefined, loc: Loc): SourceItem[] {
  const cut = src.indexOf('/./');
  const base = cut < 0 ? '/' : src.slice(0, cut);
  const pattern = cleanPath(cut < 0 ? src : src.slice(cut + 3)).slice(1);
  const include = pattern === '' ? undefined : new IgnoreMatcher([pattern]);
  const required = hasWildcards(base) || hasWildcards(pattern) ? undefined : pattern.split('/').filter((c) => c !== '');
  const out: SourceItem[] = [];
  for (const { path, node } of matches(source, base, loc)) {
    const filtered = node.kind === 'dir' ? filterDir(node, { include, exclude }, '') : node;
    if (required !== undefined && required.length > 0 && (filtered.kind !== 'dir' || getNode(filtered, required) === undefined)) {
      throw notFound(source, `${base}/${pattern}`, src, loc);
    }
    out.push({ name: path.split('/').filter((c) => c !== '' && c !== '.').pop() ?? '', node: relink(filtered) });
  }
  return out;
}

/** The nodes a (possibly wildcard) path names, symlinks along it followed. */
function matches(source: CopySource, src: string, loc: Loc): { path: string; node: Node }[] {
  const escape = source.confined ? 'error' : 'clamp';
  const wild = hasWildcards(src);
  const paths = wild ? glob(source.tree, src, escape) : [src];
  const out: { path: string; node: Node }[] = [];
  for (const p of paths) {
    const r = resolvePath(source.tree, `/${p}`, { followFinal: true, escape });
    if (r.node !== undefined) out.push({ path: p, node: r.node });
    else if (!wild) throw notFound(source, p, src, loc);
  }
  return out;
}

function notFound(source: CopySource, path: string, src: string, loc: Loc): BuildStepError {
  return new BuildStepError('COPY_SOURCE_NOT_FOUND', `${source.describe}: "${cleanPath(path)}": not found`, { location: loc, source: src });
}

interface Filter {
  readonly include?: IgnoreMatcher | undefined;
  readonly exclude?: IgnoreMatcher | undefined;
}

/**
 * The directory with only the entries `f` keeps, as fsutil's copier walks
 * it: a path is kept when the include pattern matches it or a parent (or
 * there is none) and no exclude pattern does; a directory that is not kept
 * itself is still entered (for include patterns like `a/*\/c`, or excludes
 * with `!` exceptions) and appears only when something below it is kept,
 * with its own metadata. Subtrees that are kept whole are shared, not copied.
 */
function filterDir(dir: DirNode, f: Filter, prefix: string): DirNode {
  const children = new Map<string, Node>();
  for (const [name, child] of dir.children) {
    const path = prefix === '' ? name : `${prefix}/${name}`;
    const excluded = f.exclude?.matches(path) ?? false;
    const included = !excluded && (f.include?.matches(path) ?? true);
    if (child.kind !== 'dir') {
      if (included) children.set(name, child);
      continue;
    }
    if (excluded && !f.exclude!.hasExceptions) continue;
    // A matched include pattern matches every path below too: only excludes can still drop something.
    if (included && f.exclude === undefined && !(f.include?.hasExceptions ?? false)) {
      children.set(name, child);
      continue;
    }
    const below = filterDir(child, f, path);
    if (included || below.children.size > 0) children.set(name, below);
  }
  return { kind: 'dir', meta: dir.meta, children };
}

/**
 * The item with fresh link groups: nodes that shared a group inside it share
 * a new one; a node that is the only one of its group left in the item
 * loses it. Returns `node` itself when it holds no links.
 */
function relink(node: Node): Node {
  if (node.kind !== 'dir') return node.link === undefined ? node : unlinked(node);
  const counts = new Map<LinkGroup, number>();
  countLinks(node, counts);
  if (counts.size === 0) return node;
  const fresh = new Map<LinkGroup, LeafNode>();
  const redo = (n: Node): Node => {
    if (n.kind === 'dir') {
      let changed = false;
      const children = new Map<string, Node>();
      for (const [k, v] of n.children) {
        const r = redo(v);
        changed ||= r !== v;
        children.set(k, r);
      }
      return changed ? { kind: 'dir', meta: n.meta, children } : n;
    }
    if (n.link === undefined) return n;
    if ((counts.get(n.link) ?? 0) < 2) return unlinked(n);
    let made = fresh.get(n.link);
    if (made === undefined) {
      made = { ...n, link: new LinkGroup() };
      fresh.set(n.link, made);
    }
    return made;
  };
  return redo(node);
}

function countLinks(dir: DirNode, counts: Map<LinkGroup, number>): void {
  for (const child of dir.children.values()) {
    if (child.kind === 'dir') countLinks(child, counts);
    else if (child.link !== undefined) counts.set(child.link, (counts.get(child.link) ?? 0) + 1);
  }
}

function unlinked(node: LeafNode): LeafNode {
  const { link: _, ...rest } = node;
  return rest as LeafNode;
}
