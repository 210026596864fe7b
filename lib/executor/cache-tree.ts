import type { DirNode } from '../vfs/index.ts';

/**
 * A stage's filesystem that is only built when something needs it. A build
 * whose steps all come from the cache never needs the filesystem of its
 * stages: it only chains keys and appends cached layers. When a later step
 * misses (or an output, a `COPY --from` or a `RUN --mount` needs the files),
 * {@link get} builds the tree once — the base image's layers applied, then
 * each cached step redone on it (its layer applied, or the copy replayed) —
 * and every later caller shares the result.
 */
export class LazyTree {
  #make: (() => Promise<DirNode>) | undefined;
  #tree: Promise<DirNode> | undefined;

  private constructor(make: (() => Promise<DirNode>) | undefined, tree: Promise<DirNode> | undefined) {
    this.#make = make;
    this.#tree = tree;
  }

  /** A tree that is already there. */
  static of(tree: DirNode): LazyTree {
    return new LazyTree(undefined, Promise.resolve(tree));
  }

  /** A tree made by `make` on the first {@link get} (once, whatever the number of callers). */
  static from(make: () => Promise<DirNode>): LazyTree {
    return new LazyTree(make, undefined);
  }

  /** The tree after `step`, which runs on this tree when the result is first needed. */
  then(step: (tree: DirNode) => Promise<DirNode>): LazyTree {
    return LazyTree.from(async () => step(await this.get()));
  }

  /** True once the tree has been asked for (or was given): getting it costs nothing more. */
  get built(): boolean {
    return this.#tree !== undefined;
  }

  /** The tree, made now if it was not yet. A failure is kept: every caller sees it. */
  get(): Promise<DirNode> {
    if (this.#tree === undefined) {
      const make = this.#make!;
      this.#make = undefined;
      this.#tree = make();
    }
    return this.#tree;
  }
}
