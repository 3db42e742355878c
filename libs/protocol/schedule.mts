/**
 * Scheduling rules both apps apply: the drone to its own schedule (standalone mode), the
 * coordinator to the drones it schedules.
 */

/** How a failed backup is tried again: the first retry after `baseMs`, doubled after each further failure. */
export interface RetryRule {
  /** Failed attempts in a row after which the drone waits a whole frequency instead. */
  attempts: number;
  /** Wait before the first retry. */
  baseMs: number;
}

/** The drone's own schedule (standalone mode) retries like the coordinator's defaults: 5, 10 minutes, then a frequency. */
export const DEFAULT_RETRY: RetryRule = { attempts: 3, baseMs: 5 * 60_000 };

/**
 * When a backup that failed `attempts` times in a row, the last at `failedAt`, is tried again:
 * `baseMs`, doubled after each further failure, and a whole frequency once `rule.attempts`
 * runs in a row have failed (never longer than that).
 */
export function retryTime(failedAt: Date, attempts: number, frequencyMinutes: number, rule: RetryRule = DEFAULT_RETRY): Date {
  const period = Math.max(frequencyMinutes, 1) * 60_000;
  const wait = attempts >= rule.attempts ? period : Math.min(rule.baseMs * 2 ** Math.max(attempts - 1, 0), period);
  return new Date(failedAt.getTime() + wait);
}

/**
 * A drone's next regular time after a cancel at `cancelledAt`: its last backup plus the first
 * whole number of frequencies that lies after the cancel; a drone never backed up waits one
 * frequency from the cancel.
 */
export function nextRegularTime(lastBackup: Date | null, frequencyMinutes: number, cancelledAt: Date): Date {
  const period = Math.max(frequencyMinutes, 1) * 60_000;
  if (lastBackup === null) return new Date(cancelledAt.getTime() + period);
  const periods = Math.floor((cancelledAt.getTime() - lastBackup.getTime()) / period) + 1;
  return new Date(lastBackup.getTime() + Math.max(periods, 1) * period);
}
