/**
 * The coordinator's scheduling decision as a pure function: given what it knows of every
 * drone and what runs now, which runs to start. Most overdue first (after priority), round
 * robin among equals, within the per-host, global and offsite limits.
 */
import { type Mode, type PlanReason, type RepositoryRole } from "../../../libs/protocol/index.mjs";
import { type FleetSettings, insideWindow } from "./drone-record.mjs";

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
  /**
   * After a cancelled primary run: no primary start before this time (the drone's next regular
   * time), so that the coordinator does not undo a person's cancel. Null (or absent): no wait.
   */
  cancelledUntil?: Date | null;
  /** The same after a cancelled offsite run. */
  offsiteCancelledUntil?: Date | null;
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
  const cancelledUntil = kind === "primary" ? drone.cancelledUntil : drone.offsiteCancelledUntil;
  if (cancelledUntil != null && cancelledUntil.getTime() > now.getTime()) return undefined;
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

/** The first moment at or after `time` inside the window (local time; `time` itself when inside). */
export function nextWindowOpening(window: FleetSettings["window"], time: Date): Date {
  if (insideWindow(window, time) || !window) return time;
  const opening = new Date(time);
  opening.setHours(Math.floor(window.startMinute / 60), window.startMinute % 60, 0, 0);
  if (opening.getTime() <= time.getTime()) opening.setDate(opening.getDate() + 1);
  return opening;
}

/** When the coordinator plans a drone's next primary backup, and why; `nextAt` null: none planned. */
export interface DronePlan {
  nextAt: Date | null;
  reason: PlanReason;
}

/** What the plan of one drone depends on beyond its view. */
export interface PlanContext {
  now: Date;
  /** The coordinator's pause switch. */
  paused: boolean;
  window?: FleetSettings["window"];
  /** The drone's run (or a start asked for and not seen yet): since when; null when none. */
  runningSince: Date | null;
  /** The drone could start now but its repository host's or the home's limit is full. */
  slotFull: boolean;
}

/**
 * The plan of one drone's next primary backup. Null times for a drone the coordinator does
 * not start (standalone, paused, offline); the run's start while one goes; else the latest of
 * its due time (last backup + frequency), the end of a cancel's wait, the end of a backoff
 * and the window's next opening, the last one that decided naming the reason. A drone that
 * could start now is `overdue` (or `waiting_for_slot`) with the time `now`.
 */
export function planNext(drone: DroneView, context: PlanContext): DronePlan {
  const { now } = context;
  if (drone.mode === "standalone") return { nextAt: null, reason: "not_coordinated" };
  if (drone.mode === "paused" || context.paused) return { nextAt: null, reason: "paused" };
  if (!drone.online) return { nextAt: null, reason: "offline" };
  if (context.runningSince !== null || !drone.idle) return { nextAt: context.runningSince ?? now, reason: "running" };

  const due = drone.lastBackup === null ? now : new Date(drone.lastBackup.getTime() + drone.frequencyMinutes * 60_000);
  let plan: DronePlan = { nextAt: due, reason: "due" };
  const later = (time: Date | null | undefined, reason: PlanReason) => {
    if (time != null && time.getTime() > now.getTime() && time.getTime() > (plan.nextAt?.getTime() ?? 0)) plan = { nextAt: time, reason };
  };
  later(drone.cancelledUntil, "cancelled");
  later(drone.blockedUntil, "backoff");
  const start = plan.nextAt ?? now;
  const from = start.getTime() > now.getTime() ? start : now;
  const opening = nextWindowOpening(context.window, from);
  if (opening.getTime() !== from.getTime()) return { nextAt: opening, reason: "window" };
  if (from.getTime() > now.getTime()) return plan;
  // could start now: as soon as a slot is free (a host not known yet counts as a busy slot)
  return { nextAt: now, reason: context.slotFull || !drone.hostKnown ? "waiting_for_slot" : "overdue" };
}

/**
 * Whether a plan is news against the one last published: its reason changed, or its time
 * moved by a minute or more. The time of `overdue` and `waiting_for_slot` is "now" and moves
 * on every look: only their reason counts, or an overdue fleet would be re-sent on every tick.
 */
export function planChanged(previous: DronePlan | undefined, next: DronePlan): boolean {
  if (!previous || previous.reason !== next.reason) return true;
  if (next.reason === "overdue" || next.reason === "waiting_for_slot") return false;
  if (previous.nextAt === null || next.nextAt === null) return previous.nextAt !== next.nextAt;
  return Math.abs(previous.nextAt.getTime() - next.nextAt.getTime()) >= 60_000;
}
