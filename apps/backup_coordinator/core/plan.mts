/**
 * The coordinator's scheduling decision as a pure function: given what it knows of every
 * drone and what runs now, which runs to start. Most overdue first (after priority), round
 * robin among equals, within the per-host, global and offsite limits.
 */
import { type Mode, type RepositoryRole } from "../../../libs/protocol/index.mjs";

/** What the coordinator knows of one drone. */
export interface DroneView {
  droneId: string;
  mode: Mode;
  online: boolean;
  /** The drone reports no operation running. */
  idle: boolean;
  repositoryHost: string;
  /**
   * The drone has told its repository hosts (a status event). Until then the per-host limit
   * cannot be honoured: a drone known only from Home Assistant's states after a restart waits
   * for its next heartbeat.
   */
  hostKnown: boolean;
  /** Null when the drone has no offsite repository. */
  offsiteHost: string | null;
  frequencyMinutes: number;
  offsiteFrequencyMinutes: number | null;
  priority: number;
  lastBackup: Date | null;
  lastOffsiteBackup: Date | null;
  /** After repeated failures: no new attempt before this time. */
  blockedUntil: Date | null;
  /** When the coordinator last started this drone (round robin among equals). */
  lastStartedAt: Date | null;
}

/** A run in progress (started by the coordinator, a person, or an automation). */
export interface RunningRun {
  droneId: string;
  kind: RepositoryRole;
  host: string;
}

/** Concurrency limits. */
export interface Limits {
  /** Primary runs at once per repository host. */
  perHost: number;
  /** Primary runs at once in the whole home. */
  global: number;
  /** Offsite runs at once in the whole home. */
  offsite: number;
}

/** A run to start. */
export interface PlannedStart {
  droneId: string;
  kind: RepositoryRole;
  host: string;
  /** Minutes past due (0 for a drone never backed up… which counts as most overdue). */
  overdueMinutes: number;
}

const minutesBetween = (from: Date, to: Date) => (to.getTime() - from.getTime()) / 60_000;

/** How many minutes past due a drone is for a kind of run, or undefined when not due. */
export function overdueMinutes(drone: DroneView, kind: RepositoryRole, now: Date): number | undefined {
  const last = kind === "primary" ? drone.lastBackup : drone.lastOffsiteBackup;
  const frequency = kind === "primary" ? drone.frequencyMinutes : drone.offsiteFrequencyMinutes;
  if (frequency === null) return undefined;
  if (last === null) return Number.POSITIVE_INFINITY;
  const overdue = minutesBetween(last, now) - frequency;
  return overdue >= 0 ? overdue : undefined;
}

/** Can the coordinator start anything on this drone now? */
export function eligible(drone: DroneView, now: Date): boolean {
  return (
    drone.mode === "coordinated" &&
    drone.online &&
    drone.hostKnown &&
    drone.idle &&
    (drone.blockedUntil === null || drone.blockedUntil.getTime() <= now.getTime())
  );
}

/** Decide which runs to start now. */
export function planStarts(drones: readonly DroneView[], running: readonly RunningRun[], limits: Limits, now: Date): PlannedStart[] {
  const busyDrones = new Set(running.map(run => run.droneId));
  const perHost = new Map<string, number>();
  let primaries = 0;
  let offsites = 0;
  for (const run of running) {
    if (run.kind === "offsite") offsites++;
    else {
      primaries++;
      perHost.set(run.host, (perHost.get(run.host) ?? 0) + 1);
    }
  }

  const candidates: (PlannedStart & { priority: number; lastStartedAt: number })[] = [];
  for (const drone of drones) {
    if (busyDrones.has(drone.droneId) || !eligible(drone, now)) continue;
    for (const kind of ["primary", "offsite"] as const) {
      const host = kind === "primary" ? drone.repositoryHost : drone.offsiteHost;
      const overdue = overdueMinutes(drone, kind, now);
      if (host === null || overdue === undefined) continue;
      candidates.push({
        droneId: drone.droneId,
        kind,
        host,
        overdueMinutes: overdue,
        priority: drone.priority,
        lastStartedAt: drone.lastStartedAt?.getTime() ?? 0,
      });
    }
  }
  candidates.sort(
    (a, b) =>
      b.priority - a.priority ||
      (a.overdueMinutes === b.overdueMinutes ? 0 : b.overdueMinutes > a.overdueMinutes ? 1 : -1) ||
      a.lastStartedAt - b.lastStartedAt ||
      a.droneId.localeCompare(b.droneId) ||
      (a.kind === "primary" ? -1 : 1),
  );

  const starts: PlannedStart[] = [];
  for (const candidate of candidates) {
    if (busyDrones.has(candidate.droneId)) continue;
    if (candidate.kind === "primary") {
      if (primaries >= limits.global || (perHost.get(candidate.host) ?? 0) >= limits.perHost) continue;
      primaries++;
      perHost.set(candidate.host, (perHost.get(candidate.host) ?? 0) + 1);
    } else {
      if (offsites >= limits.offsite) continue;
      offsites++;
    }
    busyDrones.add(candidate.droneId);
    starts.push({
      droneId: candidate.droneId,
      kind: candidate.kind,
      host: candidate.host,
      overdueMinutes: candidate.overdueMinutes,
    });
  }
  return starts;
}
