/** The store's cross-process lock: mutual exclusion, a dead holder's lock taken over, a live holder waited for. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { withFileLock } from '../../lib/transport/file-lock.ts';

const dir = mkdtempSync(join(tmpdir(), 'kiln-lock-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('callers run one at a time, and the lock file is gone afterwards', async () => {
  const lock = join(dir, 'a.lock');
  let inside = 0;
  let most = 0;
  await Promise.all(Array.from({ length: 6 }, () => withFileLock(lock, async () => {
    most = Math.max(most, ++inside);
    await sleep(5);
    inside--;
  })));
  assert.equal(most, 1);
  assert.equal(existsSync(lock), false);
});

test('a lock left by a killed process is taken over', async () => {
  const lock = join(dir, 'b.lock');
  const dead = spawnSync('true').pid!; // a pid that has exited
  writeFileSync(lock, `${dead} ${hostname()} 1\n`);
  assert.equal(await withFileLock(lock, async () => 'got it', { timeoutMs: 2000 }), 'got it');
});

test('an empty lock (a holder killed while writing it, before locks were written whole) is stale after 10 s', async () => {
  const lock = join(dir, 'd.lock');
  writeFileSync(lock, '');
  const old = new Date(Date.now() - 20_000);
  utimesSync(lock, old, old);
  assert.equal(await withFileLock(lock, async () => 'taken over', { timeoutMs: 2000 }), 'taken over');
  writeFileSync(lock, '');
  await assert.rejects(withFileLock(lock, async () => 'never', { timeoutMs: 200 }), { code: 'STORE_LOCKED' }, 'a fresh empty lock may be being written');
  rmSync(lock);
});

test('a lock held by a live process is waited for, then STORE_LOCKED naming the holder', async () => {
  const lock = join(dir, 'c.lock');
  const holder = spawn('sleep', ['30']);
  try {
    writeFileSync(lock, `${holder.pid} ${hostname()} 1\n`);
    await assert.rejects(withFileLock(lock, async () => 'never', { timeoutMs: 300 }), (err: unknown) => (err as { code?: string }).code === 'STORE_LOCKED' && new RegExp(`${holder.pid}`).test((err as Error).message));
    rmSync(lock);
    assert.equal(await withFileLock(lock, async () => 'after release', { timeoutMs: 2000 }), 'after release');
  } finally {
    holder.kill();
  }
});
