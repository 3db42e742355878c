/** Waiting in tests: one poll, and one fixed moment for tests that fake the clock. */

/** The moment tests start from: 02:00 local time on 22 November 2026 (the backup window is in local time). */
export const T0 = new Date(2026, 10, 22, 2, 0, 0);

/** `minutes` after (or before, negative) `from`. */
export const minutesFrom = (from: Date, minutes: number) => new Date(from.getTime() + minutes * 60_000);

/**
 * Wait until `probe` returns something (not undefined, not false), polling every `everyMs`.
 * It measures with `performance.now()` and sleeps with real timers, so tests that fake only
 * `Date` can use it. The deadline is there so that a broken feature fails instead of hanging.
 */
export async function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 20_000,
  everyMs = 10,
): Promise<T> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined && found !== false) return found;
    if (performance.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise(resolve => setTimeout(resolve, everyMs));
  }
}
