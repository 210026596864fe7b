import { KilnError, assertNever } from '../errors.ts';
import type { Instruction } from '../dockerfile/index.ts';
import { type Image, scratchImage, withConfig } from '../image/index.ts';
import { type ArgScope, type BaseRef, DEFAULT_PATH as PLAN_DEFAULT_PATH, type Plan, type Stage } from '../plan/index.ts';
import { type DirNode, emptyDir, hostTree } from '../vfs/index.ts';
import { BaseImages, type ImageResolver, parseTrigger, stageBaseImage } from './base-image.ts';
import { copyKeyParts, type FsKeyParts, type KeyInputs, runKeyParts } from './cache-key.ts';
import { BuildCache, type CacheSettings } from './cache-session.ts';
import { cachedStep, type Cursor } from './cache-step.ts';
import { LazyTree } from './cache-tree.ts';
import { copy, type CopyFrom, type CopySource } from './copy.ts';
import { sourcePaths } from './layer-scan.ts';
import { runStep, type StageRunner } from './run-step.ts';
import { BuildStepError } from './errors.ts';
import * as meta from './metadata.ts';
import { createdTime, type ExecOptions, type StageState } from './stage-state.ts';
import { arg, workdir } from './workdir-arg.ts';

/** The result of one stage. */
export interface StageResult {
  readonly image: Image;
  /**
   * The stage's filesystem. Built on the first call (once): a stage whose
   * steps all came from the cache has none until something asks for it.
   */
  readonly tree: () => Promise<DirNode>;
  /** The ARGs declared in the stage (or inherited by it), for stages built FROM it. */
  readonly args: ReadonlyMap<string, string | undefined>;
  /** The cache key of the stage's final state: what `FROM` and `COPY --from` of this stage are keyed by. */
  readonly key: string;
  /** The `created` of the stage's last step (made in this build or taken from the cache), if it had any. */
  readonly created: string | undefined;
}

/** What a build needs beyond {@link ExecOptions}: where base images come from, RUN's sandbox, the cache. */
export interface ExecuteOptions extends ExecOptions {
  readonly resolver: ImageResolver;
  readonly runners?: () => StageRunner;
  /** The build cache; without it every step runs and nothing is recorded. */
  readonly cache?: CacheSettings;
}

const DEFAULT_PATH = `PATH=${PLAN_DEFAULT_PATH}`;

/**
 * Runs the stages the target needs, each as soon as the stages it needs
 * are built (independent stages at the same time), and returns the
 * target's image. Nothing is written but layer blobs to the content store
 * and entries to the cache; outputs are the caller's job. Emits a `cache`
 * event with the cache's counts when the build succeeds.
 */
export async function executeBuild(plan: Plan, opts: ExecuteOptions): Promise<StageResult> {
  const bases = new BaseImages(opts.resolver, opts.spill);
  const cache = new BuildCache(opts.cache, opts.store, { compression: opts.compression, level: opts.compressionLevel, epoch: opts.epoch });
  const results = new Map<number, StageResult>();
  let contextTree: DirNode | undefined;
  const contextSource = (): CopySource => {
    contextTree ??= hostTree(opts.context.root, opts.context.filter ? { filter: opts.context.filter } : {});
    return { tree: contextTree, confined: true, describe: 'build context' };
  };
  const args = plan.args;
  let steps = 0;
  const nextStepId = (): number => ++steps;
  try {
    await runConcurrently(plan.order, (i) => stageNeeds(plan.stages[i]!), MAX_STAGES, async (index) => {
      const stage = plan.stages[index]!;
      results.set(index, await runStage(plan, stage, { ...opts, args, results, contextSource, bases, nextStepId, cache }));
    });
  } finally {
    const counts = cache.finish();
    opts.emit({ kind: 'cache', ...counts });
  }
  return results.get(plan.target.index)!;
}

/** Stages built at the same time, at most. */
const MAX_STAGES = 4;

