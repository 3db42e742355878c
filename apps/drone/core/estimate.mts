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

/** Where borg was at its first progress line of the step: the counters, and the seconds since the step began. */
export interface ProgressAnchor {
  originalSize: number;
  nfiles: number;
  elapsedSeconds: number;
}

/**
 * Estimate from the bytes and files seen so far. The fraction is the byte fraction (files
 * when the expected size is 0), capped at 99 % until borg says it finished. The ETA is the
 * fraction left at the rate since borg's first progress line (`since`): what came before it
 * (borg starting, opening the repository, loading its caches) happens once and says nothing
 * about the rate, and extrapolating it made short runs look longer than they were. Until
 * the rate can be measured, the elapsed time of the whole step is extrapolated instead.
 * Seconds to one decimal: the events carry that, Home Assistant's sensor shows whole ones.
 */
export function estimateProgress(
  expected: Expectation | undefined,
  done: { originalSize: number; nfiles: number },
  elapsedSeconds: number,
  since?: ProgressAnchor,
): Estimate {
  if (!expected) return { percent: null, etaSeconds: null };
  const fractionOf = (counters: { originalSize: number; nfiles: number }) => {
    if (expected.originalSize > 0) return counters.originalSize / expected.originalSize;
    if (expected.nfiles > 0) return counters.nfiles / expected.nfiles;
    return undefined;
  };
  const fraction = fractionOf(done);
  if (fraction === undefined) return { percent: null, etaSeconds: null };
  const capped = Math.min(Math.max(fraction, 0), 0.99);
  const percent = Math.round(capped * 1000) / 10;
  const tenths = (seconds: number) => Math.max(0, Math.round(seconds * 10) / 10);
  const start = since ? Math.min(Math.max(fractionOf(since) ?? 0, 0), 0.99) : undefined;
  const measured = since ? elapsedSeconds - since.elapsedSeconds : 0;
  if (start !== undefined && capped - start > 0.005 && measured > 0) {
    return { percent, etaSeconds: tenths((measured * (1 - capped)) / (capped - start)) };
  }
  const etaSeconds = capped > 0.005 && elapsedSeconds > 0 ? tenths((elapsedSeconds * (1 - capped)) / capped) : null;
  return { percent, etaSeconds };
}
