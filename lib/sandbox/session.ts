import { chmodSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultSpillDir, diff, type DirNode, emptyDir, resolvePath, splitPath, type SpillDir } from '../vfs/index.ts';
import { captureTree, type InodeRecord } from './capture.ts';
import { SandboxError } from './errors.ts';
import { type BackendChoice, probeSandbox, type SandboxInfo } from './probe.ts';
import { runInRootfs } from './run.ts';
import { applyChanges } from './sync.ts';
import type { RunOptions, RunResult, RunSpec, RunUser } from './types.ts';

export interface SessionOptions {
  /** Parent of the session's temporary directory (default: the OS temp directory). */
  dir?: string;
  /** Where captured file contents are copied (default: vfs's process-wide spill directory). */
  spill?: SpillDir;
  /** Force a backend (default `auto`, see probeSandbox). */
  backend?: BackendChoice;
}

/** Longest wait for the filesystem's ctime clock to tick past the last write. */
const FENCE_TIMEOUT_MS = 2500;

/**
 * A stage's rootfs on disk, kept across the consecutive RUN steps of the
 * stage. Created from a tree (written once: modes, owners when privileged,
 * mtimes, hard links, devices, xattrs with setfattr); {@link syncTo} applies
 * only the difference when the tree changed between RUNs (COPY, ADD…);
 * {@link run} executes one command in it; {@link capture} reads the changes
 * back into a tree. The session tracks what it wrote and read (inode and
 * ctime per path), so a capture reads only what a command touched.
 *
 * Lifetime: the captured tree's new contents live in the spill directory
 * (the caller's, or vfs's default one), not in the rootfs: trees stay valid
 * after {@link dispose}, which removes the rootfs. Not safe for concurrent
 * use: one call at a time.
 */
export class RootfsSession {
  /** The rootfs directory on the host. */
  readonly root: string;
  readonly info: SandboxInfo;
  readonly #base: string;
  readonly #spill: SpillDir;
  #tree: DirNode;
  #records = new Map<string, InodeRecord>();
  /** The rootfs may differ from #tree: a command ran since the last capture. */
  #dirty = false;
  #trustCtime = true;
  #lastUser: RunUser = { uid: 0, gid: 0, additionalGids: [0] };
  /** Directories kiln made for the last run (its WORKDIR), owned by root whatever the id mapping. */
  #madeByKiln = new Set<string>();
  #runs = 0;
  #busy = false;
  #disposed = false;

  private constructor(base: string, info: SandboxInfo, spill: SpillDir) {
    this.#base = base;
    this.root = join(base, 'rootfs');
    this.info = info;
    this.#spill = spill;
    this.#tree = emptyDir();
  }

  /** Chooses the backend (SANDBOX_UNAVAILABLE when there is none) and writes `tree` into a new rootfs. */
  static async create(tree: DirNode, opts: SessionOptions = {}): Promise<RootfsSession> {
    const info = probeSandbox(opts.backend ?? 'auto');
    const base = mkdtempSync(join(opts.dir ?? tmpdir(), `kiln-rootfs-${process.pid}-`));
    const s = new RootfsSession(base, info, opts.spill ?? defaultSpillDir());
    try {
      mkdirSync(s.root, { mode: 0o700 });
      s.#write(tree);
    } catch (err) {
      s.dispose();
      throw err;
    }
    return s;
  }

  /** The tree the rootfs holds as of the last sync or capture. */
  get tree(): DirNode {
    return this.#tree;
  }