/** The stages a stage needs built first: its base stage and every `--from` stage. */
function stageNeeds(stage: Stage): number[] {
  const out = new Set<number>();
  if (stage.base.kind === 'stage') out.add(stage.base.index);
  for (const d of stage.dependencies) if (d.source.kind === 'stage') out.add(d.source.index);
  return [...out];
}

/**
 * Runs `run` on every item of `order` (a valid sequential order), each as
 * soon as the items it needs are done, at most `limit` at once. After a
 * failure nothing new starts; the running ones are awaited, then the first
 * failure is thrown.
 */
async function runConcurrently(order: readonly number[], needs: (i: number) => readonly number[], limit: number, run: (i: number) => Promise<void>): Promise<void> {
  const done = new Set<number>();
  const started = new Set<number>();
  const running = new Map<number, Promise<void>>();
  let failure: { err: unknown } | undefined;
  for (;;) {
    if (failure === undefined) {
      for (const i of order) {
        if (running.size >= limit) break;
        if (started.has(i) || !needs(i).every((n) => done.has(n))) continue;
        started.add(i);
        const p = run(i).then(
          () => void done.add(i),
          (err: unknown) => void (failure ??= { err }),
        );
        running.set(i, p.finally(() => running.delete(i)));
      }
    }
    if (running.size === 0) break;
    await Promise.race(running.values());
  }
  if (failure !== undefined) throw failure.err;
  if (done.size !== order.length) throw new BuildStepError('INTERNAL', 'stages left unbuilt: their order does not satisfy their needs', {});
}

interface RunEnv extends ExecOptions {
  bases: BaseImages;
  runners?: () => StageRunner;
  /** This stage's RUN runner, made on the first RUN. */
  runner?: () => StageRunner;
  nextStepId: () => number;
  args: ArgScope;
  results: ReadonlyMap<number, StageResult>;
  contextSource: () => CopySource;
  cache: BuildCache;
}

type Loc = { file: string; line: number };

/** A stage's starting point (its key rooted in its base), with the base's ONBUILD triggers to run first. */
async function initialState(stage: Stage, env: RunEnv): Promise<{ cursor: Cursor; triggers: readonly Instruction[] }> {
  const base = stage.base;
  switch (base.kind) {
    case 'scratch': {
      const image = withConfig(scratchImage({ platform: stage.platform, format: env.format }), (c) => ({ ...c, config: { Env: [DEFAULT_PATH], WorkingDir: '/' } }));
      const key = env.cache.rootKey({ scratch: true, platform: stage.platform });
      return { cursor: { index: stage.index, image, args: new Map(), tree: LazyTree.of(emptyDir()), key, created: undefined }, triggers: [] };
    }
    case 'stage': {
      // BuildKit: a stage FROM another inherits its image, files and the ARGs declared there
      const prior = env.results.get(base.index)!;
      const { image, triggers } = stageBaseImage(prior.image);
      const cursor: Cursor = { index: stage.index, image, args: prior.args, tree: LazyTree.from(prior.tree), key: prior.key, created: prior.created };
      return { cursor, triggers: triggers.map((t) => parseTrigger(t, stage.location)) };
    }
    case 'image': {
      const resolved = await env.bases.image(base.ref, stage.platform, stage.location);
      const { image, triggers } = stageBaseImage(resolved);
      // The manifest digest names the base: with --pull a moved tag resolves to another digest, and misses.
      const key = env.cache.rootKey({ image: resolved.descriptor.digest, platform: stage.platform });
      const tree = LazyTree.from(() => env.bases.tree(resolved));
      return { cursor: { index: stage.index, image, args: new Map(), tree, key, created: undefined }, triggers: triggers.map((t) => parseTrigger(t, stage.location)) };
    }
    default:
      return assertNever(base);
  }
}

async function runStage(plan: Plan, stage: Stage, outer: RunEnv): Promise<StageResult> {
  let made: StageRunner | undefined;
  const runner = (): StageRunner => {
    if (outer.runners === undefined) throw new BuildStepError('RUN_UNSUPPORTED', 'this build has no sandbox for RUN', { location: stage.location });
    return (made ??= outer.runners());
  };
  try {
    return await runStageWith(plan, stage, { ...outer, runner });
  } finally {
    await made?.dispose();
  }
}

