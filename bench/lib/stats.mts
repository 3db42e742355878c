/** Small statistics for the benchmark: medians, percentiles, summaries. */

/** The q-quantile (0–1) of the values, linear between ranks; NaN for none. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (sorted.length - 1) * q;
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  const a = sorted[low] ?? Number.NaN;
  const b = sorted[high] ?? Number.NaN;
  return a + (b - a) * (rank - low);
}

/** The median of the values. */
export const median = (values: readonly number[]) => quantile(values, 0.5);

/** A summary of repeated measurements. */
export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
  p99: number;
}

/** Summarise measurements (NaN fields for none). */
export function summarize(values: readonly number[]): Summary {
  return {
    n: values.length,
    median: median(values),
    min: values.length > 0 ? Math.min(...values) : Number.NaN,
    max: values.length > 0 ? Math.max(...values) : Number.NaN,
    p99: quantile(values, 0.99),
  };
}

/** Round to a number of decimals (JSON stays readable). */
export const round = (value: number, decimals = 3) => Math.round(value * 10 ** decimals) / 10 ** decimals;
