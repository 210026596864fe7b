/** Order statistics of one contender's samples. */
export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
}

/** Median (mean of the middle two for an even count), min and max. Throws on no values. */
export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) throw new Error('summarize: no values');
  const xs = [...values].sort((a, b) => a - b);
  const mid = xs.length >> 1;
  const median = xs.length % 2 === 1 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
  return { n: xs.length, median, min: xs[0]!, max: xs[xs.length - 1]! };
}

/** The median of the values that are defined, or undefined when none is. */
export function medianOf(values: readonly (number | undefined)[]): number | undefined {
  const xs = values.filter((x): x is number => x !== undefined);
  return xs.length === 0 ? undefined : summarize(xs).median;
}
