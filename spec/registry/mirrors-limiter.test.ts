import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMirrors } from '../../lib/registry/mirrors.ts';
import { createLimiter, mapLimit } from '../../lib/registry/limiter.ts';
import { RegistryError } from '../../lib/registry/registry-error.ts';

test('mirror specs from flags and from a comma-separated variable', () => {
  const m = parseMirrors(['docker.io=http://127.0.0.1:5000', 'index.docker.io=https://m.example/prefix , ghcr.io=https://g.example']);
  assert.deepEqual([...m.keys()], ['docker.io', 'ghcr.io']);
  assert.deepEqual(m.get('docker.io')!.map(String), ['http://127.0.0.1:5000/', 'https://m.example/prefix']);
  assert.deepEqual(parseMirrors(''), new Map());
});

test('bad mirror specs are MIRROR_INVALID and never echo a password', () => {
  for (const bad of ['docker.io', '=http://x', 'docker.io=ftp://x', 'docker.io=not a url', 'docker.io=http://x/?q=1']) {
    assert.throws(() => parseMirrors(bad), (e: unknown) => e instanceof RegistryError && e.code === 'MIRROR_INVALID', bad);
  }
  assert.throws(() => parseMirrors('docker.io=http://user:hunter2@m.example'), (e: unknown) => e instanceof RegistryError && !e.message.includes('hunter2'));
});

test('the limiter never runs more than N jobs at once and runs them all', async () => {
  const limit = createLimiter(3);
  let active = 0;
  let peak = 0;
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => limit(async () => {
    active++;
    peak = Math.max(peak, active);
    await new Promise((r) => setTimeout(r, 1 + (i % 4)));
    active--;
    return i;
  })));
  assert.equal(peak, 3);
  assert.deepEqual(results, Array.from({ length: 20 }, (_, i) => i));
  assert.throws(() => createLimiter(0), RangeError);
});

test('mapLimit keeps order, waits for every started job, and rejects with the first failure', async () => {
  assert.deepEqual(await mapLimit([3, 1, 2], 2, async (x) => x * 10), [30, 10, 20]);
  const finished: number[] = [];
  await assert.rejects(mapLimit([1, 2, 3, 4], 2, async (x) => {
    await new Promise((r) => setTimeout(r, x));
    finished.push(x);
    if (x === 1) throw new Error('one');
    return x;
  }), /one/);
  assert.deepEqual(finished.sort(), [1, 2, 3, 4]);
});
