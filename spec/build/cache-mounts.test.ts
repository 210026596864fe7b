/** RUN cache mounts' `sharing=` between RUN steps that run at the same time (independent stages). */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CacheMounts } from '../../lib/build/cache-mounts.ts';

const home = mkdtempSync(join(tmpdir(), 'kiln-cachemounts-'));
after(() => rmSync(home, { recursive: true, force: true }));

const spec = (id: string, sharing: 'shared' | 'private' | 'locked') => ({ id, sharing, uid: 0, gid: 0, mode: 0o750 });

/** Whether `p` has settled after the event loop had its chance. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true), () => (done = true));
  await new Promise((r) => setImmediate(r));
  return done;
}

test('shared: every RUN gets the same folder at once, made with the mount mode', async () => {
  const c = new CacheMounts(home);
  const a = await c.lease(spec('s', 'shared'));
  const b = await c.lease(spec('s', 'shared'));
  assert.equal(a.dir, b.dir);
  assert.equal(statSync(a.dir).mode & 0o7777, 0o750);
  a.release();
  b.release();
});

test('locked: the second RUN waits until the first releases, in order', async () => {
  const c = new CacheMounts(home);
  const first = await c.lease(spec('l', 'locked'));
  const second = c.lease(spec('l', 'locked'));
  const third = c.lease(spec('l', 'locked'));
  assert.equal(await settled(second), false, 'waits while the first holds it');
  first.release();
  const got = await second;
  assert.equal(got.dir, first.dir);
  assert.equal(await settled(third), false, 'the third waits for the second');
  got.release();
  (await third).release();
});

test('private: a RUN that finds the folder in use gets its own, removed afterwards', async () => {
  const c = new CacheMounts(home);
  const a = await c.lease(spec('p', 'private'));
  const b = await c.lease(spec('p', 'private'));
  assert.notEqual(a.dir, b.dir);
  assert.equal(statSync(b.dir).mode & 0o7777, 0o750);
  b.release();
  assert.equal(existsSync(b.dir), false);
  a.release();
  const again = await c.lease(spec('p', 'private'));
  assert.equal(again.dir, a.dir, 'free again: the shared folder');
  again.release();
  assert.equal(existsSync(a.dir), true, 'the real cache folder stays');
});
