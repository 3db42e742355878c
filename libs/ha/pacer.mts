/**
 * A first-in, first-out pacer for messages to Home Assistant. @digital-alchemy/hass counts
 * every message its socket sends and ends the process (`process.exit()`, status 0) when they
 * average more than SOCKET_CRASH_REQUESTS_PER_SEC (500) a second over SOCKET_AVG_DURATION
 * (5 s); a coordinator with 1,000 drones fires a plan and a problem event for each of them
 * within seconds of its first heartbeat round. Jobs queued here start in order, at most
 * `perSecond` in any second; what cannot start yet waits for the window to free up.
 */

/** The clock and timer a pacer runs on (the scheduler's in the apps, a fake one in tests). */
export interface PacerClock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  /** Call `run` after `ms`; returns a function that cancels it. */
  after(ms: number, run: () => void): () => void;
}

/** A FIFO queue of jobs started at most `perSecond` a second. */
export interface Pacer {
  /** Queue `job` behind those queued before it; it starts once the rate allows. `dropped` runs instead if the pacer closes first. */
  push(job: () => void, dropped?: () => void): void;
  /** Drop every queued job (each one's `dropped` runs) and refuse new ones (dropped at once). */
  close(): void;
  /** Jobs waiting for their turn. */
  readonly waiting: number;
}

const WINDOW_MS = 1_000;

/** A pacer that starts at most `perSecond` jobs in any window of one second; `onError` hears a job that threw. */
export function createPacer(options: { perSecond: number; clock: PacerClock; onError: (error: unknown) => void }): Pacer {
  const { perSecond, clock } = options;
  if (!Number.isInteger(perSecond) || perSecond < 1) throw new Error(`a pacer needs a whole number of jobs per second (got ${perSecond})`);
  const queue: { job: () => void; dropped?: () => void }[] = [];
  /** When each of the jobs started in the last second started, oldest first. */
  const started: number[] = [];
  let cancelTimer: (() => void) | undefined;
  let closed = false;
  let pumping = false;

  const pump = () => {
    pumping = true;
    try {
      drain();
    } finally {
      pumping = false;
    }
  };
  const drain = () => {
    while (queue.length > 0 && !closed) {
      const now = clock.now();
      while (started.length > 0 && now - started[0]! >= WINDOW_MS) started.shift();
      if (started.length >= perSecond) {
        // the oldest start leaves the window first
        const wait = Math.max(1, started[0]! + WINDOW_MS - now);
        cancelTimer = clock.after(wait, () => {
          cancelTimer = undefined;
          pump();
        });
        return;
      }
      started.push(now);
      const next = queue.shift()!;
      try {
        next.job();
      } catch (error) {
        options.onError(error);
      }
    }
  };

  return {
    push: (job, dropped) => {
      if (closed) {
        dropped?.();
        return;
      }
      queue.push({ job, dropped });
      // with a timer set, jobs are already waiting (and a job that queues another is still being started): this one goes behind them
      if (cancelTimer === undefined && !pumping) pump();
    },
    close: () => {
      closed = true;
      cancelTimer?.();
      cancelTimer = undefined;
      for (const { dropped } of queue.splice(0)) {
        try {
          dropped?.();
        } catch (error) {
          options.onError(error);
        }
      }
    },
    get waiting() {
      return queue.length;
    },
  };
}
