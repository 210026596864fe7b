import type { RunInstruction, RunMount } from '../dockerfile/index.ts';
import { chompHeredoc, parseRunMount } from '../dockerfile/index.ts';
import type { DirNode } from '../vfs/index.ts';
import { joinPath } from '../vfs/index.ts';
import { commitLayer } from './commit.ts';
import { expansionEnv, type ExecOptions, runConfig, type StageState } from './stage-state.ts';
import type { SourceLocation } from '../errors.ts';
import type { Platform } from '../oci/index.ts';

/** A mount of one RUN, resolved by the executor: trees for binds, ids for caches and secrets. */
export type RunMountRequest =
  | { type: 'bind'; target: string; tree: DirNode; path: string; readonly: boolean }
  | { type: 'cache'; target: string; id: string; sharing: 'shared' | 'private' | 'locked'; uid: number; gid: number; mode: number; readonly: boolean }
  | { type: 'tmpfs'; target: string; size: number }
  | { type: 'secret'; target: string | undefined; env: string | undefined; id: string; required: boolean; mode: number; uid: number; gid: number }
  | { type: 'ssh'; target: string | undefined; id: string; required: boolean };

/** One RUN as the runner carries it out: everything expanded and resolved except the user (resolved in the rootfs). */
export interface RunRequest {
  argv: string[];
  env: string[];
  cwd: string;
  /** USER as written (`name[:group]`, ids or names), empty for root. */
  user: string;
  network: 'default' | 'none' | 'host';
  mounts: RunMountRequest[];
  /** Files bound read-only under /dev/pipes/ (a heredoc with a shebang). */
  pipes: { name: string; data: Buffer }[];
  /** The platform of the stage's image (its config's os, architecture, variant): what its binaries are built for. */
  platform: Platform;
  location: SourceLocation;
}

/**
 * Runs RUN steps for one stage and returns the filesystem afterwards. The
 * composition root implements it with lib/sandbox (which the executor may
 * not import); one instance per stage keeps its rootfs across steps.
 */
export interface StageRunner {
  run(tree: DirNode, request: RunRequest, output: (chunk: Buffer) => void): Promise<DirNode>;
  dispose(): Promise<void>;
}

/** Where `--mount=from=` and bind sources come from: the context, a stage or an image, already resolved. */
export type MountSource = (from: string | undefined, mountIndex: number) => Promise<DirNode>;

/**
 * RUN: the command (shell form wrapped in SHELL; exec form as written; a
 * heredoc run as BuildKit does), the stage's ENV plus its ARGs with values,
 * WORKDIR, USER and mounts; the changed filesystem becomes a layer, with
 * BuildKit's history text (`RUN |2 A=1 B=2 /bin/sh -c cmd # buildkit`).
 */
export async function runStep(state: StageState, ins: RunInstruction, runner: StageRunner, mountSource: MountSource, opts: ExecOptions, loc: SourceLocation): Promise<StageState> {
  const cfg = runConfig(state);
  const vars = expansionEnv(state);
  const { argv, pipes } = commandOf(ins, cfg.Shell ?? ['/bin/sh', '-c']);
  const argEnv = [...state.args].filter((e): e is [string, string] => e[1] !== undefined && !(cfg.Env ?? []).some((v) => v.startsWith(`${e[0]}=`)));
  const env = [...(cfg.Env ?? []), ...argEnv.map(([k, v]) => `${k}=${v}`)];
  const cwd = cfg.WorkingDir || '/';
  const mounts: RunMountRequest[] = [];
  for (const [i, spec] of ins.mountSpecs.entries()) {
    const m = spec.mount ?? parseRunMount(spec.raw, (w) => opts.expander.word(w, vars), loc);
    mounts.push(await mountRequest(m, i, cwd, mountSource));
  }
  const { os, architecture, variant } = state.image.config;
  const platform: Platform = { os, architecture, ...(variant !== undefined ? { variant } : {}) };
  const request: RunRequest = { argv, env, cwd, user: cfg.User ?? '', network: ins.network ?? 'default', mounts, pipes, platform, location: loc };
  const tree = await runner.run(state.tree, request, (chunk) => opts.emit({ kind: 'output', stage: state.index, data: chunk }));
  const printed = argEnv.length > 0 ? [`|${argEnv.length}`, ...argEnv.map(([k, v]) => `${k}=${v}`), ...argv] : argv;
  return commitLayer(state, tree, `RUN ${printed.join(' ')} # buildkit`, opts);
}

/** BuildKit's dispatchRun: the argv, and a shebang heredoc's file for /dev/pipes/. */
function commandOf(ins: RunInstruction, shell: readonly string[]): { argv: string[]; pipes: { name: string; data: Buffer }[] } {
  if (ins.command.form === 'exec') return { argv: [...ins.command.args], pipes: [] };
  let script = ins.command.script;
  const pipes: { name: string; data: Buffer }[] = [];
  const first = ins.heredocs[0];
  if (first !== undefined) {
    if (/^\d*<<-?\s*\S+$/.test(script.trim())) {
      const data = first.chomp ? chompHeredoc(first.content) : first.content;
      if (data.startsWith('#!')) {
        pipes.push({ name: first.name, data: Buffer.from(data) });
        return { argv: [`/dev/pipes/${first.name}`], pipes };
      }
      script = data;
    } else {
      script = [script, ...ins.heredocs.map((h) => `${h.content}${h.name}`)].join('\n');
    }
  }
  return { argv: [...shell, script], pipes };
}

async function mountRequest(m: RunMount, index: number, cwd: string, source: MountSource): Promise<RunMountRequest> {
  switch (m.type) {
    case 'bind':
      return { type: 'bind', target: joinPath(cwd, m.target), tree: await source(m.from, index), path: m.source || '/', readonly: m.readonly };
    case 'cache':
      return { type: 'cache', target: joinPath(cwd, m.target), id: m.id || joinPath(cwd, m.target), sharing: m.sharing, uid: m.uid ?? 0, gid: m.gid ?? 0, mode: m.mode ?? 0o755, readonly: m.readonly };
    case 'tmpfs':
      return { type: 'tmpfs', target: joinPath(cwd, m.target), size: m.size };
    case 'secret':
      return { type: 'secret', target: m.target === undefined ? undefined : joinPath(cwd, m.target), env: m.env, id: m.id, required: m.required, mode: m.mode, uid: m.uid, gid: m.gid };
    case 'ssh':
      return { type: 'ssh', target: m.target, id: m.id, required: m.required };
  }
}
