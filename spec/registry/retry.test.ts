import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RETRY, isRetryable, parseRetryAfter, retryDelay, withRetry } from '../../lib/registry/retry.ts';
import { RegistryError, errorFromResponse } from '../../lib/registry/registry-error.ts';

const ctx = { registry: 'r.example', repository: 'a/b', reference: 'v1' };
const status = (s: number, retryAfterMs?: number): RegistryError => errorFromResponse(s, '', ctx, { retryAfterMs });
const fast = { ...DEFAULT_RETRY, baseDelayMs: 1, maxDelayMs: 2 };

test('Retry-After as seconds or as an HTTP date', () => {
  const now = Date.parse('2024-05-01T12:00:00Z');
  assert.equal(parseRetryAfter('7', now), 7000);
  assert.equal(parseRetryAfter(' 0 ', now), 0);
  assert.equal(parseRetryAfter('Wed, 01 May 2024 12:00:30 GMT', now), 30_000);
  assert.equal(parseRetryAfter('Wed, 01 May 2024 11:00:00 GMT', now), 0);
  assert.equal(parseRetryAfter('soon', now), undefined);
  assert.equal(parseRetryAfter(undefined, now), undefined);
});

test('5xx, 429 and connection failures are retryable; 4xx and foreign errors are not', () => {
  assert.ok(isRetryable(status(500)));
  assert.ok(isRetryable(status(503)));
  assert.ok(isRetryable(status(429)));
  assert.ok(isRetryable(new RegistryError('REGISTRY_UNREACHABLE', 'x')));
  assert.ok(isRetryable(new RegistryError('REGISTRY_TIMEOUT', 'x')));
  for (const s of [400, 401, 403, 404, 405]) assert.ok(!isRetryable(status(s)), String(s));
  assert.ok(!isRetryable(new RegistryError('DIGEST_MISMATCH', 'x')));
  assert.ok(!isRetryable(new Error('bug')));
});

test('backoff doubles with equal jitter, capped; Retry-After wins, capped too', () => {
  const policy = { ...DEFAULT_RETRY, baseDelayMs: 100, maxDelayMs: 1000, maxRetryAfterMs: 5000 };
  const low = { ...policy, random: () => 0 };
  const high = { ...policy, random: () => 0.999999 };
  assert.equal(retryDelay(low, 1, status(503)), 50);
  assert.ok(Math.abs(retryDelay(high, 1, status(503)) - 100) < 0.01);
  assert.equal(retryDelay(low, 3, status(503)), 200);
  assert.equal(retryDelay(low, 10, status(503)), 500);
  assert.equal(retryDelay(low, 1, status(429, 3000)), 3000);
  assert.equal(retryDelay(low, 1, status(429, 60_000)), 5000);
});

test('withRetry retries transient failures until success', async () => {
  let calls = 0;
  const seen: number[] = [];
  const got = await withRetry(fast, undefined, async () => {
    calls++;
    if (calls < 3) throw status(503);
    return 'ok';
  }, (_e, d) => seen.push(d));
  assert.equal(got, 'ok');
  assert.equal(calls, 3);
  assert.equal(seen.length, 2);
});

test('withRetry gives up after the policy attempts, with the last error', async () => {
  let calls = 0;
  await assert.rejects(withRetry({ ...fast, attempts: 4 }, undefined, async () => {
    calls++;
    throw status(502);
  }), (e: unknown) => e instanceof RegistryError && e.code === 'REGISTRY_UNAVAILABLE');
  assert.equal(calls, 4);
});

test('withRetry does not retry a 4xx', async () => {
  let calls = 0;
  await assert.rejects(withRetry(fast, undefined, async () => {
    calls++;
    throw status(404);
  }), (e: unknown) => e instanceof RegistryError && e.status === 404);
  assert.equal(calls, 1);
});

test('an aborted signal stops the wait', async () => {
  const ac = new AbortController();
  const p = withRetry({ ...fast, baseDelayMs: 60_000, maxDelayMs: 60_000 }, ac.signal, async () => {
    throw status(503);
  });
  setTimeout(() => ac.abort(), 10);
  await assert.rejects(p, (e: unknown) => (e as Error).name === 'AbortError');
});
