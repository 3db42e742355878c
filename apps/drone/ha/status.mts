/** The `backup_drone_status` payload, built from the engine's facts. */
import { clipList, EVENT_LIMITS, PROTOCOL_VERSION, type StatusEvent } from "../../../libs/protocol/index.mjs";
import { type DroneEngine, repositoryHost } from "../core/engine.mjs";

/** Build a status payload; `entities` maps entity keys to the ids HA uses. */
export function buildStatusEvent(engine: DroneEngine, entities: Record<string, string>, version: string, now = new Date()): StatusEvent {
  const { config } = engine;
  const live = engine.live();
  const settings = engine.settings();
  const persisted = engine.persisted();
  return {
    v: PROTOCOL_VERSION,
    drone_id: config.droneId,
    mode: settings.mode,
    state: live.state,
    operation: live.operation,
    run_id: live.runId,
    queue: live.queue,
    repository_host: config.repositoryHost ?? repositoryHost(config.repository, config.droneId),
    offsite_host: config.offsite ? (config.offsite.host ?? repositoryHost(config.offsite.repository, config.droneId)) : null,
    frequency_minutes: settings.frequencyMinutes,
    offsite_frequency_minutes: config.offsite ? settings.offsiteFrequencyMinutes : null,
    priority: settings.priority,
    last_backup: persisted.lastBackup,
    last_offsite_backup: persisted.lastOffsiteBackup,
    last_result: persisted.lastResult,
    // the coordinator waits for the next regular time after a cancel, as the drone's own schedule does
    cancelled_at: persisted.cancelledAt.primary,
    offsite_cancelled_at: persisted.cancelledAt.offsite,
    last_check_result: persisted.lastCheckResult,
    // the reasons name sources: cut so that the event stays small whatever their paths
    prune_hold: persisted.pruneHold && { ...persisted.pruneHold, reasons: clipList(persisted.pruneHold.reasons, EVENT_LIMITS.reasons, EVENT_LIMITS.reasonBytes) },
    entities,
    version,
    time: now.toISOString(),
  };
}

/** A status payload without its time: two equal keys mean nothing changed. */
export const statusKey = (event: StatusEvent) => JSON.stringify({ ...event, time: undefined });
