import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { SandboxError } from './errors.ts';

export interface SpawnInput {
  command: string;
  args: readonly string[];
  env: Record<string, string>;
  /** Set for bwrap's `block` user namespace mode: fd 3 gives the pid, fd 4 releases it once the maps are written. */
  blockUserns: boolean;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  signal?: AbortSignal;
}

export interface SpawnResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  tail: string;
  aborted: boolean;
}

/** The umask RUN commands get: runc's (and so Docker's and BuildKit's) default. */
const CONTAINER_UMASK = 0o022;

/** Most bytes of output kept for an error message. */
const TAIL_BYTES = 4096;
const TAIL_LINES = 20;

/**
 * Runs the sandbox process in its own process group (so an abort kills
 * everything it started), with umask 0022, stdin from /dev/null, streaming stdout and stderr
 * to the callbacks and keeping their last lines. Resolves when the process
 * has exited and its output is drained.
 */
export function spawnSandbox(input: SpawnInput): Promise<SpawnResult> {
  return new Promise((resolve, reject) => {
    const stdio: ('ignore' | 'pipe')[] = ['ignore', 'pipe', 'pipe'];
    if (input.blockUserns) stdio.push('pipe', 'pipe');
    // As runc: the command runs with umask 0022, whatever kiln's own (the child inherits it at fork).
    const umask = process.umask(CONTAINER_UMASK);
    let child;
    try {
      child = spawn(input.command, input.args, { env: input.env, stdio, detached: true });
    } finally {
      process.umask(umask);
    }
    let tail = Buffer.alloc(0);
    let aborted = false;
    const keep = (chunk: Buffer): void => {
      tail = Buffer.concat([tail, chunk]);
      if (tail.length > TAIL_BYTES * 2) tail = tail.subarray(tail.length - TAIL_BYTES);
    };
    child.stdout!.on('data', (c: Buffer) => {
      keep(c);
      input.onStdout?.(c);
    });
    child.stderr!.on('data', (c: Buffer) => {
      keep(c);
      input.onStderr?.(c);
    });
    const kill = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const onAbort = (): void => {
      aborted = true;
      kill();
    };
    input.signal?.addEventListener('abort', onAbort, { once: true });
    if (input.signal?.aborted) onAbort();
    if (input.blockUserns) {
      releaseUserns(child.stdio[3] as Readable, child.stdio[4] as Writable).catch((err: unknown) => {
        kill();
        reject(err);
      });
    }
    child.on('error', (err) => {
      input.signal?.removeEventListener('abort', onAbort);
      reject(new SandboxError('SANDBOX_UNAVAILABLE', `cannot start ${input.command}: ${err.message}`, { cause: err }));
    });
    child.on('close', (exitCode, signal) => {
      input.signal?.removeEventListener('abort', onAbort);
      resolve({ exitCode, signal, tail: lastLines(tail), aborted });
    });
  });
}

function lastLines(buf: Buffer): string {
  const text = buf.subarray(Math.max(0, buf.length - TAIL_BYTES)).toString('utf8');
  return text.replace(/\n$/, '').split('\n').slice(-TAIL_LINES).join('\n');
}

/**
 * bwrap's --info-fd / --userns-block-fd handshake: reads the sandbox's pid,
 * writes uid and gid maps that map every id kiln itself has onto the same
 * id (so ownership on disk is the image's), then lets bwrap go on.
 */
async function releaseUserns(info: Readable, block: Writable): Promise<void> {
  let text = '';
  for await (const chunk of info) {
    text += String(chunk);
    if (text.includes('}')) break;
  }
  const m = /"child-pid"\s*:\s*(\d+)/.exec(text);
  if (m === null) throw new SandboxError('SANDBOX_UNAVAILABLE', `bubblewrap did not report its sandbox pid (${JSON.stringify(text.slice(0, 200))})`);
  const pid = m[1]!;
  try {
    writeFileSync(`/proc/${pid}/uid_map`, identityMap('/proc/self/uid_map'));
    writeFileSync(`/proc/${pid}/gid_map`, identityMap('/proc/self/gid_map'));
  } catch (cause) {
    throw new SandboxError('SANDBOX_UNAVAILABLE', `cannot map ids into the sandbox's user namespace: ${(cause as Error).message}`, { cause });
  }
  block.end('1');
}

/** Every range of ids this process has, mapped onto itself (kiln's own ids as the parent namespace sees them). */
export function identityMap(mapFile: string): string {
  return readFileSync(mapFile, 'utf8')
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length === 3)
    .map(([inner, , count]) => `${inner} ${inner} ${count}\n`)
    .join('');
}
