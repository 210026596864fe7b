/**
 * A private Docker daemon (Debian's docker.io 20.10, BuildKit built in) for
 * the build sections: its own data-root, exec-root, pidfile and socket under
 * the folder it is given, the vfs storage driver, no
 * networking of its own, and the bench's local registry as Docker Hub's
 * mirror (see /work/shared/ENVIRONMENT.md). Stopped by its PID: by `stop()`,
 * by {@link stopDockerdsSync} from run.ts's cleanup (SIGINT), or, should the
 * bench die without either, by the test kit's watchdog (managed-process.ts).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { type ManagedProcess, startManaged } from '../spec/helpers/managed-process.ts';
import { capture, type Sample } from './measure.ts';

/**
 * The Docker CLI that can build with BuildKit here: the newer CLI first in
 * PATH has no buildx and cannot build.
 */
export const DOCKER_CLI = '/usr/bin/docker';

/** dockerd shuts down cleanly in about 3 s; SIGKILL after this. */
const STOP_GRACE_MS = 20_000;
const READY_TIMEOUT_MS = 30_000;

/** A running daemon. */
export interface Dockerd {
  pid: number;
  /** Environment for {@link DOCKER_CLI}: DOCKER_HOST at this daemon, DOCKER_BUILDKIT=1, an empty DOCKER_CONFIG. */
  env: NodeJS.ProcessEnv;
  /** User + system CPU time of dockerd and its descendants so far, reaped children included, in ms. */
  cpuMs(): number;
  /** Resets the peak RSS (VmHWM) of dockerd and its descendants (`/proc/PID/clear_refs`). */
  resetPeakRss(): void;
  /** The largest VmHWM among dockerd and its descendants since {@link resetPeakRss}, in KiB. */
  peakRssKiB(): number | undefined;
  /** The daemon's output so far. */
  logs(): string;
  /** SIGTERM (SIGKILL after a grace period), then unmounts and removes its folder. Idempotent. */
  stop(): Promise<void>;
}

export type DockerdStart = { ok: true; dockerd: Dockerd } | { ok: false; reason: string };

interface Live {
  pid: number;
  dir: string;
}

/** Daemons started and not yet stopped, for {@link stopDockerdsSync}. */
const live = new Set<Live>();

/**
 * Starts dockerd with everything under `dir` (created; must not hold a
 * running daemon), `registryHost` (`127.0.0.1:PORT`) as an insecure registry
 * and the http mirror of Docker Hub. Resolves once `GET /_ping` answers, or
 * with the reason it could not start (then nothing is left running). Needs root.
 */
export async function startDockerd(dir: string, registryHost: string): Promise<DockerdStart> {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'dockerd needs root' };
  if (!existsSync(DOCKER_CLI)) return { ok: false, reason: `${DOCKER_CLI} is missing (package docker.io)` };
  mkdirSync(dir, { recursive: true });
  const socket = join(dir, 'docker.sock');
  const configFile = join(dir, 'daemon.json');
  const dockerConfig = join(dir, 'client-config');
  mkdirSync(dockerConfig, { recursive: true });
  writeFileSync(join(dockerConfig, 'config.json'), '{}\n');
  writeFileSync(configFile, `${JSON.stringify({
    'storage-driver': 'vfs',
    iptables: false,
    bridge: 'none',
    'ip-masq': false,
    'insecure-registries': [registryHost],
    'registry-mirrors': [`http://${registryHost}`],
  }, null, 2)}\n`);
  const args = ['--config-file', configFile, '--data-root', join(dir, 'root'), '--exec-root', join(dir, 'exec'), '--pidfile', join(dir, 'dockerd.pid'), '-H', `unix://${socket}`];
  let proc: ManagedProcess;
  try {
    proc = await startManaged('dockerd', args, { orphanDirs: [] });
  } catch (err) {
    return { ok: false, reason: `dockerd does not start: ${(err as Error).message}` };
  }
  const entry: Live = { pid: proc.pid, dir };
  live.add(entry);
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await proc.stop(STOP_GRACE_MS);
      removeDaemonDir(dir);
      live.delete(entry);
    })();
    return stopping;
  };
  if (!(await waitReady(socket, proc))) {
    const exited = proc.exited();
    const last = proc.logs().trim().split('\n').filter((l) => /level=(error|fatal)|failed to start/i.test(l)).pop() ?? '';
    await stop();
    const what = exited ? 'dockerd exited at start' : `dockerd did not become ready in ${READY_TIMEOUT_MS / 1000} s`;
    return { ok: false, reason: `${what}${last === '' ? '' : `: ${last.slice(0, 300)}`}` };
  }
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_BUILDKIT: '1', DOCKER_CONFIG: dockerConfig };
  delete env.DOCKER_CONTEXT;
  delete env.DOCKER_TLS_VERIFY;
  const pid = proc.pid;
  return {
    ok: true,
    dockerd: {
      pid,
      env,
      cpuMs: () => tree(pid).reduce((n, p) => n + cpuTicks(p), 0) * (1000 / clockTicks()),
      resetPeakRss: () => {
        for (const p of tree(pid)) {
          try {
            writeFileSync(`/proc/${p}/clear_refs`, '5');
          } catch {
            // gone meanwhile
          }
        }
      },
      peakRssKiB: () => {
        const peaks = tree(pid).map(vmHwmKiB).filter((x): x is number => x !== undefined);
        return peaks.length === 0 ? undefined : Math.max(...peaks);
      },
      logs: proc.logs,
      stop,
    },
  };
}

