import type { ContentStore } from '../content/index.ts';
import type { Image, ImageFormat } from '../image/index.ts';
import type { Compression, RunConfig } from '../oci/index.ts';
import type { DirNode, HostFilter, SpillDir } from '../vfs/index.ts';
import type { SourceLocation } from '../errors.ts';
import type { CacheCounts } from './cache-session.ts';

/** Variable expansion as the Dockerfile shell lexer does it (quotes removed, `$v` substituted). */
export interface Expander {
  /** One word in, one word out (`ENV`, `WORKDIR`, `COPY` paths…). */
  word(word: string, env: ReadonlyMap<string, string>): string;
  /** One word in, split into several (`EXPOSE`, `VOLUME` shell form…). */
  words(word: string, env: ReadonlyMap<string, string>): string[];
}

/** What the executor reports while it works; only cli/ prints it. */
export type BuildEvent =
  /** A step starts. `id` numbers the build's steps (BuildKit's `#N`); `stageName` is the stage's name or `stage-N`. */
  | { kind: 'step'; id: number; stage: number; stageName: string; step: number; total: number; text: string; location: SourceLocation }
  /** A step ended: how long it took, and whether its result came from the cache. */
  | { kind: 'step-done'; id: number; seconds: number; cached: boolean }
  | { kind: 'layer'; stage: number; digest: string; size: number; diffId: string }
  /** Output of a RUN step, as it comes (chunks, not lines). */
  | { kind: 'output'; stage: number; data: Buffer }
  | { kind: 'warning'; message: string; location?: SourceLocation }
  /**
   * At the end of a build: what the cache did. `packedLayers` layers were
   * made; to build a filesystem a later step needed, `appliedLayers` cached
   * layers were applied and `replayedSteps` cached COPY/WORKDIR steps
   * redone without packing; `hashedFiles` context files were read to hash
   * them (of `statedFiles` looked at).
   */
  | ({ kind: 'cache' } & CacheCounts);

/** The build context: a directory on the host, read lazily, filtered by .dockerignore. */
export interface BuildContext {
  readonly root: string;
  readonly filter: HostFilter | undefined;
}

/** Everything fixed for one build. */
export interface ExecOptions {
  readonly file: string;
  readonly context: BuildContext;
  readonly store: ContentStore;
  readonly expander: Expander;
  /** The build's clock: config and history `created`, and mtimes of directories kiln creates. */
  readonly now: Date;
  /** SOURCE_DATE_EPOCH in seconds: replaces `now`, and clamps every mtime in new layers. */
  readonly epoch: number | undefined;
  readonly format: ImageFormat;
  readonly compression: Compression;
  readonly compressionLevel: number;
  readonly emit: (event: BuildEvent) => void;
  /** Where file bytes of base layers and unpacked archives go while the build runs; the caller disposes of it. */
  readonly spill: SpillDir;
  /**
   * Redo a cached step's filesystem change only (the build cache rebuilding
   * a tree): {@link commitLayer} then packs and records nothing.
   */
  readonly treeOnly?: boolean;
}

/** One stage while it runs: an immutable value, replaced by every instruction. */
export interface StageState {
  readonly index: number;
  readonly image: Image;
  readonly tree: DirNode;
  /** ARGs declared in this stage so far (value undefined: declared without one). */
  readonly args: ReadonlyMap<string, string | undefined>;
}

/** The run config of a stage (never undefined). */
export function runConfig(state: Pick<StageState, 'image'>): RunConfig {
  return state.image.config.config ?? {};
}

/**
 * The variables an instruction's words are expanded with: the stage's ARGs
 * that have values, overridden by its ENV (Dockerfile reference: ENV always
 * wins over an ARG of the same name).
 */
export function expansionEnv(state: Pick<StageState, 'image' | 'args'>): Map<string, string> {
  const env = new Map<string, string>();
  for (const [k, v] of state.args) if (v !== undefined) env.set(k, v);
  for (const kv of runConfig(state).Env ?? []) {
    const eq = kv.indexOf('=');
    if (eq > 0) env.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  return env;
}

/** The history/config timestamp of this build (RFC 3339, seconds unless fractional). */
export function createdTime(opts: ExecOptions): string {
  const d = opts.epoch !== undefined ? new Date(opts.epoch * 1000) : opts.now;
  return d.toISOString().replace('.000Z', 'Z');
}

/** The mtime (seconds) kiln gives directories it creates itself. */
export function createdMtime(opts: ExecOptions): number {
  return opts.epoch ?? Math.floor(opts.now.getTime() / 1000);
}
