import { KilnError, assertNever } from '../errors.ts';
import type { Instruction } from '../dockerfile/index.ts';
import { type Image, scratchImage, withConfig } from '../image/index.ts';
import type { Platform } from '../oci/index.ts';
import { type ArgScope, DEFAULT_PATH as PLAN_DEFAULT_PATH, type Plan, type Stage } from '../plan/index.ts';
import type { ImageRef } from '../ref/index.ts';
import { type DirNode, emptyDir, hostTree } from '../vfs/index.ts';
import { copy, type CopySource } from './copy.ts';
import { BuildStepError } from './errors.ts';
import * as meta from './metadata.ts';
import { createdTime, type ExecOptions, type StageState } from './stage-state.ts';
import { arg, workdir } from './workdir-arg.ts';

/** Finds a base image for `FROM <image>`; injected by the composition root (local store, registry…). */
export interface ImageResolver {
  resolve(ref: ImageRef, platform: Platform, signal?: AbortSignal): Promise<Image>;
}

/** The result of one stage. */
export interface StageResult {
  readonly image: Image;
  readonly tree: DirNode;
  /** The ARGs declared in the stage (or inherited by it), for stages built FROM it. */
  readonly args: ReadonlyMap<string, string | undefined>;
}

const DEFAULT_PATH = `PATH=${PLAN_DEFAULT_PATH}`;

/**
 * Runs the stages the target needs, in the plan's order, and returns the
 * target's image. Nothing is written but layer blobs to the content store;
 * outputs are the caller's job.
 */
export async function executeBuild(plan: Plan, opts: ExecOptions & { resolver: ImageResolver }): Promise<StageResult> {
  const results = new Map<number, StageResult>();
  let contextTree: DirNode | undefined;
  const contextSource = (): CopySource => {
    contextTree ??= hostTree(opts.context.root, opts.context.filter ? { filter: opts.context.filter } : {});
    return { tree: contextTree, confined: true, describe: 'build context' };
  };
  const args = plan.args;
  for (const index of plan.order) {
    const stage = plan.stages[index]!;
    results.set(index, await runStage(plan, stage, { ...opts, args, results, contextSource }));
  }
  return results.get(plan.target.index)!;
}

interface RunEnv extends ExecOptions {
  resolver: ImageResolver;
  args: ArgScope;
  results: ReadonlyMap<number, StageResult>;
  contextSource: () => CopySource;
}

async function initialState(stage: Stage, env: RunEnv): Promise<StageState> {
  const base = stage.base;
  switch (base.kind) {
    case 'scratch': {
      const image = withConfig(scratchImage({ platform: stage.platform, format: env.format }), (c) => ({ ...c, config: { Env: [DEFAULT_PATH], WorkingDir: '/' } }));
      return { index: stage.index, image, tree: emptyDir(), args: new Map() };
    }
    case 'stage': {
      // BuildKit: a stage FROM another inherits its image, files and the ARGs declared there
      const prior = env.results.get(base.index)!;
      return { index: stage.index, image: prior.image, tree: prior.tree, args: prior.args };
    }
    case 'image':
      throw new BuildStepError('BASE_IMAGE_UNSUPPORTED', `FROM ${stage.from.image}: building on an image is not supported yet (only scratch and earlier stages)`, {
        location: stage.location,
      });
    default:
      return assertNever(base);
  }
}

async function runStage(plan: Plan, stage: Stage, env: RunEnv): Promise<StageResult> {
  let state = await initialState(stage, env);
  let cmdSet = false;
  const total = stage.instructions.length;
  for (const [i, ins] of stage.instructions.entries()) {
    const location = { file: plan.file, line: ins.range.start };
    env.emit({ kind: 'step', stage: stage.index, step: i + 1, total, text: ins.original, location });
    try {
      state = await dispatch(state, ins, env, location, cmdSet);
    } catch (cause) {
      if (cause instanceof KilnError && cause.location !== undefined) throw cause;
      const code = cause instanceof KilnError ? cause.code : 'STEP_FAILED';
      throw new BuildStepError(code, `${ins.original}: ${(cause as Error).message}`, { location, cause });
    }
    if (ins.kind === 'CMD') cmdSet = true;
  }
  // BuildKit: the epoch when one is set, else the build's time (set by the exporter).
  const image = withConfig(state.image, (c) => ({ ...c, created: createdTime(env) }));
  return { image, tree: state.tree, args: state.args };
}

async function dispatch(state: StageState, ins: Instruction, env: RunEnv, loc: { file: string; line: number }, cmdSet: boolean): Promise<StageState> {
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
      if (ins.from !== undefined) throw new BuildStepError('COPY_FROM_UNSUPPORTED', 'COPY --from is not supported yet', { location: loc });
      if (ins.kind === 'ADD' && ins.sources.some((s) => /^(https?|git):\/\/|^git@/.test(s))) {
        throw new BuildStepError('ADD_REMOTE_UNSUPPORTED', 'ADD from a URL or git repository is not supported yet', { location: loc });
      }
      return copy(state, ins, env.contextSource(), env, loc);
    }
    case 'RUN':
      throw new BuildStepError('RUN_UNSUPPORTED', 'RUN is not supported yet', { location: loc });
    case 'FROM':
      throw new BuildStepError('INTERNAL', 'FROM inside a stage', { location: loc });
    default:
      return assertNever(ins, 'instruction');
  }
}
