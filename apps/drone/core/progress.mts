/**
 * Live progress: a tracker per step turns borg's progress lines into progress events (with
 * our own estimate, as borg create gives no total), and one channel throttles them for
 * listeners (the first and the last of a run always go out).
 */
import { type BorgEvent, checkpointWatch } from "../../../libs/borg/index.mjs";
import {
  type ApplicationState,
  clipText,
  EVENT_LIMITS,
  type Operation,
  type ProgressEvent,
  PROTOCOL_VERSION,
} from "../../../libs/protocol/index.mjs";
import { estimateProgress, type Expectation, type ProgressAnchor } from "./estimate.mjs";
import { type RepositoryRole } from "./repositories.mjs";
import { type DroneLog } from "./run-context.mjs";

/** Where progress events go: throttled to listeners, the latest one kept for the live status. */
export interface ProgressChannel {
  /** Keep the event as the latest; send it when the last one sent is old enough. */
  emit: (event: ProgressEvent) => void;
  /** A run starts: its first event goes out at once. */
  reset: () => void;
  /** A run ended: its latest event goes out now if it has not (its last step's last event). */
  flush: () => void;
  subscribe(listener: (event: ProgressEvent) => void): () => void;
}

/**
 * A progress channel sending at most one event per `intervalMs`, and the first and the last of
 * a run; `onLatest` sees every event. A step's own first and last wait for the interval like
 * any other: each event is two rows in Home Assistant's recorder, the status event already
 * says when the step changes, and the run's result follows its last event.
 */
export function createProgressChannel(intervalMs: number, onLatest: (event: ProgressEvent) => void): ProgressChannel {
  const listeners = new Set<(event: ProgressEvent) => void>();
  let lastSentAt = 0;
  let unsent: ProgressEvent | undefined;
  const send = (event: ProgressEvent) => {
    unsent = undefined;
    lastSentAt = Date.now();
    for (const listener of listeners) listener(event);
  };
  return {
    emit: event => {
      onLatest(event);
      unsent = event;
      if (Date.now() - lastSentAt >= intervalMs) send(event);
    },
    reset: () => {
      lastSentAt = 0;
      unsent = undefined;
    },
    flush: () => void (unsent && send(unsent)),
    subscribe: listener => {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}

/** The progress of one step: fed borg's events, finished once. */
export interface ProgressTracker {
  onEvent: (event: BorgEvent) => void;
  /** The step ended: a last event (100 % when it succeeded). Later calls do nothing. */
  finish: (succeeded: boolean) => void;
}

/** What a tracker needs to know of its run. */
export interface TrackerOptions {
  droneId: string;
  runId: string;
  operation: Operation;
  role: RepositoryRole;
  emit: ProgressChannel["emit"];
  /** Application State now: each event carries it. */
  state: () => ApplicationState;
  /** The percent last shown: a failed step's last event keeps it. */
  lastPercent: () => number | null;
  /** What the step is expected to reach (set later by a pre-scan, if at all). */
  expectation: { value?: Expectation };
  /** borg committed a checkpoint archive (crash recovery claims one only then). */
  onCheckpoint: () => void;
  log: DroneLog;
  /** The parts of a step that borg counts from 0 % each, in order: one bar over all of them. */
  phases?: Phases;
}

/** The parts of one borg command, by the msgid of their progress, with their share of the work. */
export type Phases = readonly { msgid: string; weight: number }[];

/**
 * The whole step's percent when phase `msgid` is `fraction` done: the phases before it count
 * in full. Undefined for a msgid that is not one of the phases.
 */
export function phasePercent(phases: Phases, msgid: string | undefined, fraction: number): number | undefined {
  const index = phases.findIndex(phase => phase.msgid === msgid);
  const current = phases[index];
  if (current === undefined) return undefined;
  const total = phases.reduce((sum, phase) => sum + phase.weight, 0);
  const done = phases.slice(0, index).reduce((sum, phase) => sum + phase.weight, 0);
  return total > 0 ? ((done + current.weight * fraction) / total) * 100 : undefined;
}

/** Track one step's progress. */
export function trackProgress(options: TrackerOptions): ProgressTracker {
  const { emit, expectation, log } = options;
  const stepStarted = Date.now();
  const checkpoint = checkpointWatch();
  let finished = false;
  let counters = { originalSize: 0, compressedSize: 0, deduplicatedSize: 0, nfiles: 0 };
  let anchor: ProgressAnchor | undefined;
  let highest = 0;
  const base = (percent: number | null, etaSeconds: number | null, path: string | null, finished: boolean): ProgressEvent => ({
    v: PROTOCOL_VERSION,
    drone_id: options.droneId,
    run_id: options.runId,
    operation: options.operation,
    repository: options.role,
    state: options.state(),
    percent,
    eta_seconds: etaSeconds,
    original_size: counters.originalSize,
    compressed_size: counters.compressedSize,
    deduplicated_size: counters.deduplicatedSize,
    nfiles: counters.nfiles,
    path: path === null ? null : clipText(path, EVENT_LIMITS.longPathBytes),
    elapsed_seconds: Math.max(0, (Date.now() - stepStarted) / 1000),
    expected_size: expectation.value ? expectation.value.originalSize : null,
    finished,
    time: new Date().toISOString(),
  });
  const onEvent = (event: BorgEvent) => {
    const before = checkpoint.committed();
    checkpoint.see(event);
    if (!before && checkpoint.committed()) options.onCheckpoint();
    if (event.type === "archive_progress" && !event.finished) {
      counters = {
        originalSize: event.originalSize ?? counters.originalSize,
        compressedSize: event.compressedSize ?? counters.compressedSize,
        deduplicatedSize: event.deduplicatedSize ?? counters.deduplicatedSize,
        nfiles: event.nfiles ?? counters.nfiles,
      };
      const elapsed = (Date.now() - stepStarted) / 1000;
      const estimate = estimateProgress(expectation.value, counters, elapsed, anchor);
      anchor ??= { originalSize: counters.originalSize, nfiles: counters.nfiles, elapsedSeconds: elapsed };
      emit(base(estimate.percent, estimate.etaSeconds, event.path ?? null, false));
    } else if (event.type === "progress_percent" && !event.finished && event.total !== undefined && event.total > 0) {
      const part = Math.min(1, (event.current ?? 0) / event.total);
      // a command of several phases (borg check) counts each from 0 %: the bar spans them all
      // and never goes back; a progress line of no known phase is left out
      const overall = options.phases ? phasePercent(options.phases, event.msgid, part) : part * 100;
      if (overall === undefined) return;
      highest = Math.max(highest, overall);
      const fraction = highest / 100;
      const elapsed = (Date.now() - stepStarted) / 1000;
      const eta = fraction > 0.005 ? Math.round((elapsed * (1 - fraction)) / fraction) : null;
      emit(base(Math.round(highest * 10) / 10, eta, event.message?.trim() ?? null, false));
    } else if (event.type === "log_message" && (event.level === "WARNING" || event.level === "ERROR")) {
      log.debug(`borg ${event.level.toLowerCase()}: ${event.message}`);
    }
  };
  const finish = (succeeded: boolean) => {
    if (finished) return;
    finished = true;
    emit(base(succeeded ? 100 : options.lastPercent(), succeeded ? 0 : null, null, true));
  };
  return { onEvent, finish };
}
