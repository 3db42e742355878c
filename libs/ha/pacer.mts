/**
 * A pacer for messages to Home Assistant. @digital-alchemy/hass counts every message its
 * socket sends and ends the process (`process.exit()`, status 0) when they average more than
 * SOCKET_CRASH_REQUESTS_PER_SEC (500) a second over SOCKET_AVG_DURATION (5 s); a coordinator
 * with 1,000 drones fires a plan and a problem event for each of them within seconds of its
 * first heartbeat round. Jobs queued here start at most `perSecond` in any second; what cannot
 * start yet waits for the window to free up. Two lanes: an urgent job (a press that starts a
 * run, whose deadline counts from when it is sent) starts before every normal one queued, each
 * lane first-in, first-out. A gate says whether jobs may start now: held jobs wait without
 * taking a slot, and when it says drop, every queued job is dropped at once, taking none.
 */

/** The clock and timer a pacer runs on (the scheduler's in the apps, a fake one in tests). */
export interface PacerClock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  /** Call `run` after `ms`; returns a function that cancels it. */
  after(ms: number, run: () => void): () => void;
}

/** Which queue a job waits in: urgent jobs start before every normal one. */
export type PacerLane = "urgent" | "normal";

/** Whether queued jobs may start now: `open` starts them, `hold` waits and looks again, `drop` drops them all. */
export type PacerGate = "open" | "hold" | "drop";

/** A queue of jobs started at most `perSecond` a second, urgent ones first. */
export interface Pacer {
  /** Queue `job` behind those queued before it in its lane; it starts once the rate and the gate allow. `dropped` runs instead if it is dropped. */
  push(job: () => void, dropped?: () => void, lane?: PacerLane): void;
  /** Drop every queued job now (each one's `dropped` runs); returns how many. */
  drop(): number;
  /** Drop every queued job and refuse new ones (dropped at once). */
  close(): void;
  /** Jobs waiting for their turn. */
  readonly waiting: number;
}

const WINDOW_MS = 1_000;
/** How often a held queue looks at its gate again. */
export const PACER_HOLD_MS = 250;

type Queued = { job: () => void; dropped?: () => void };

/**
 * A pacer that starts at most `perSecond` jobs in any window of one second. `onError` hears a
 * job (or a `dropped`) that threw; `gate` (open when absent) is asked before each start, and
 * `onDropped` hears how many jobs the gate dropped.
 */
export function createPacer(options: {
  perSecond: number;
  clock: PacerClock;
  onError: (error: unknown) => void;
  gate?: () => PacerGate;
  onDropped?: (count: number) => void;
}): Pacer {
  const { perSecond, clock } = options;
  if (!Number.isInteger(perSecond) || perSecond < 1) throw new Error(`a pacer needs a whole number of jobs per second (got ${perSecond})`);
  const lanes: Record<PacerLane, Queued[]> = { urgent: [], normal: [] };
  /** When each of the jobs started in the last second started, oldest first. */
  const started: number[] = [];
  let cancelTimer: (() => void) | undefined;
  let closed = false;
  let pumping = false;

  const waiting = () => lanes.urgent.length + lanes.normal.length;
  const wake = (ms: number) => {
    cancelTimer = clock.after(ms, () => {
      cancelTimer = undefined;
      pump();
    });
  };
  const dropAll = () => {
    const gone = [...lanes.urgent.splice(0), ...lanes.normal.splice(0)];
    for (const { dropped } of gone) {
      try {
        dropped?.();
      } catch (error) {
        options.onError(error);
      }
    }
    return gone.length;
  };

  const pump = () => {
    pumping = true;
    try {
      drain();
    } finally {
      pumping = false;
    }
  };
  const drain = () => {
    while (waiting() > 0 && !closed) {
      const gate = options.gate?.() ?? "open";
      if (gate === "drop") {
        // a job that cannot be sent takes no slot: what comes after the connection is back goes at once
        const count = dropAll();
        try {
          options.onDropped?.(count);
        } catch (error) {
          options.onError(error);
        }
        return;
      }
      if (gate === "hold") return wake(PACER_HOLD_MS);
      const now = clock.now();
      while (started.length > 0 && now - started[0]! >= WINDOW_MS) started.shift();
      if (started.length >= perSecond) {
        // the oldest start leaves the window first
        return wake(Math.max(1, started[0]! + WINDOW_MS - now));
      }
      started.push(now);
      const next = (lanes.urgent.length > 0 ? lanes.urgent : lanes.normal).shift()!;
      try {
        next.job();
      } catch (error) {
        options.onError(error);
      }
    }
  };

  return {
    push: (job, dropped, lane = "normal") => {
      if (closed) {
        dropped?.();
        return;
      }
      lanes[lane].push({ job, dropped });
      // with a timer set, jobs are already waiting (and a job that queues another is still being started): this one goes in its turn
      if (cancelTimer === undefined && !pumping) pump();
    },
    drop: dropAll,
    close: () => {
      closed = true;
      cancelTimer?.();
      cancelTimer = undefined;
      dropAll();
    },
    get waiting() {
      return waiting();
    },
  };
}
