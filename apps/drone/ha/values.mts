/**
 * The state each drone sensor shows, computed from the engine's facts. Pure functions: the
 * Home Assistant service publishes what they return, and only when it changed.
 */
import { MAX_STATE_LENGTH, type PlanEvent, type ProgressEvent } from "../../../libs/protocol/index.mjs";
import { type HistoryRecord, type LiveStatus } from "../core/engine.mjs";
import { nextOwnBackup, type Settings } from "../core/settings.mjs";
import { type PersistedState } from "../core/state.mjs";
import { UNKNOWN_RESULT } from "./entities.mjs";

/** What the sensors are computed from. */
export interface DroneFacts {
  live: LiveStatus;
  persisted: Readonly<PersistedState>;
}

/** A sensor state: null shows as `unknown` in Home Assistant. */
export type SensorState = string | number | null;

/** Sensors whose state follows the engine's facts (progress and ETA follow progress events). */
export type FactSensorKey =
  | "application_state"
  | "last_backup"
  | "last_prune"
  | "last_check"
  | "last_check_result"
  | "last_offsite_backup"
  | "last_result"
  | "last_error"
  | "prune_hold"
  | "last_duration"
  | "last_added"
  | "archive_count"
  | "archive_total_size"
  | "archive_compressed_size"
  | "archive_deduplicated_size"
  | "offsite_size";

/** Cut a text to Home Assistant's state limit, marking the cut. */
export function truncateState(text: string, limit = MAX_STATE_LENGTH): string {
  return text.length <= limit ? text : `${text.slice(0, limit - 1)}…`;
}

/** Each fact sensor's state. */
export const FACT_SENSORS: Record<FactSensorKey, (facts: DroneFacts) => SensorState> = {
  application_state: ({ live }) => live.state,
  last_backup: ({ persisted }) => persisted.lastBackup,
  last_prune: ({ persisted }) => persisted.lastPrune,
  last_check: ({ persisted }) => persisted.lastCheck,
  last_check_result: ({ persisted }) => persisted.lastCheckResult ?? UNKNOWN_RESULT,
  last_offsite_backup: ({ persisted }) => persisted.lastOffsiteBackup,
  last_result: ({ persisted }) => persisted.lastResult ?? UNKNOWN_RESULT,
  last_error: ({ persisted }) => truncateState(persisted.lastError ?? ""),
  prune_hold: ({ persisted }) => (persisted.pruneHold ? "held" : "clear"),
  last_duration: ({ persisted }) => persisted.lastDurationSeconds,
  // what the newest archive added to the repository (borg's deduplicated size of that archive)
  last_added: ({ persisted }) => persisted.lastArchive?.deduplicatedSize ?? null,
  archive_count: ({ persisted }) => persisted.archiveCount,
  archive_total_size: ({ persisted }) => persisted.totals?.totalSize ?? null,
  archive_compressed_size: ({ persisted }) => persisted.totals?.compressedSize ?? null,
  archive_deduplicated_size: ({ persisted }) => persisted.totals?.deduplicatedSize ?? null,
  offsite_size: ({ persisted }) => persisted.offsiteTotals?.deduplicatedSize ?? null,
};

/**
 * The Next Backup sensor: standalone, the drone's own next run; coordinated, the time the
 * coordinator's last `backup_coordinator_plan` for this drone gave (unknown until one came);
 * paused, unknown.
 */
export function nextBackupState(settings: Settings, persisted: Readonly<PersistedState>, plan: PlanEvent | null, now: Date): SensorState {
  if (settings.mode === "standalone") return nextOwnBackup(settings, persisted, now)?.toISOString() ?? null;
  if (settings.mode === "paused") return null;
  return plan?.next_at ?? null;
}

/** Progress (percent, one decimal) and ETA (whole seconds) from a progress event. */
export function progressStates(event: ProgressEvent): { progress: SensorState; eta: SensorState } {
  return {
    progress: event.percent === null ? null : Math.round(event.percent * 10) / 10,
    eta: event.eta_seconds === null ? null : Math.round(event.eta_seconds),
  };
}

/** The Progress sensor changes only once the percent moved this many points since the value shown (or the step changed, or it ended). */
export const PROGRESS_ENTITY_STEP = 20;

/** What the Progress sensor shows now: its percent, and the step it belongs to. */
export interface ShownProgress {
  percent: number | null;
  state: string;
}

/**
 * Whether an event moved the progress enough to be shown: the first of a run, another step,
 * an estimate gained or lost, or the percent PROGRESS_ENTITY_STEP points away from the shown one.
 */
export function progressMoved(shown: ShownProgress | undefined, event: Pick<ProgressEvent, "percent" | "state">): boolean {
  if (shown === undefined || shown.state !== event.state) return true;
  if (shown.percent === null || event.percent === null) return shown.percent !== event.percent;
  return Math.abs(event.percent - shown.percent) >= PROGRESS_ENTITY_STEP;
}

/** How many runs the Last Result sensor lists in its `recent_runs` attribute. */
export const RECENT_RUNS = 10;
/**
 * The most the `recent_runs` attribute may take, as JSON. Home Assistant's recorder skips
 * attributes over 16 KiB (and the state machine keeps them all in memory): ten compact runs
 * take about 2 KiB, so this bound only cuts runs with unusually long ids.
 */
export const RECENT_RUNS_MAX_BYTES = 4096;

/** One run in the `recent_runs` attribute. */
export interface RecentRun {
  run_id: string;
  operation: string;
  trigger: string;
  outcome: string;
  started_at: string;
  duration_seconds: number | null;
  /** Bytes the run's archive added to the repository (its deduplicated size), or null. */
  added: number | null;
  error_kind: string | null;
}

/** The Last Result sensor's attributes: the newest runs, compact, newest first, cut to {@link RECENT_RUNS_MAX_BYTES}. */
export function recentRunsAttributes(records: readonly HistoryRecord[]): { recent_runs: RecentRun[] } {
  const runs: RecentRun[] = records.slice(0, RECENT_RUNS).map(record => ({
    run_id: record.runId,
    operation: record.operation,
    trigger: record.trigger,
    outcome: record.outcome,
    started_at: record.startedAt.toISOString(),
    duration_seconds: record.durationSeconds === null ? null : Math.round(record.durationSeconds * 10) / 10,
    added: record.addedBytes,
    error_kind: record.errorKind,
  }));
  // the oldest go first
  while (runs.length > 0 && Buffer.byteLength(JSON.stringify({ recent_runs: runs })) > RECENT_RUNS_MAX_BYTES) runs.pop();
  return { recent_runs: runs };
}