async function runStageWith(plan: Plan, stage: Stage, env: RunEnv): Promise<StageResult> {
  const initial = await initialState(stage, env);
  let cur = initial.cursor;
  let cmdSet = false;
  const steps = [...initial.triggers, ...stage.instructions];
  const total = steps.length;
  const forced = env.cache.forced(stage);
  for (const [i, ins] of steps.entries()) {
    const location = { file: plan.file, line: ins.range.start };
    const id = env.nextStepId();
    const started = performance.now();
    env.emit({ kind: 'step', id, stage: stage.index, stageName: stage.name ?? `stage-${stage.index}`, step: i + 1, total, text: ins.original, location });
    try {
      const set = cmdSet;
      const done = await cachedStep(cur, ins, {
        cache: env.cache,
        store: env.store,
        spill: env.spill,
        forced,
        run: (state, replay) => dispatch(stage, state, ins, replay === undefined ? env : { ...env, treeOnly: true, now: replay.now }, location, set),
        keyParts: (state) => keyParts(stage, state, ins, env, location),
        warn: (message) => env.emit({ kind: 'warning', message, location }),
      });
      cur = done.cursor;
      env.emit({ kind: 'step-done', id, seconds: (performance.now() - started) / 1000, cached: done.cached });
    } catch (cause) {
      if (cause instanceof KilnError && cause.location !== undefined) throw cause;
      const code = cause instanceof KilnError ? cause.code : 'STEP_FAILED';
      throw new BuildStepError(code, `${ins.original}: ${(cause as Error).message}`, { location, cause });
    }
    if (ins.kind === 'CMD') cmdSet = true;
  }
  // BuildKit: the epoch when one is set; else the time of the last history
  // entry (patchImageConfig), so an image made wholly from the cache is the same image.
  const created = env.epoch !== undefined ? createdTime(env) : (cur.created ?? createdTime(env));
  const image = withConfig(cur.image, (c) => ({ ...c, created }));
  const tree = cur.tree;
  return { image, tree: () => tree.get(), args: cur.args, key: cur.key, created: cur.created };
}

/** The inputs of a filesystem step's key (see cache-key.ts). */
function keyParts(stage: Stage, state: Pick<StageState, 'image' | 'args'>, ins: Instruction, env: RunEnv, loc: Loc): Promise<FsKeyParts> {
  const inputs: KeyInputs = {
    context: env.contextSource,
    hashes: env.cache.hashes,
    fromIdentity: (mount) => fromIdentity(stage, ins, mount, env, loc),
  };
  switch (ins.kind) {
    case 'COPY':
    case 'ADD':
      return copyKeyParts(state, ins, env, inputs, loc);
    case 'RUN':
      return runKeyParts(state, ins, env, inputs, loc);
    case 'WORKDIR':
      // Redone from the cache exactly: it only depends on the state before it and the time it ran.
      return Promise.resolve({ parts: null, lookup: true, exact: 'workdir' });
    default:
      return Promise.resolve({ parts: null, lookup: true });
  }
}

/** What a `--from` names, for keys: a stage's key, an image's manifest digest (resolved as the step will resolve it). */
async function fromIdentity(stage: Stage, ins: Instruction, mount: number | undefined, env: RunEnv, loc: Loc): Promise<string> {
  const dep = stage.dependencies.find((d) => d.instruction === ins && d.mount === mount);
  if (dep === undefined) throw new BuildStepError('INTERNAL', 'a --from without a planned source', { location: loc });
  const from = dep.source;
  switch (from.kind) {
    case 'scratch':
      return 'scratch';
    case 'stage': {
      const result = env.results.get(from.index);
      if (result === undefined) throw new BuildStepError('INTERNAL', `stage ${from.index} was not built before it was needed`, { location: loc });
      return result.key;
    }
    case 'image':
      return (await env.bases.image(from.ref, stage.platform, loc)).descriptor.digest;
  }
}

