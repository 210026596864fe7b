/**
 * Test kit: long-running helper processes (a registry, a token server) that
 * never outlive the test process. Each child is stopped by its own PID, and
 * three nets catch a test that forgets to stop it or dies:
 * - `process.on('exit')` kills every child still running and removes its
 *   temp folders (normal exit, uncaught exception, process.exit());
 * - a detached watchdog (`sh`) per child reads a pipe from this process and
 *   kills the child when the pipe closes, which also covers SIGKILL/SIGTERM
 *   of the test process, where no 'exit' handler runs;
 * - children, their pipes and watchdogs are unref'd, so a forgotten child
 *   never keeps a finished test process alive.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Socket } from 'node:net';

/** A child started by {@link startManaged}. */
export interface ManagedProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  /** stdout and stderr so far, interleaved as they arrived (the last 4 MiB). */
  logs(): string;
  /** True once the child has exited. */
  exited(): boolean;
  /** Resolves with the exit code (or signal name) once the child has exited. */
  readonly exit: Promise<number | string>;
  /** SIGTERM, then SIGKILL after `graceMs`; waits for the exit and removes `cleanupDirs`. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

export interface ManagedOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Folders removed when the child is stopped (or at process exit). */
  cleanupDirs?: readonly string[];
  /** Folders the watchdog removes if this process dies without stopping the child (the owner removes them otherwise). */
  orphanDirs?: readonly string[];
}

const LOG_LIMIT = 4 << 20;
const live = new Set<{ pid: number; watchdog: number | undefined; dirs: readonly string[] }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const entry of live) {
      if (entry.pid > 0) killQuietly(entry.pid, 'SIGKILL');
      if (entry.watchdog !== undefined) killQuietly(entry.watchdog, 'SIGKILL');
      for (const dir of entry.dirs) rmSync(dir, { recursive: true, force: true });
    }
    live.clear();
  });
}

/** Removes `dir` at process exit unless the returned function is called first (it forgets the folder). */
export function removeAtExit(dir: string): () => void {
  installExitHook();
  const entry = { pid: 0, watchdog: undefined, dirs: [dir] };
  live.add(entry);
  return () => {
    live.delete(entry);
  };
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function unrefPipe(stream: unknown): void {
  (stream as Partial<Socket> | null)?.unref?.();
}

/**
 * Watches this process on the child's behalf: `read` returns when the pipe
 * from this process closes, however this process ended. Detached, so a
 * terminal's SIGINT to our process group does not kill it before it acts.
 */
function startWatchdog(pid: number, dirs: readonly string[]): ChildProcess {
  const script = 'read _ignored; kill -KILL "$1" 2>/dev/null; shift; if [ $# -gt 0 ]; then rm -rf -- "$@"; fi';
  const dog = spawn('sh', ['-c', script, 'kiln-test-watchdog', String(pid), ...dirs], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
  });
  dog.on('error', () => undefined);
  dog.unref();
  unrefPipe(dog.stdin);
  return dog;
}

/**
 * Starts `command args` as a managed child: output captured for `logs()`,
 * killed by PID on `stop()`, at process exit or when this process dies.
 * Throws if the command cannot be started.
 */
export async function startManaged(command: string, args: readonly string[], opts: ManagedOptions = {}): Promise<ManagedProcess> {
  installExitHook();
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  const pid = child.pid!;
  const dog = startWatchdog(pid, [...(opts.cleanupDirs ?? []), ...(opts.orphanDirs ?? [])]);
  const entry = { pid, watchdog: dog.pid, dirs: opts.cleanupDirs ?? [] };
  live.add(entry);

  let log = '';
  const append = (chunk: Buffer): void => {
    log += chunk.toString('utf8');
    if (log.length > LOG_LIMIT) log = log.slice(log.length - LOG_LIMIT);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  let done = false;
  const exit = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      resolve(code ?? signal ?? -1);
    });
  });
  child.unref();
  for (const s of [child.stdin, child.stdout, child.stderr]) unrefPipe(s);

  let stopping: Promise<void> | undefined;
  const stop = (graceMs = 3000): Promise<void> => {
    stopping ??= (async () => {
      if (dog.pid !== undefined) killQuietly(dog.pid, 'SIGKILL');
      if (!done) {
        killQuietly(pid, 'SIGTERM');
        const timer = setTimeout(() => killQuietly(pid, 'SIGKILL'), graceMs);
        await exit;
        clearTimeout(timer);
      }
      live.delete(entry);
      await Promise.all(entry.dirs.map((d) => rm(d, { recursive: true, force: true })));
    })();
    return stopping;
  };
  return { pid, child, logs: () => log, exited: () => done, exit, stop };
}
