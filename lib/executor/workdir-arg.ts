import type { ArgInstruction, WorkdirInstruction } from '../dockerfile/index.ts';
import { withConfig } from '../image/index.ts';
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
 * `ARG name[=default] …` inside a stage: the value is the build arg, else the
 * default (expanded), else the global ARG of the same name. Visible to later
 * instructions of the stage, never written to the config (only to history).
 */
export function arg(state: StageState, ins: ArgInstruction, opts: ExecOptions, globals: ReadonlyMap<string, string | undefined>): StageState {
  const args = new Map(state.args);
  const printed: string[] = [];
  for (const a of ins.args) {
    let value: string | undefined;
    if (opts.buildArgs.has(a.key)) value = opts.buildArgs.get(a.key);
    else if (a.value !== undefined) value = opts.expander.word(a.value, expansionEnv({ ...state, args }));
    else value = globals.get(a.key);
    args.set(a.key, value);
    printed.push(value === undefined ? a.key : `${a.key}=${value}`);
  }
  return commitMetadata({ ...state, args }, `ARG ${printed.join(' ')}`, opts);
}

/** Values of the global ARGs (before the first FROM), for FROM lines and stages that re-declare them. */
export function globalArgValues(args: readonly ArgInstruction[], opts: ExecOptions): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  for (const ins of args) {
    for (const a of ins.args) {
      const vars = new Map([...out].filter((e): e is [string, string] => e[1] !== undefined));
      out.set(a.key, opts.buildArgs.has(a.key) ? opts.buildArgs.get(a.key) : a.value !== undefined ? opts.expander.word(a.value, vars) : undefined);
    }
  }
  return out;
}