async function dispatch(stage: Stage, state: StageState, ins: Instruction, env: RunEnv, loc: Loc, cmdSet: boolean): Promise<StageState> {
  switch (ins.kind) {
    case 'ENV': return meta.env(state, ins, env);
    case 'LABEL': return meta.label(state, ins, env);
    case 'MAINTAINER': return meta.maintainer(state, ins, env);
    case 'EXPOSE': return meta.expose(state, ins, env, loc);
    case 'VOLUME': return meta.volume(state, ins, env, loc);
    case 'USER': return meta.user(state, ins, env);
    case 'CMD': return meta.cmd(state, ins, env);
    case 'ENTRYPOINT': return meta.entrypoint(state, ins, env, cmdSet);
    case 'SHELL': return meta.shell(state, ins, env);
    case 'STOPSIGNAL': return meta.stopsignal(state, ins, env, loc);
    case 'ONBUILD': return meta.onbuild(state, ins);
    case 'HEALTHCHECK': return meta.healthcheck(state, ins, env);
    case 'WORKDIR': return workdir(state, ins, env, loc);
    case 'ARG': return arg(state, ins, env, env.args);
    case 'COPY':
    case 'ADD': {
      if (ins.kind === 'COPY' && ins.from !== undefined) return copy(state, ins, await fromSource(stage, ins, env, loc), env, loc);
      return copy(state, ins, env.contextSource(), env, loc);
    }
    case 'RUN':
      return runStep(state, ins, env.runner!(), (from, mount) => mountTree(stage, ins, from, mount, env, loc), env, loc);
    case 'FROM':
      throw new BuildStepError('INTERNAL', 'FROM inside a stage', { location: loc });
    default:
      return assertNever(ins, 'instruction');
  }
}

/**
 * Where `COPY --from` reads: the plan resolved the name to a stage (built
 * already) or an image, of which only the layers that decide the sources are fetched.
 */
async function fromSource(stage: Stage, ins: Instruction, env: RunEnv, loc: Loc): Promise<CopyFrom> {
  const dep = stage.dependencies.find((d) => d.instruction === ins && d.mount === undefined);
  if (dep === undefined) throw new BuildStepError('INTERNAL', 'COPY --from without a planned source', { location: loc });
  const from = dep.source;
  if (from.kind !== 'image') return sourceTree(from, stage, env, loc);
  const image = await env.bases.image(from.ref, stage.platform, loc);
  return async (sources) => ({ tree: await env.bases.treeFor(image, sourcePaths(sources)), confined: false, describe: from.name });
}

async function sourceTree(from: BaseRef, stage: Stage, env: RunEnv, loc: Loc): Promise<CopySource> {
  switch (from.kind) {
    case 'scratch':
      return { tree: emptyDir(), confined: false, describe: 'scratch' };
    case 'stage': {
      const result = env.results.get(from.index);
      if (result === undefined) throw new BuildStepError('INTERNAL', `stage ${from.index} was not built before it was needed`, { location: loc });
      return { tree: await result.tree(), confined: false, describe: `stage ${from.index}` };
    }
    case 'image': {
      const image = await env.bases.image(from.ref, stage.platform, loc);
      return { tree: await env.bases.tree(image), confined: false, describe: from.name };
    }
  }
}

/** The tree a `RUN --mount` binds: the build context without `from`, else the stage or image the plan resolved. */
async function mountTree(stage: Stage, ins: Instruction, from: string | undefined, mount: number, env: RunEnv, loc: Loc): Promise<DirNode> {
  if (from === undefined) return env.contextSource().tree;
  const dep = stage.dependencies.find((d) => d.instruction === ins && d.mount === mount);
  if (dep === undefined) throw new BuildStepError('INTERNAL', `RUN --mount from=${from} without a planned source`, { location: loc });
  return (await sourceTree(dep.source, stage, env, loc)).tree;
}