/**
 * Stops every daemon still running, synchronously (for run.ts's SIGINT
 * cleanup, where nothing can be awaited): SIGTERM, wait, SIGKILL, unmount,
 * remove. containerd, its child, dies with it (dockerd starts it with a
 * parent-death signal).
 */
export function stopDockerdsSync(): void {
  for (const d of live) {
    signal(d.pid, 'SIGTERM');
    const deadline = Date.now() + STOP_GRACE_MS;
    while (running(d.pid) && Date.now() < deadline) spawnSync('sleep', ['0.1']);
    if (running(d.pid)) signal(d.pid, 'SIGKILL');
    while (running(d.pid) && Date.now() < deadline + 5000) spawnSync('sleep', ['0.1']);
    removeDaemonDir(d.dir);
  }
  live.clear();
}

/**
 * Starts counting the daemon's share of a command: returns a function that
 * adds dockerd's CPU time since now and its peak RSS (reset now) to the
 * CLI's sample. The work of `docker build` and `docker push` happens in the daemon.
 */
export function daemonUsage(d: Dockerd): (cli: Sample) => Sample {
  const cpu0 = d.cpuMs();
  d.resetPeakRss();
  return (s) => {
    const daemonCpu = d.cpuMs() - cpu0;
    const daemonRss = d.peakRssKiB();
    return {
      ms: s.ms,
      ...(s.cpuMs !== undefined ? { cpuMs: s.cpuMs + daemonCpu } : {}),
      ...(s.rssKiB !== undefined || daemonRss !== undefined ? { rssKiB: Math.max(s.rssKiB ?? 0, daemonRss ?? 0) } : {}),
    };
  };
}

/** `docker …` with the daemon's environment; throws with stderr's tail when it fails. Returns stdout. */
export function docker(d: Dockerd, args: readonly string[]): string {
  const r = spawnSync(DOCKER_CLI, args, { env: d.env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.status ?? r.signal}): ${(r.stderr ?? '').trim().split('\n').slice(-4).join('\n')}`);
  return r.stdout;
}

/** Empties the daemon's build cache and image store (the base images too), so the next build starts cold. */
export function resetDocker(d: Dockerd): void {
  docker(d, ['builder', 'prune', '-af']);
  const ids = [...new Set(docker(d, ['image', 'ls', '-aq']).split('\n').filter((s) => s !== ''))];
  if (ids.length > 0) docker(d, ['image', 'rm', '-f', ...ids]);
}

function waitReady(socket: string, proc: ManagedProcess): Promise<boolean> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const ping = (): Promise<boolean> =>
    new Promise((resolve) => {
      const req = request({ socketPath: socket, path: '/_ping', timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
      req.end();
    });
  return (async () => {
    while (Date.now() < deadline && !proc.exited()) {
      if (existsSync(socket) && (await ping())) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  })();
}

/**
 * dockerd bind-mounts its data-root onto itself (and may leave mounts in
 * its exec-root when killed): unmount whatever is mounted under `dir`,
 * deepest first, before removing it.
 */
function removeDaemonDir(dir: string): void {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4]?.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m): m is string => m !== undefined && (m === dir || m.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    if (spawnSync('umount', [m], { stdio: 'ignore' }).status !== 0) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
  }
  rmSync(dir, { recursive: true, force: true });
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** True while `pid` exists and is not a zombie (a zombie child of ours stays until the event loop reaps it). */
function running(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== undefined && stat[0] !== 'Z';
}

/** The fields of /proc/PID/stat after the command name (state first), or undefined when it is gone. */
function procStat(pid: number): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** utime + stime + cutime + cstime, in clock ticks (fields 14–17 of /proc/PID/stat). */
function cpuTicks(pid: number): number {
  const f = procStat(pid);
  return f === undefined ? 0 : [11, 12, 13, 14].reduce((n, i) => n + Number(f[i] ?? 0), 0);
}

function vmHwmKiB(pid: number): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

/** `root` and every process below it, from the parent PIDs in /proc. */
function tree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const ppid = Number(procStat(Number(name))?.[1]);
    if (!Number.isInteger(ppid)) continue;
    const list = children.get(ppid) ?? [];
    list.push(Number(name));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length > 0) {
    const p = todo.pop()!;
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

let ticks: number | undefined;

function clockTicks(): number {
  ticks ??= Number(capture(['getconf', 'CLK_TCK'])) || 100;
  return ticks;
}
