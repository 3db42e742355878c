/** Shared builders for the coordinator's unit tests: fleet settings, drone status and result events, a drone as the plan sees it. */
import { type FleetSettings } from "../../apps/backup_coordinator/core/fleet.mjs";
import { type DroneView } from "../../apps/backup_coordinator/core/plan.mjs";
import { type ProgressEvent, PROTOCOL_VERSION, type ResultEvent, type StatusEvent } from "../../libs/protocol/index.mjs";
import { T0 } from "./wait.mjs";

/** `seconds` after {@link T0}. */
export const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

/** The coordinator's default thresholds and limits. */
export const DEFAULT_FLEET_SETTINGS: FleetSettings = {
  limits: { perHost: 1, global: 4, offsite: 1 },
  offlineAfterMs: 180_000,
  startTimeoutMs: 60_000,
  stallMs: 15 * 60_000,
  overdueFactor: 2,
  retryAttempts: 3,
  retryBaseMs: 5 * 60_000,
};

/** A valid status event of an idle, coordinated drone on host `nas`, with changes. */
export function statusEvent(droneId: string, extra: Partial<StatusEvent> = {}): StatusEvent {
  return {
    v: PROTOCOL_VERSION,
    drone_id: droneId,
    mode: "coordinated",
    state: "idle",
    operation: null,
    run_id: null,
    queue: [],
    repository_host: "nas",
    offsite_host: null,
    frequency_minutes: 1440,
    offsite_frequency_minutes: null,
    priority: 0,
    last_backup: null,
    last_offsite_backup: null,
    last_result: null,
    entities: {},
    version: "0.1.0",
    time: T0.toISOString(),
    ...extra,
  };
}

/** A result event of a scheduled run ending `outcome` at `finished`, with changes. */
export function resultEvent(droneId: string, outcome: ResultEvent["outcome"], finished: Date, extra: Partial<ResultEvent> = {}): ResultEvent {
  return {
    v: PROTOCOL_VERSION,
    drone_id: droneId,
    run_id: `run-${droneId}`,
    operation: "scheduled",
    repository: "primary",
    trigger: "button",
    outcome,
    error_kind: outcome === "success" ? null : "passphrase_wrong",
    error: outcome === "success" ? null : "The passphrase is wrong.",
    warnings: [],
    started_at: T0.toISOString(),
    finished_at: finished.toISOString(),
    duration_seconds: 1,
    archive: null,
    pruned: [],
    ...extra,
  };
}

/** A progress event of a scheduled run's create, with changes. */
export function progressEvent(droneId: string, runId: string, extra: Partial<ProgressEvent> = {}): ProgressEvent {
  return {
    v: PROTOCOL_VERSION,
    drone_id: droneId,
    run_id: runId,
    operation: "scheduled",
    repository: "primary",
    state: "creating",
    percent: null,
    eta_seconds: null,
    original_size: 1024,
    compressed_size: 512,
    deduplicated_size: 256,
    nfiles: 1,
    path: null,
    elapsed_seconds: 1,
    expected_size: null,
    finished: false,
    time: T0.toISOString(),
    ...extra,
  };
}

/** What the coordinator's plan sees of one drone: coordinated, online, idle, on host `nas`, daily, last backed up at `lastBackup`. */
export function droneView(droneId: string, lastBackup: Date | null, extra: Partial<DroneView> = {}): DroneView {
  return {
    droneId,
    mode: "coordinated",
    online: true,
    idle: true,
    repositoryHost: "nas",
    hostKnown: true,
    offsiteHost: null,
    frequencyMinutes: 1440,
    offsiteFrequencyMinutes: null,
    priority: 0,
    lastBackup,
    lastOffsiteBackup: null,
    blockedUntil: null,
    lastStartedAt: null,
    ...extra,
  };
}
