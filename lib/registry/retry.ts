import { setTimeout as sleep } from 'node:timers/promises';
import { RegistryError } from './registry-error.ts';
import { isTransient } from './http-transport.ts';

export interface RetryPolicy {
  /** Total attempts, the first included (1 = no retry). */
  attempts: number;
  /** Delay before the first retry; doubles each time. */
  baseDelayMs: number;
  /** Cap on one computed delay. */
  maxDelayMs: number;
  /** Cap on a delay the registry asks for with Retry-After. */
  maxRetryAfterMs: number;
  /** Source of jitter in [0, 1). */
  random: () => number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 5,
  baseDelayMs: 250,
  maxDelayMs: 8_000,
  maxRetryAfterMs: 60_000,
  random: Math.random,
};

/**
 * Parses Retry-After (delay-seconds or an HTTP-date) into milliseconds from
 * `now`; undefined when absent or unparseable.
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** True for errors a later attempt may not see: 5xx, 429, resets, timeouts. 4xx never. */
export function isRetryable(err: unknown): boolean {
  if (isTransient(err)) return true;
  if (!(err instanceof RegistryError)) return false;
  const s = err.status;
  return s !== undefined && (s === 429 || s >= 500);
}

/**
 * The wait before retry number `retry` (1-based): the registry's
 * Retry-After when it gave one (capped), else exponential backoff with
 * "equal jitter" (half fixed, half random) so that parallel clients spread.
 */
export function retryDelay(policy: RetryPolicy, retry: number, err: unknown): number {
  const asked = err instanceof RegistryError ? err.retryAfterMs : undefined;
  if (asked !== undefined) return Math.min(asked, policy.maxRetryAfterMs);
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  return exp / 2 + (exp / 2) * policy.random();
}

/**
 * Runs `attempt` until it succeeds, fails with a non-retryable error, or
 * the policy's attempts are used up (the last error is thrown). Only for
 * operations that are safe to repeat from the start. `onRetry` is told of
 * each retry before the wait.
 */
export async function withRetry<T>(
  policy: RetryPolicy,
  signal: AbortSignal | undefined,
  attempt: (n: number) => Promise<T>,
  onRetry?: (err: unknown, delayMs: number) => void,
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (n >= policy.attempts || !isRetryable(err) || signal?.aborted) throw err;
      const delay = retryDelay(policy, n, err);
      onRetry?.(err, delay);
      await sleep(delay, undefined, signal ? { signal } : undefined);
    }
  }
}
