/**
 * Percent and ETA of a running create. borg reports counters but no total, so the total is
 * what the previous archive held (or what a pre-scan measured).
 */

/** What the estimate works towards. */
export interface Expectation {
  originalSize: number;
  nfiles: number;
}

/** An estimate at one moment. */
export interface Estimate {
  percent: number | null;
  etaSeconds: number | null;
}

/**
 * Estimate from the bytes and files seen so far. The fraction is the byte fraction (files
 * when the expected size is 0), capped at 99 % until borg says it finished; the ETA
 * extrapolates the elapsed time over the fraction left.
 */
export function estimateProgress(
  expected: Expectation | undefined,
  done: { originalSize: number; nfiles: number },
  elapsedSeconds: number,
): Estimate {
  if (!expected) return { percent: null, etaSeconds: null };
  let fraction: number | undefined;
  if (expected.originalSize > 0) fraction = done.originalSize / expected.originalSize;
  else if (expected.nfiles > 0) fraction = done.nfiles / expected.nfiles;
  if (fraction === undefined) return { percent: null, etaSeconds: null };
  const capped = Math.min(Math.max(fraction, 0), 0.99);
  const percent = Math.round(capped * 1000) / 10;
  const etaSeconds = capped > 0.005 && elapsedSeconds > 0 ? Math.max(0, Math.round((elapsedSeconds * (1 - capped)) / capped)) : null;
  return { percent, etaSeconds };
}
