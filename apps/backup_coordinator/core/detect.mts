/**
 * Failure detection of the fleet model, pure and clock-driven: whether a drone is online,
 * whether its run stalled, the backoff after a failure, and the problems a drone shows (one
 * at a time, the worst first) with the effects that raise and clear them.
 */
import { PROBLEM_KINDS, type ProblemKind, retryTime } from "../../../libs/protocol/index.mjs";
import { type ActiveRun, type DroneRecord, type FleetEffect, type FleetSettings, LOCKED_OUT_REASON } from "./drone-record.mjs";
import { type DroneView, overdueMinutes } from "./plan.mjs";

/** The detection rules under one fleet's settings; they change only the drone records they are given. */
export function createDetection(settings: FleetSettings) {
  const online = (drone: DroneRecord, now: Date) => {
    if (drone.lastSeen === null || now.getTime() - drone.lastSeen.getTime() > settings.offlineAfterMs) return false;
    if (drone.onlineSensor !== false) return true;
    // HA shows the app offline, yet the drone's events came after that: it is alive, and takes commands
    return drone.synapse !== null && drone.onlineSensorOffAt !== null && drone.lastSeen > drone.onlineSensorOffAt;
  };

  const setProblem = (drone: DroneRecord, kind: ProblemKind, reason: string, now: Date): FleetEffect[] => {
    const current = drone.problem;
    if (current && PROBLEM_KINDS.indexOf(current.kind) < PROBLEM_KINDS.indexOf(kind)) return [];
    if (current?.kind === kind && current.reason === reason) return [];
    drone.problem = { kind, reason, since: current?.kind === kind ? current.since : now };
    return [{ type: "problem", droneId: drone.droneId, problem: drone.problem }];
  };

  const clearProblem = (drone: DroneRecord, kinds: readonly ProblemKind[]): FleetEffect[] => {
    const previous = drone.problem;
    if (!previous || !kinds.includes(previous.kind)) return [];
    drone.problem = null;
    return [{ type: "recovered", droneId: drone.droneId, previous }];
  };

  const failureBackoff = (drone: DroneRecord, now: Date) => {
    drone.attempts += 1;
    drone.blockedUntil = retryTime(now, drone.attempts, drone.frequencyMinutes, { attempts: settings.retryAttempts, baseMs: settings.retryBaseMs });
  };

  /** A run with no progress for longer than the stall threshold (its drone shows `stalled`). */
  const stalled = (run: ActiveRun, now: Date) => now.getTime() - run.lastProgressAt.getTime() > settings.stallMs;

  const detect = (drone: DroneRecord, now: Date, view: (drone: DroneRecord, now: Date) => DroneView): FleetEffect[] => {
    const effects: FleetEffect[] = [];
    if (!online(drone, now)) {
      const silent = drone.lastSeen ? Math.round((now.getTime() - drone.lastSeen.getTime()) / 1000) : null;
      effects.push(
        ...setProblem(drone, "offline", drone.onlineSensor === false ? "Home Assistant reports the drone offline" : `no heartbeat for ${silent ?? "?"} s`, now),
      );
    }
    if (drone.pending && now.getTime() - drone.pending.pressedAt.getTime() > settings.startTimeoutMs) {
      const seconds = Math.round(settings.startTimeoutMs / 1000);
      const { kind, via } = drone.pending;
      if (via === "press" && drone.synapse !== null && online(drone, now)) {
        // the press reached nothing (HA reports success all the same): ask the drone on the bus, still as our run
        drone.pressFailedAt = now;
        drone.pending = { kind, pressedAt: now, via: "command" };
        drone.lastStartedAt = now;
        const reason = `pressing its ${kind === "offsite" ? "Offsite Backup" : "Scheduled Backup"} button did not start a run within ${seconds} s`;
        effects.push({ type: "start", droneId: drone.droneId, kind, overdueMinutes: overdueMinutes(view(drone, now), kind, now) ?? 0, via: "command", reason });
      } else {
        drone.pending = null;
        failureBackoff(drone, now);
        const asked = via === "command" ? "sent a backup_drone_command" : "pressed Scheduled Backup";
        effects.push(...setProblem(drone, "not_started", `${asked} but the drone did not start within ${seconds} s`, now));
      }
    }
    if (drone.run && stalled(drone.run, now)) {
      const minutes = Math.round((now.getTime() - drone.run.lastProgressAt.getTime()) / 60_000);
      effects.push(...setProblem(drone, "stalled", `no progress for ${minutes} min while ${drone.state}`, now));
    }
    // a damaged repository stays a problem until a check passes, also after a worse problem ended
    if (drone.checkProblem !== null) effects.push(...setProblem(drone, "check_failed", drone.checkProblem, now));
    if (drone.holdProblem !== null) effects.push(...setProblem(drone, "prune_held", drone.holdProblem, now));
    if (drone.synapse === "locked_out") effects.push(...setProblem(drone, "locked_out", LOCKED_OUT_REASON, now));
    if (drone.mode !== "paused") {
      const limitMinutes = drone.frequencyMinutes * settings.overdueFactor;
      const late = drone.lastBackup === null ? false : (now.getTime() - drone.lastBackup.getTime()) / 60_000 > limitMinutes;
      if (late) effects.push(...setProblem(drone, "overdue", `no successful backup for more than ${settings.overdueFactor}× its frequency`, now));
    }
    return effects;
  };

  return { online, setProblem, clearProblem, failureBackoff, stalled, detect };
}
