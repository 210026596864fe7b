/** Runs async jobs with at most `concurrency` of them in flight, in submission order. */
export type Limiter = <T>(job: () => Promise<T>) => Promise<T>;

/**
 * A concurrency limiter for callers that pull or push many blobs. Jobs
 * start in the order given; a failing job does not stop the others.
 */
export function createLimiter(concurrency: number): Limiter {
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive integer, not ${concurrency}`);
  let active = 0;
  const waiting: (() => void)[] = [];
  const next = (): void => {
    active--;
    waiting.shift()?.();
  };
  return async <T>(job: () => Promise<T>): Promise<T> => {
    if (active >= concurrency) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await job();
    } finally {
      next();
    }
  };
}

/**
 * Maps `items` through `fn` with at most `concurrency` calls in flight;
 * results keep the items' order. Rejects with the first failure, after
 * every started call has settled (nothing keeps running behind the caller).
 */
export async function mapLimit<T, R>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const limit = createLimiter(concurrency);
  const settled = await Promise.allSettled(items.map((item, i) => limit(() => fn(item, i))));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<R>).value);
}
