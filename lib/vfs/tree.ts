import { VfsError } from './errors.ts';
import type { DirNode, Meta, Node } from './node.ts';

const MAX_SYMLINK_HOPS = 40; // Linux's MAXSYMLINKS

/** What to do when a path leaves the root through `..` or an absolute symlink. */
export type EscapePolicy =
  /** Container semantics: `..` stops at `/`, absolute symlinks resolve against the root. */
  | 'clamp'
  /** Build-context semantics: leaving the root is an error (`PATH_OUTSIDE_ROOT`). */
  | 'error';

export interface Resolved {
  /** Components of the real path (symlinks resolved), from the root. */
  path: string[];
  /** The node there, undefined when nothing exists at that path. */
  node: Node | undefined;
}

/** Looks up a path by components without following symlinks. */
export function getNode(root: DirNode, comps: readonly string[]): Node | undefined {
  let node: Node = root;
  for (const c of comps) {
    if (node.kind !== 'dir') return undefined;
    const next: Node | undefined = node.children.get(c);
    if (next === undefined) return undefined;
    node = next;
  }
  return node;
}

/**
 * Resolves `path` inside the tree, following symlinks in every component and
 * in the last one when `followFinal`. Never leaves the tree: see
 * {@link EscapePolicy}. A missing component ends resolution: the result has
 * `node: undefined` and the path as far as it could be resolved plus the
 * rest, cleaned lexically (`..` pops, within the same escape policy).
 * A non-directory in the middle gives `NOT_A_DIRECTORY`.
 */
export function resolvePath(root: DirNode, path: string, opts: { followFinal: boolean; escape?: EscapePolicy }): Resolved {
  const escape = opts.escape ?? 'clamp';
  const outside = (why: string): never => {
    throw new VfsError('PATH_OUTSIDE_ROOT', `path ${JSON.stringify(path)} leaves the root ${why}`, { path });
  };
  const cur: string[] = [];
  const dirs: DirNode[] = [root];
  // The components still to resolve, last first (so each step is a pop), and
  // how many of them are real names (not '' or '.'): resolution stays linear
  // in the length of the path and of the links it follows.
  const stack = path.split('/').reverse();
  let names = stack.reduce((n, x) => (x === '' || x === '.' ? n : n + 1), 0);
  let hops = 0;
  while (stack.length > 0) {
    const p = stack.pop()!;
    if (p === '' || p === '.') continue;
    names--;
    if (p === '..') {
      if (cur.length === 0) {
        if (escape === 'error') outside('through ..');
      } else {
        cur.pop();
        dirs.pop();
      }
      continue;
    }
    const dir = dirs[dirs.length - 1]!;
    const node = dir.children.get(p);
    const last = names === 0;
    if (node === undefined) {
      // Nothing to follow below a missing component: the rest is cleaned lexically (as Go's
      // filepath.Join in BuildKit's fs.RootPath does), so `..` never survives as a name.
      const rest = [...cur, p];
      while (stack.length > 0) {
        const x = stack.pop()!;
        if (x === '' || x === '.') continue;
        if (x !== '..') rest.push(x);
        else if (rest.length > 0) rest.pop();
        else if (escape === 'error') outside('through ..');
      }
      return { path: rest, node: undefined };
    }
    if (node.kind === 'symlink' && (!last || opts.followFinal)) {
      if (++hops > MAX_SYMLINK_HOPS) throw new VfsError('SYMLINK_LOOP', `too many levels of symbolic links in ${JSON.stringify(path)}`, { path });
      if (node.target.startsWith('/')) {
        if (escape === 'error') outside(`through the absolute symlink /${[...cur, p].join('/')} -> ${node.target}`);
        cur.length = 0;
        dirs.length = 1;
      }
      const target = node.target.split('/');
      for (let i = target.length - 1; i >= 0; i--) {
        const t = target[i]!;
        stack.push(t);
        if (t !== '' && t !== '.') names++;
      }
      continue;
    }
    cur.push(p);
    if (last) return { path: cur, node };
    if (node.kind !== 'dir') throw new VfsError('NOT_A_DIRECTORY', `/${cur.join('/')} is not a directory (in ${JSON.stringify(path)})`, { path });
    dirs.push(node);
  }
  return { path: cur, node: dirs[dirs.length - 1] };
}

/**
 * Returns a new root with `node` at `comps` (or the entry removed when `node`
 * is undefined). Every directory on the way must exist; only the directories
 * on the path are copied, everything else is shared.
 */
export function setNode(root: DirNode, comps: readonly string[], node: Node | undefined): DirNode {
  if (comps.length === 0) {
    if (node === undefined || node.kind !== 'dir') throw new VfsError('ROOT_NOT_DIRECTORY', 'the root must stay a directory');
    return node;
  }
  return setIn(root, comps, 0, node);
}

function setIn(dir: DirNode, comps: readonly string[], i: number, node: Node | undefined): DirNode {
  const name = comps[i]!;
  const children = new Map(dir.children);
  if (i === comps.length - 1) {
    if (node === undefined) children.delete(name);
    else children.set(name, node);
  } else {
    const child = dir.children.get(name);
    if (child === undefined || child.kind !== 'dir') {
      throw new VfsError('NOT_A_DIRECTORY', `/${comps.slice(0, i + 1).join('/')} is not a directory`, { path: `/${comps.join('/')}` });
    }
    children.set(name, setIn(child, comps, i + 1, node));
  }
  return { kind: 'dir', meta: dir.meta, children };
}

/**
 * Creates every missing directory of `path` with `meta` (like `mkdir -p`),
 * following symlinks of existing components. Returns the new root and the
 * resolved components of the directory. An existing non-directory on the
 * way gives `NOT_A_DIRECTORY`.
 */
export function mkdirAll(root: DirNode, path: string, meta: Meta, escape: EscapePolicy = 'clamp'): { root: DirNode; path: string[] } {
  let resolved: string[] = [];
  for (const comp of path.split('/')) {
    if (comp === '' || comp === '.') continue;
    const r = resolvePath(root, `/${[...resolved, comp].join('/')}`, { followFinal: true, escape });
    if (r.node === undefined) {
      const parent = r.path.slice(0, -1);
      const parentNode = getNode(root, parent);
      if (parentNode === undefined) {
        // a dangling symlink pointing into a missing directory: create the target's parents first
        const made = mkdirAll(root, `/${parent.join('/')}`, meta, escape);
        root = made.root;
      }
      root = setNode(root, r.path, { kind: 'dir', meta, children: new Map() });
    } else if (r.node.kind !== 'dir') {
      throw new VfsError('NOT_A_DIRECTORY', `cannot create directory ${JSON.stringify(path)}: /${r.path.join('/')} is not a directory`, { path });
    }
    resolved = r.path;
  }
  return { root, path: resolved };
}

/** Calls `visit` for every node below `dir` (pre-order, children in byte order), with paths relative to `dir`. */
export function walk(dir: DirNode, visit: (path: string[], node: Node) => void, prefix: string[] = []): void {
  for (const name of [...dir.children.keys()].sort(compareNames)) {
    const child = dir.children.get(name)!;
    const p = [...prefix, name];
    visit(p, child);
    if (child.kind === 'dir') walk(child, visit, p);
  }
}

/** Byte-order comparison of two names (UTF-8), the order of tar entries. */
export function compareNames(a: string, b: string): number {
  return a === b ? 0 : Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