  /** Makes the rootfs hold `tree`, writing only what differs from what it holds now. */
  async syncTo(tree: DirNode): Promise<void> {
    this.#enter();
    try {
      if (this.#dirty) this.#rescan();
      this.#write(tree);
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Runs one command in the rootfs (see RunSpec). A non-zero exit is
   * RUN_FAILED (unless `check: false`), a killed sandbox RUN_SIGNALED.
   * Afterwards the rootfs holds the command's changes until {@link capture}
   * (or the next sync, which rescans first).
   */
  async run(spec: RunSpec, opts: RunOptions = {}): Promise<RunResult> {
    this.#enter();
    try {
      if (this.#dirty) this.#rescan();
      const runDir = join(this.#base, `run-${++this.#runs}`);
      mkdirSync(runDir, { mode: 0o700 });
      this.#ensureCwd(spec.cwd);
      this.#dirty = true;
      this.#lastUser = spec.user;
      try {
        return await runInRootfs({ root: this.root, tree: this.#tree, info: this.info, runDir, fence: () => this.#fence() }, spec, opts);
      } finally {
        forceRemove(runDir);
      }
    } finally {
      this.#busy = false;
    }
  }

  /**
   * The tree the rootfs holds now, relative to the last one: untouched
   * paths keep their nodes (diff skips them by reference), new and changed
   * file contents are copied into the spill directory. Without a run since
   * the last capture or sync, returns that tree.
   */
  async capture(): Promise<DirNode> {
    this.#enter();
    try {
      if (this.#dirty) this.#scan('spill');
      return this.#tree;
    } finally {
      this.#busy = false;
    }
  }

  /** Removes the rootfs. Trees captured from it stay valid (their contents are in the spill directory). */
  dispose(): void {
    this.#disposed = true;
    forceRemove(this.#base);
  }

  #enter(): void {
    if (this.#disposed) throw new SandboxError('SESSION_DISPOSED', `the rootfs session ${this.root} has been disposed`);
    if (this.#busy) throw new SandboxError('SESSION_BUSY', 'a rootfs session runs one operation at a time');
    this.#busy = true;
  }

  #write(tree: DirNode): void {
    const changes = diff(this.#tree, tree);
    applyChanges(this.root, tree, changes, this.#records, { privileged: this.info.idMapping === 'host', links: new Map() }, this.info.tools.setfattr);
    this.#tree = tree;
  }

  /** What a failed or uncaptured run left, with contents referenced in place (they are about to be overwritten or kept as they are). */
  #rescan(): void {
    this.#scan('in-place');
  }

  #scan(content: 'spill' | 'in-place'): void {
    const out = captureTree({
      root: this.root,
      old: this.#tree,
      records: this.#records,
      trustCtime: this.#trustCtime,
      mapping: this.info.idMapping,
      runUser: this.#lastUser,
      madeByKiln: this.#madeByKiln,
      content,
      spill: this.#spill,
      ...(this.info.tools.getfattr === undefined ? {} : { getfattr: this.info.tools.getfattr }),
    });
    this.#tree = out.tree;
    this.#records = out.records;
    this.#dirty = false;
  }

  /**
   * Waits until a file written now gets a later ctime than one written just
   * before: every recorded ctime is then older than any write the command
   * can make, so an unchanged (inode, ctime) pair proves an untouched file
   * even when it is rewritten within the same second with the same size.
   * When the filesystem's clock does not move, capture compares contents.
   */
  #fence(): void {
    const f = join(this.#base, 'fence');
    writeFileSync(f, 'a');
    const first = lstatSync(f, { bigint: true }).ctimeNs;
    const deadline = Date.now() + FENCE_TIMEOUT_MS;
    const pause = new Int32Array(new SharedArrayBuffer(4));
    for (;;) {
      writeFileSync(f, 'b');
      if (lstatSync(f, { bigint: true }).ctimeNs > first) {
        this.#trustCtime = true;
        return;
      }
      if (Date.now() > deadline) {
        this.#trustCtime = false;
        return;
      }
      Atomics.wait(pause, 0, 0, 1);
    }
  }

  /** BuildKit creates a missing working directory (0755, root) before the command; it is part of the layer. */
  #ensureCwd(cwd: string): void {
    this.#madeByKiln = new Set();
    if (!cwd.startsWith('/')) throw new SandboxError('WORKDIR_INVALID', `the working directory ${JSON.stringify(cwd)} is not absolute`, { cwd });
    let resolved;
    try {
      resolved = resolvePath(this.#tree, cwd, { followFinal: true });
    } catch (cause) {
      throw new SandboxError('WORKDIR_INVALID', `cannot use ${cwd} as working directory: ${(cause as Error).message}`, { cause, cwd });
    }
    if (resolved.node !== undefined) {
      if (resolved.node.kind !== 'dir') throw new SandboxError('WORKDIR_INVALID', `the working directory ${cwd} is not a directory`, { cwd });
      return;
    }
    let abs = this.root;
    const rel: string[] = [];
    for (const c of splitPath(`/${resolved.path.join('/')}`)) {
      abs = join(abs, c);
      rel.push(c);
      try {
        mkdirSync(abs, { mode: 0o755 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        continue;
      }
      chmodSync(abs, 0o755);
      if (this.info.idMapping === 'host') lchownSync(abs, 0, 0);
      this.#madeByKiln.add(rel.join('/'));
    }
  }
}

/** Runs one command in the session's rootfs: see {@link RootfsSession.run}. */
export function run(session: RootfsSession, spec: RunSpec, opts: RunOptions = {}): Promise<RunResult> {
  return session.run(spec, opts);
}

/** Reads the session's rootfs back into a tree: see {@link RootfsSession.capture}. */
export function capture(session: RootfsSession): Promise<DirNode> {
  return session.capture();
}

/** rm -rf that also gets through directories a rootless user cannot write (mode 0555 and the like). */
function forceRemove(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
    return;
  } catch {
    // fall through: make every directory writable, then try again
  }
  const open = (p: string): void => {
    try {
      if (!lstatSync(p).isDirectory()) return;
      chmodSync(p, 0o700);
      for (const n of readdirSync(p)) open(join(p, n));
    } catch {
      // best effort
    }
  };
  open(path);
  rmSync(path, { recursive: true, force: true });
}
