import { randomBytes } from 'node:crypto';
import { link, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { TransportError } from './transport-error.ts';

export interface FileLockOptions {
  /** Give up after this long (STORE_LOCKED); default 60 s. */
  timeoutMs?: number;
}

/**
 * Runs `fn` holding an exclusive lock between processes: the file `path`,
 * holding `pid host time` (made atomically: a written temp file hard-linked
 * into place, which fails when the lock exists), removed afterwards. A
 * lock whose holder is a process of this host that no longer exists (a
 * kill -9) is taken over; one held by a live process is waited for, then
 * STORE_LOCKED. For short critical sections (an index read-modify-write).
 */
export async function withFileLock<T>(path: string, fn: () => Promise<T>, opts: FileLockOptions = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  const me = `${process.pid} ${hostname()} ${Date.now()}\n`;
  for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
    // The lock appears with its content at once (a hard link to a written temp file), so a
    // holder killed at any point leaves either no lock or one that names it.
    const tmp = `${path}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
    try {
      await writeFile(tmp, me);
      await link(tmp, path);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      await unlink(tmp).catch(() => {});
    }
    if (await takeOverIfStale(path)) continue;
    if (Date.now() > deadline) {
      const holder = (await readFile(path, 'utf8').catch(() => '')).trim();
      throw new TransportError('STORE_LOCKED', `the local store is locked by another kiln (${holder || 'unknown holder'}): ${path}`, { path });
    }
    await sleep(wait);
  }
  try {
    return await fn();
  } finally {
    await unlink(path).catch(() => {});
  }
}

/** Removes the lock if its holder is a process of this host that is gone; true when it did. */
async function takeOverIfStale(path: string): Promise<boolean> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return true; // released meanwhile: try again at once
  const [pidText, host] = text.trim().split(' ');
  const pid = Number(pidText);
  const named = Number.isSafeInteger(pid) && pid > 0;
  // A lock that names no holder (an older kiln's, killed while writing it) is stale after a while.
  const orphan = !named && Date.now() - ((await stat(path).catch(() => undefined))?.mtimeMs ?? Date.now()) > 10_000;
  if (!orphan && (!named || host !== hostname() || processAlive(pid))) return false;
  // Rename first: of several processes that found it stale, one moves it away; the others see it gone.
  const aside = `${path}.stale-${process.pid}`;
  try {
    await rename(path, aside);
  } catch {
    return true;
  }
  const moved = await readFile(aside, 'utf8').catch(() => '');
  if (moved !== text) {
    // Not the stale lock after all (a new holder took the path between our reads): give it back, unless taken again.
    await link(aside, path).catch(() => {});
    await unlink(aside).catch(() => {});
    return false;
  }
  await unlink(aside).catch(() => {});
  return true;
}

/** Whether a process of this host with this pid exists (one we may not signal counts). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
