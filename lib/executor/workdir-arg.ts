import type { ArgInstruction, WorkdirInstruction } from '../dockerfile/index.ts';
import { withConfig } from '../image/index.ts';
import { type ArgScope, stageArgValue } from '../plan/index.ts';
import { joinPath, mkdirAll, VfsError } from '../vfs/index.ts';
import { commitLayer, commitMetadata } from './commit.ts';
import { BuildStepError } from './errors.ts';
import { createdMtime, type ExecOptions, expansionEnv, runConfig, type StageState } from './stage-state.ts';
import { resolveOwner } from './users.ts';

type Loc = { file: string; line: number };

/**
 * `WORKDIR path`: relative to the previous WORKDIR; the directory is always
 * created (0755, owned by the current USER), which makes a layer (an empty
 * one when it already existed), except for `/` (as BuildKit).
 */
export async function workdir(state: StageState, ins: WorkdirInstruction, opts: ExecOptions, loc: Loc): Promise<StageState> {
  const path = opts.expander.word(ins.path, expansionEnv(state));
  const wd = joinPath(runConfig(state).WorkingDir || '/', path);
  const next: StageState = { ...state, image: withConfig(state.image, (c) => ({ ...c, config: { ...(c.config ?? {}), WorkingDir: wd } })) };
  if (wd === '/') return commitMetadata(next, `WORKDIR ${wd}`, opts);
  const user = runConfig(state).User;
  const owner = user ? resolveOwner(state.tree, user, loc) : { uid: 0, gid: 0 };
  let tree;
  try {
    tree = mkdirAll(state.tree, wd, { mode: 0o755, uid: owner.uid, gid: owner.gid, mtime: createdMtime(opts) }).root;
  } catch (cause) {
    if (cause instanceof VfsError) throw new BuildStepError('WORKDIR_INVALID', `cannot create ${wd}: ${cause.message}`, { location: loc, cause });
    throw cause;
  }
  return commitLayer(next, tree, `WORKDIR ${wd}`, opts);
}

/**
 * `ARG name[=default] …` inside a stage: the value is the plan's rule
 * (stageArgValue: build arg, else the default expanded with the stage's
 * variables so far, else the global or automatic ARG of that name).
 * Visible to later instructions of the stage and of stages built FROM it,
 * never written to the config (only to history).
 */
export function arg(state: StageState, ins: ArgInstruction, opts: ExecOptions, scope: ArgScope): StageState {
  const args = new Map(state.args);
  const printed: string[] = [];
  for (const a of ins.args) {
    const value = stageArgValue(scope, a.key, a.value, (w) => opts.expander.word(w, expansionEnv({ ...state, args })));
    args.set(a.key, value);
    printed.push(value === undefined ? a.key : `${a.key}=${value}`);
  }
  return commitMetadata({ ...state, args }, `ARG ${printed.join(' ')}`, opts);
}
