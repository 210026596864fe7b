import { withConfig } from '../image/index.ts';
import type { RunConfig } from '../oci/index.ts';
import type {
  CmdInstruction, EntrypointInstruction, EnvInstruction, ExposeInstruction, HealthcheckInstruction, LabelInstruction,
  MaintainerInstruction, OnbuildInstruction, ShellInstruction, StopsignalInstruction, UserInstruction, VolumeInstruction,
} from '../dockerfile/index.ts';
import { commitMetadata } from './commit.ts';
import { BuildStepError } from './errors.ts';
import { goDuration, goQuoteSlice, goSlice } from './go-format.ts';
import { expansionEnv, type ExecOptions, runConfig, type StageState } from './stage-state.ts';

type Loc = { file: string; line: number };

function update(state: StageState, f: (c: RunConfig) => RunConfig): StageState {
  return { ...state, image: withConfig(state.image, (cfg) => ({ ...cfg, config: f(cfg.config ?? {}) })) };
}

/** `ENV k=v …`: values expanded with the variables from before the instruction; an existing key keeps its position. */
export function env(state: StageState, ins: EnvInstruction, opts: ExecOptions): StageState {
  const vars = expansionEnv(state);
  const list = [...(runConfig(state).Env ?? [])];
  const parts: string[] = [];
  for (const { key, value } of ins.pairs) {
    const k = opts.expander.word(key, vars);
    const v = opts.expander.word(value, vars);
    const i = list.findIndex((e) => e.slice(0, e.indexOf('=')) === k);
    if (i >= 0) list[i] = `${k}=${v}`;
    else list.push(`${k}=${v}`);
    parts.push(`${k}=${v}`);
  }
  return commitMetadata(update(state, (c) => ({ ...c, Env: list })), `ENV ${parts.join(' ')}`, opts);
}

/** `LABEL k=v …`. */
export function label(state: StageState, ins: LabelInstruction, opts: ExecOptions): StageState {
  const vars = expansionEnv(state);
  const labels = { ...(runConfig(state).Labels ?? {}) };
  const parts: string[] = [];
  for (const { key, value } of ins.pairs) {
    const k = opts.expander.word(key, vars);
    const v = opts.expander.word(value, vars);
    labels[k] = v;
    parts.push(`${k}=${v}`);
  }
  return commitMetadata(update(state, (c) => ({ ...c, Labels: labels })), `LABEL ${parts.join(' ')}`, opts);
}

/** `MAINTAINER name` sets the config's `author`. */
export function maintainer(state: StageState, ins: MaintainerInstruction, opts: ExecOptions): StageState {
  const name = opts.expander.word(ins.name, expansionEnv(state));
  const next = { ...state, image: withConfig(state.image, (cfg) => ({ ...cfg, author: name })) };
  return commitMetadata(next, `MAINTAINER ${name}`, opts);
}

/** `EXPOSE 80 443/udp 8000-8002`: ranges expanded, protocols lower-cased (BuildKit's parsePorts). */
export function expose(state: StageState, ins: ExposeInstruction, opts: ExecOptions, loc: Loc): StageState {
  const vars = expansionEnv(state);
  const ports = ins.ports.flatMap((p) => opts.expander.words(p, vars)).flatMap((p) => parsePort(p, loc));
  const exposed = { ...(runConfig(state).ExposedPorts ?? {}) };
  for (const p of ports) exposed[p] = {};
  return commitMetadata(update(state, (c) => ({ ...c, ExposedPorts: exposed })), `EXPOSE ${goSlice(ports)}`, opts);
}

function parsePort(raw: string, loc: Loc): string[] {
  // [ip:][hostPort:]containerPort[/proto]; only the container side matters in an image.
  const slash = raw.lastIndexOf('/');
  const proto = (slash >= 0 ? raw.slice(slash + 1) : 'tcp').toLowerCase();
  const spec = slash >= 0 ? raw.slice(0, slash) : raw;
  const container = spec.slice(spec.lastIndexOf(':') + 1);
  const m = /^(\d+)(?:-(\d+))?$/.exec(container);
  const bad = (): never => {
    throw new BuildStepError('EXPOSE_INVALID', `invalid containerPort: ${container}`, { location: loc, port: raw });
  };
  if (!m || !['tcp', 'udp', 'sctp'].includes(proto)) bad();
  const start = Number(m![1]);
  const end = m![2] === undefined ? start : Number(m![2]);
  if (start > 65535 || end > 65535 || end < start) bad();
  const out: string[] = [];
  for (let p = start; p <= end; p++) out.push(`${p}/${proto}`);
  return out;
}

