/**
 * The state each drone sensor shows, computed from the engine's facts. Pure functions: the
 * Home Assistant service publishes what they return, and only when it changed.
 */
import { MAX_STATE_LENGTH, type PlanEvent, type ProgressEvent } from "../../../libs/protocol/index.mjs";
import { type LiveStatus } from "../core/engine.mjs";
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
