import { isIP } from 'node:net';
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

/**
 * One EXPOSE word as BuildKit's parsePort: `[ip:][hostPort:]containerPort[/proto]`,
 * a missing protocol is tcp, a range expands, only the container side is kept.
 */
function parsePort(raw: string, loc: Loc): string[] {
  const bad = (why: string): never => {
    throw new BuildStepError('EXPOSE_INVALID', `invalid port ${JSON.stringify(raw)}: ${why}`, { location: loc, port: raw });
  };
  const parts = raw.split(':');
  const container = parts[parts.length - 1]!;
  let ip = parts.length >= 3 ? parts.slice(0, -2).join(':') : '';
  const hostPort = parts.length >= 2 ? parts[parts.length - 2]! : '';
  const slash = container.indexOf('/');
  const port = slash < 0 ? container : container.slice(0, slash);
  const proto = slash < 0 ? 'tcp' : container.slice(slash + 1).toLowerCase() || 'tcp';
  if (port === '') bad('no port specified');
  if (!['tcp', 'udp', 'sctp'].includes(proto)) bad(`invalid proto: ${container.slice(slash + 1)}`);
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  if (ip !== '' && isIP(ip) === 0) bad(`invalid IP address: ${ip}`);
  const range = portRange(port) ?? bad(`invalid containerPort: ${port}`);
  if (hostPort !== '') {
    const host = portRange(hostPort) ?? bad(`invalid hostPort: ${hostPort}`);
    if (host[1] - host[0] !== range[1] - range[0] && range[0] !== range[1]) bad(`invalid ranges specified for container and host Ports: ${port} and ${hostPort}`);
  }
  const out: string[] = [];
  for (let p = range[0]; p <= range[1]; p++) out.push(`${p}/${proto}`);
  return out;
}

/** `80` or `8000-8002` (Go strconv.ParseInt, 0–65535); undefined when invalid. */
function portRange(s: string): [number, number] | undefined {
  const num = (t: string) => (/^[+-]?\d+$/.test(t) && Number(t) >= 0 && Number(t) <= 65535 ? Number(t) : undefined);
  const dash = s.indexOf('-', 1);
  const start = num(dash < 0 ? s : s.slice(0, dash));
  if (start === undefined) return undefined;
  if (dash < 0 || s.slice(0, dash) === s.slice(dash + 1)) return [start, start];
  const end = num(s.slice(dash + 1));
  return end === undefined || end < start ? undefined : [start, end];
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
  if (!validSignal(sig)) throw new BuildStepError('STOPSIGNAL_INVALID', `invalid signal: ${sig}`, { location: loc });
  return commitMetadata(update(state, (c) => ({ ...c, StopSignal: sig })), `STOPSIGNAL ${sig}`, opts);
}

/** Linux signal names of moby/sys/signal's SignalMap (without the SIG prefix), which BuildKit's ParseSignal accepts. */
const SIGNALS = new Set([
  'ABRT', 'ALRM', 'BUS', 'CHLD', 'CLD', 'CONT', 'FPE', 'HUP', 'ILL', 'INT', 'IO', 'IOT', 'KILL', 'PIPE', 'POLL', 'PROF', 'PWR', 'QUIT',
  'SEGV', 'STKFLT', 'STOP', 'SYS', 'TERM', 'TRAP', 'TSTP', 'TTIN', 'TTOU', 'URG', 'USR1', 'USR2', 'VTALRM', 'WINCH', 'XCPU', 'XFSZ',
  'RTMIN', 'RTMAX', ...Array.from({ length: 15 }, (_, i) => `RTMIN+${i + 1}`), ...Array.from({ length: 14 }, (_, i) => `RTMAX-${i + 1}`),
]);

/** ParseSignal: a non-zero number (Go Atoi), or a known name in any case, with or without SIG. */
function validSignal(s: string): boolean {
  if (/^[+-]?\d+$/.test(s)) return Number(s) !== 0;
  const upper = s.toUpperCase();
  return SIGNALS.has(upper.startsWith('SIG') ? upper.slice(3) : upper);
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
        // Zero means "inherit" and is omitted from the JSON (omitempty), like the durations.
        ...(ins.retries ? { Retries: ins.retries } : {}),
      };
  const printed = `{Test:${goSlice(hc.Test)} Interval:${goDuration(hc.Interval ?? 0)} Timeout:${goDuration(hc.Timeout ?? 0)} StartPeriod:${goDuration(hc.StartPeriod ?? 0)} StartInterval:${goDuration(hc.StartInterval ?? 0)} Retries:${hc.Retries ?? 0}}`;
  return commitMetadata(update(state, (c) => ({ ...c, Healthcheck: hc })), `HEALTHCHECK ${printed}`, opts);
}
