/**
 * `RUN --mount=type=cache` folders under `$KILN_HOME/cache-mounts`, shared
 * between the RUN steps of one build as BuildKit's `sharing=` says, now
 * that independent stages run at the same time:
 *
 * - `shared`: every RUN uses the one folder, at once;
 * - `locked`: one RUN at a time; the others wait their turn (in order);
 * - `private`: the folder when nobody else uses it, else a fresh folder of
 *   its own (same owner and mode), removed afterwards.
 */
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export interface CacheMountSpec {
  id: string;
  sharing: 'shared' | 'private' | 'locked';
  uid: number;
  gid: number;
  mode: number;
}

/** A folder lent to one RUN; `release` when the RUN is over. */
export interface CacheMountLease {
  dir: string;
  release(): void;
}

export class CacheMounts {
  readonly #root: string;
  readonly #users = new Map<string, number>();
  readonly #turns = new Map<string, Promise<void>>();

  constructor(home: string) {
    this.#root = join(home, 'cache-mounts');
  }

  /** The folder for `spec`, made on first use; waits for its turn when locked. */
  async lease(spec: CacheMountSpec): Promise<CacheMountLease> {
    const dir = join(this.#root, createHash('sha256').update(spec.id).digest('hex').slice(0, 32));
    if (!existsSync(dir)) prepare(dir, spec);
    let unlock = (): void => {};
    if (spec.sharing === 'locked') {
      const before = this.#turns.get(dir) ?? Promise.resolve();
      const mine = new Promise<void>((resolve) => (unlock = resolve));
      this.#turns.set(dir, before.then(() => mine));
      await before;
    }
    if (spec.sharing === 'private' && (this.#users.get(dir) ?? 0) > 0) {
      mkdirSync(this.#root, { recursive: true });
      const own = mkdtempSync(join(this.#root, `private-${process.pid}-`));
      prepare(own, spec);
      return { dir: own, release: () => rmSync(own, { recursive: true, force: true }) };
    }
    this.#users.set(dir, (this.#users.get(dir) ?? 0) + 1);
    let released = false;
    return {
      dir,
      release: () => {
        if (released) return;
        released = true;
        this.#users.set(dir, this.#users.get(dir)! - 1);
        unlock();
      },
    };
  }
}

function prepare(dir: string, spec: CacheMountSpec): void {
  mkdirSync(dir, { recursive: true, mode: spec.mode });
  chmodSync(dir, spec.mode);
  if (process.getuid?.() === 0) chownSync(dir, spec.uid, spec.gid);
}
