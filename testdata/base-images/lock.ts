/**
 * A cross-process lock held as a directory (mkdir is atomic) with the
 * holder's PID inside. Test processes running in parallel call the script
 * at the same time; the first builds, the others wait and then find the
 * cache. A lock whose holder died is taken over.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function holder(dir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dir, 'pid'), 'utf8'));
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Runs `fn` while holding the lock `dir`; waits up to `timeoutMs` for another holder. */
export async function withLock<T>(dir: string, fn: () => Promise<T>, timeoutMs = 30 * 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let unknownSince: number | undefined;
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const pid = holder(dir);
    // No pid yet: the holder is between mkdir and writeFile, or died there; give it a few seconds.
    if (pid === undefined) unknownSince ??= Date.now();
    else unknownSince = undefined;
    const dead = pid !== undefined ? !alive(pid) : Date.now() - (unknownSince ?? Date.now()) > 5000;
    if (dead) {
      rmSync(dir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${dir} (held by pid ${pid ?? '?'})`);
    await sleep(250);
  }
  try {
    return await fn();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