/** `VOLUME /a /b` or `["/a"]`: recorded only; the directory is not created (as BuildKit). */
export function volume(state: StageState, ins: VolumeInstruction, opts: ExecOptions, loc: Loc): StageState {
  const vars = expansionEnv(state);
  const paths = ins.paths.map((p) => opts.expander.word(p, vars));
  if (paths.some((p) => p === '')) throw new BuildStepError('VOLUME_EMPTY', 'VOLUME specified can not be an empty string', { location: loc });
  const volumes = { ...(runConfig(state).Volumes ?? {}) };
  for (const p of paths) volumes[p] = {};
  return commitMetadata(update(state, (c) => ({ ...c, Volumes: volumes })), `VOLUME ${goSlice(paths)}`, opts);
}

/** `USER name[:group]`: recorded as written (after expansion); resolved when something runs or is created. */
export function user(state: StageState, ins: UserInstruction, opts: ExecOptions): StageState {
  const u = opts.expander.word(ins.user, expansionEnv(state));
  return commitMetadata(update(state, (c) => ({ ...c, User: u })), `USER ${u}`, opts);
}

function withShell(state: StageState, script: string): string[] {
  return [...(runConfig(state).Shell ?? ['/bin/sh', '-c']), script];
}

/** `CMD`: shell form wrapped in the stage's SHELL; sets ArgsEscaped as BuildKit does. */
export function cmd(state: StageState, ins: CmdInstruction, opts: ExecOptions): StageState {
  const args = ins.command.form === 'exec' ? ins.command.args : withShell(state, ins.command.script);
  const next = update(state, (c) => ({ ...c, Cmd: args, ArgsEscaped: true }));
  return commitMetadata(next, `CMD ${goQuoteSlice(args)}`, opts);
}

/**
 * `ENTRYPOINT`: shell form wrapped in SHELL. Setting ENTRYPOINT resets a CMD
 * inherited from the base unless this stage set CMD itself (`cmdSet`).
 */
export function entrypoint(state: StageState, ins: EntrypointInstruction, opts: ExecOptions, cmdSet: boolean): StageState {
  const args = ins.command.form === 'exec' ? ins.command.args : withShell(state, ins.command.script);
  const next = update(state, (c) => {
    const out: RunConfig = { ...c, Entrypoint: args };
    if (!cmdSet) delete out.Cmd;
    return out;
  });
  return commitMetadata(next, `ENTRYPOINT ${goQuoteSlice(args)}`, opts);
}

/** `SHELL ["exe", "arg"]`. */
export function shell(state: StageState, ins: ShellInstruction, opts: ExecOptions): StageState {
  const args = ins.command.args;
  return commitMetadata(update(state, (c) => ({ ...c, Shell: args })), `SHELL ${goSlice(args)}`, opts);
}

/** `STOPSIGNAL SIGTERM` / `STOPSIGNAL 9`. */
export function stopsignal(state: StageState, ins: StopsignalInstruction, opts: ExecOptions, loc: Loc): StageState {
  const sig = opts.expander.word(ins.signal, expansionEnv(state));
  if (!/^(SIG[A-Z0-9+-]+|\d+)$/.test(sig)) throw new BuildStepError('STOPSIGNAL_INVALID', `invalid signal: ${sig}`, { location: loc });
  return commitMetadata(update(state, (c) => ({ ...c, StopSignal: sig })), `STOPSIGNAL ${sig}`, opts);
}

/** `ONBUILD <trigger>`: stored for images built FROM this one. No history entry (as BuildKit). */
export function onbuild(state: StageState, ins: OnbuildInstruction): StageState {
  return update(state, (c) => ({ ...c, OnBuild: [...(c.OnBuild ?? []), ins.trigger] }));
}

/** `HEALTHCHECK NONE` / `HEALTHCHECK [opts] CMD …`. */
export function healthcheck(state: StageState, ins: HealthcheckInstruction, opts: ExecOptions): StageState {
  const hc = ins.test === 'NONE'
    ? { Test: ['NONE'] }
    : {
        Test: ins.command.form === 'exec' ? ['CMD', ...ins.command.args] : ['CMD-SHELL', ins.command.script],
        ...(ins.interval ? { Interval: ins.interval } : {}),
        ...(ins.timeout ? { Timeout: ins.timeout } : {}),
        ...(ins.startPeriod ? { StartPeriod: ins.startPeriod } : {}),
        ...(ins.startInterval ? { StartInterval: ins.startInterval } : {}),
        ...(ins.retries !== undefined ? { Retries: ins.retries } : {}),
      };
  const printed = `{Test:${goSlice(hc.Test)} Interval:${goDuration(hc.Interval ?? 0)} Timeout:${goDuration(hc.Timeout ?? 0)} StartPeriod:${goDuration(hc.StartPeriod ?? 0)} StartInterval:${goDuration(hc.StartInterval ?? 0)} Retries:${hc.Retries ?? 0}}`;
  return commitMetadata(update(state, (c) => ({ ...c, Healthcheck: hc })), `HEALTHCHECK ${printed}`, opts);
}
