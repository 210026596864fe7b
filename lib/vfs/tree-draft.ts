import { VfsError } from './errors.ts';
import type { DirNode, Meta, Node } from './node.ts';

/**
 * A tree being changed by many operations in a row (the entries of one
 * layer). Directories are copied once, on first change, and then changed in
 * place: applying n entries costs O(n · depth), not O(n · directory size)
 * as a persistent setNode per entry would. Untouched subtrees stay shared
 * with the base tree, which is never modified.
 *
 * The draft's directories are visible to no one until {@link finish} hands
 * the root out; the draft must not be used after that.
 */
export class TreeDraft {
  readonly #owned = new WeakSet<DirNode>();
  #root: DirNode;
  #done = false;

  constructor(base: DirNode) {
    this.#root = this.own(base);
  }

  get root(): DirNode {
    return this.#root;
  }

  /**
   * A directory this draft may change: `dir` itself when the draft made it
   * and `meta` is unchanged, else a copy with `meta` (sharing the children
   * map of a directory the draft made, copying that of any other). The
   * caller puts a new copy in place of `dir`.
   */
  own(dir: DirNode, meta: Meta = dir.meta): DirNode {
    this.#live();
    const mine = this.#owned.has(dir);
    if (mine && meta === dir.meta) return dir;
    const copy: DirNode = { kind: 'dir', meta, children: mine ? dir.children : new Map(dir.children) };
    this.#owned.add(copy);
    return copy;
  }

  /** A new empty directory owned by the draft. */
  newDir(meta: Meta): DirNode {
    const d: DirNode = { kind: 'dir', meta, children: new Map() };
    this.#owned.add(d);
    return d;
  }

  /** The children of a directory the draft owns, for changing. */
  children(dir: DirNode): Map<string, Node> {
    if (!this.#owned.has(dir)) throw new VfsError('INTERNAL', 'changing a directory the draft does not own');
    return dir.children as Map<string, Node>;
  }

  /**
   * The owned directory at `comps` (a real path: symlinks are not followed),
   * copying every directory on the way. With `create`, missing directories
   * are made with that metadata; a missing one without it, or a
   * non-directory on the way, gives NOT_A_DIRECTORY.
   */
  dirAt(comps: readonly string[], create?: Meta): DirNode {
    let cur = this.#root;
    for (let i = 0; i < comps.length; i++) {
      const name = comps[i]!;
      const child = cur.children.get(name);
      let next: DirNode;
      if (child === undefined && create !== undefined) {
        next = this.newDir(create);
      } else if (child?.kind === 'dir') {
        next = this.own(child);
        if (next === child) {
          cur = next;
          continue;
        }
      } else {
        throw new VfsError('NOT_A_DIRECTORY', `/${comps.slice(0, i + 1).join('/')} is not a directory`, { path: `/${comps.join('/')}` });
      }
      this.children(cur).set(name, next);
      cur = next;
    }
    return cur;
  }

  /** Ends the draft and returns its root. */
  finish(): DirNode {
    this.#live();
    this.#done = true;
    return this.#root;
  }

  #live(): void {
    if (this.#done) throw new VfsError('INTERNAL', 'a finished tree draft was used');
  }
}
