/**
 * The coordinator's model of the fleet: what each drone is doing, which runs are its own,
 * and what has gone wrong. Pure and clock-driven: every input carries `now`, and
 * `evaluate` returns the effects (runs to start, problems, recoveries) for the services to
 * carry out through Home Assistant. What it holds of a drone is in drone-record.mts, how it
 * detects problems in detect.mts, which runs to start in plan.mts.
 */
import {
  type ApplicationState,
  nextRegularTime,
  type ProgressEvent,
  type RepositoryRole,
  type ResultEvent,
  type StatusEvent,
} from "../../../libs/protocol/index.mjs";
import { createDetection } from "./detect.mjs";
import { createPlanAnnouncements, createRunMemory } from "./fleet-memory.mjs";
import {
  type ActiveRun,
  type DroneRecord,
  type EvaluateOptions,
  type Fleet,
  type FleetEffect,
  type FleetSettings,
  type HostKey,
  insideWindow,
  type LastRound,
  LOCKED_OUT_REASON,
  newDroneRecord,
  type PendingStart,
  type RestoredDrone,
  type RunRead,
  startRoute,
} from "./drone-record.mjs";
import {
  type DroneView,
  eligible,
  overdueMinutes,
  type PlannedStart,
  planNext,
  planStarts,
  type RunningRun,
} from "./plan.mjs";

export { PROBLEM_KINDS, type ProblemKind } from "../../../libs/protocol/index.mjs";
// the fleet's records and effects, where the services and the package's users look for them
export * from "./drone-record.mjs";
export { HISTORY_PER_DRONE } from "./fleet-memory.mjs";

/** Without a host grouping, every repository host counts as itself. */
const sameHost: HostKey = host => host;

/** Whether a drone still waits for the very start `b` stands for (same kind, route and decision time). */
const samePending = (a: PendingStart, b: PendingStart) => a.kind === b.kind && a.via === b.via && a.pressedAt.getTime() === b.pressedAt.getTime();

const RUN_OPERATIONS: Record<string, RepositoryRole | undefined> = { scheduled: "primary", create: "primary", offsite: "offsite" };

/** The steps whose progress counts what a run read (prune, compact and stats count nothing: their events carry 0). */
const CREATE_STATES: ReadonlySet<ApplicationState> = new Set(["creating", "offsite_creating"]);

/**
 * What a finished run read: its archive's figures when it made one, else what its create step's
 * last progress said (a failed or cancelled create read something all the same).
 */
function readOf(result: ResultEvent, run: ActiveRun | null): RunRead {
  if (result.archive) return { bytes: result.archive.original_size, files: result.archive.nfiles };
  return run?.read ?? { bytes: 0, files: 0 };
}

/** Create an empty fleet. */
export function createFleet(settings: FleetSettings): Fleet {
  const drones = new Map<string, DroneRecord>();
  let hostsVersion = 0;
  let roundRequestedAt: Date | null = null;
  let roundOpen = false;
  let roundOpenedAt: Date | null = null;
  let lastRound: LastRound | null = null;
  const announcements = createPlanAnnouncements();
  const memory = createRunMemory();
  const { online, setProblem, clearProblem, failureBackoff, stalled, detect: detectProblems } = createDetection(settings);

  const record = (droneId: string) => {
    let found = drones.get(droneId);
    if (!found) {
      found = newDroneRecord(droneId);
      drones.set(droneId, found);
    }
    return found;
  };

  const view = (drone: DroneRecord, now: Date, hostKey: HostKey = sameHost): DroneView => {
    const host = hostKey(drone.repositoryHost);
    const forced = roundRequestedAt !== null && (drone.lastBackup === null || drone.lastBackup < roundRequestedAt);
    return {
      droneId: drone.droneId,
      mode: drone.mode,
      online: online(drone, now),
      idle: drone.state === "idle" && drone.run === null && drone.pending === null,
      repositoryHost: host ?? drone.repositoryHost,
      hostKnown: drone.hostKnown && host !== null,
      offsiteHost: drone.offsiteHost,
      frequencyMinutes: forced ? 0 : drone.frequencyMinutes,
      offsiteFrequencyMinutes: drone.offsiteFrequencyMinutes,
      priority: drone.priority,
      lastBackup: drone.lastBackup,
      lastOffsiteBackup: drone.lastOffsiteBackup,
      blockedUntil: forced ? null : drone.blockedUntil,
      lastStartedAt: drone.lastStartedAt,
      // Run Now overrides the wait of a cancel made before it (or at the same moment), as it overrides a backoff; a
      // cancel after it (the run Run Now started, stopped by a person) waits all the same
      cancelledUntil:
        drone.cancelledAt.primary === null || (forced && roundRequestedAt !== null && drone.cancelledAt.primary <= roundRequestedAt)
          ? null
          : nextRegularTime(drone.lastBackup, drone.frequencyMinutes, drone.cancelledAt.primary),
      offsiteCancelledUntil:
        drone.cancelledAt.offsite === null || drone.offsiteFrequencyMinutes === null
          ? null
          : nextRegularTime(drone.lastOffsiteBackup, drone.offsiteFrequencyMinutes, drone.cancelledAt.offsite),
    };
  };

  const beginRun = (drone: DroneRecord, kind: RepositoryRole, runId: string | null, now: Date): FleetEffect[] => {
    if (drone.run) {
      if (runId !== null && drone.run.runId === null) drone.run.runId = runId;
      return [];
    }
    const ours = drone.pending?.kind === kind;
    drone.pending = null;
    drone.run = { kind, runId, startedAt: now, ours, lastProgressAt: now, progress: null, read: null };
    return [{ type: "run_started", droneId: drone.droneId, kind, ours, runId }, ...clearProblem(drone, ["not_started"])];
  };

  const onStatus = (event: StatusEvent, now: Date): FleetEffect[] => {
    const drone = record(event.drone_id);
    const wasOffline = !online(drone, now);
    if (!drone.hostKnown || drone.repositoryHost !== event.repository_host) hostsVersion += 1;
    Object.assign(drone, {
      mode: event.mode,
      state: event.state,
      repositoryHost: event.repository_host,
      hostKnown: true,
      offsiteHost: event.offsite_host,
      frequencyMinutes: event.frequency_minutes,
      offsiteFrequencyMinutes: event.offsite_frequency_minutes,
      priority: event.priority,
      lastBackup: event.last_backup ? new Date(event.last_backup) : null,
      lastOffsiteBackup: event.last_offsite_backup ? new Date(event.last_offsite_backup) : null,
      // an empty map said to be unchanged: the last one stands
      entities: event.entities_unchanged ? drone.entities : event.entities,
      lastSeen: now,
    });
    const effects: FleetEffect[] = wasOffline && online(drone, now) ? clearProblem(drone, ["offline"]) : [];
    const previousLink = drone.synapse;
    const reported = event.synapse ?? null;
    // a drone that has just connected (started, or reconnected) may have missed its plan
    if (reported === "unknown") announcements.resend(drone.droneId);
    // "unknown" is no news (the drone has just connected and not found out yet): what was known stands
    drone.synapse = reported === "unknown" && previousLink !== null ? previousLink : reported;
    // healthy again (e.g. after HA restarted): presses reach the drone again
    if (drone.synapse === "connected" && previousLink !== "connected") drone.pressFailedAt = null;
    if (drone.synapse === "locked_out") effects.push(...setProblem(drone, "locked_out", LOCKED_OUT_REASON, now));
    else effects.push(...clearProblem(drone, ["locked_out"]));
    // the heartbeat carries the last check's verdict: a coordinator that restarted learns it here
    if (event.last_check_result === "failed" && drone.checkProblem === null) {
      drone.checkProblem = "the drone's last integrity check found damage in its repository";
      effects.push(...setProblem(drone, "check_failed", drone.checkProblem, now));
    } else if (event.last_check_result === "success") effects.push(...checkPassed(drone));
    // older drones leave prune_hold out: nothing is known then
    if (event.prune_hold) {
      const why = event.prune_hold.reasons.join("; ");
      effects.push(...pruneHeld(drone, `prune is held, every archive kept: ${why}; look at the newest archive, then press Release Prune Hold`, now));
    }
    else if (event.prune_hold === null) effects.push(...holdReleased(drone));
    // the drone keeps its last cancel until a backup succeeds: a coordinator that restarted learns it here
    if (event.cancelled_at !== undefined) drone.cancelledAt.primary = event.cancelled_at === null ? null : new Date(event.cancelled_at);
    if (event.offsite_cancelled_at !== undefined) drone.cancelledAt.offsite = event.offsite_cancelled_at === null ? null : new Date(event.offsite_cancelled_at);
    const kind = event.operation ? RUN_OPERATIONS[event.operation] : undefined;
    if (event.state !== "idle" && kind) effects.push(...beginRun(drone, kind, event.run_id, now));
    else if (event.state !== "idle" && event.operation !== null && !drone.run) {
      // another operation (prune, check, stats) keeps the drone busy but is no backup run
      drone.pending = null;
    } else if (event.state === "idle" && event.operation === null && drone.run && !drone.pending) {
      // the drone does nothing: a run whose result never reached us (a restart, a lost
      // connection, a restored run that was a prune) is over and frees its slot
      drone.run = null;
      effects.push(...clearProblem(drone, ["stalled"]));
    }
    return effects;
  };

  const onProgress = (event: ProgressEvent, now: Date): FleetEffect[] => {
    const drone = record(event.drone_id);
    drone.lastSeen = now;
    drone.state = event.state;
    const kind = RUN_OPERATIONS[event.operation];
    if (!kind) return [];
    const effects = beginRun(drone, kind, event.run_id, now);
    if (drone.run) {
      drone.run.lastProgressAt = now;
      drone.run.progress = event;
      if (CREATE_STATES.has(event.state)) drone.run.read = { bytes: event.original_size, files: event.nfiles };
    }
    return [...effects, ...clearProblem(drone, ["stalled"])];
  };

  const pruneHeld = (drone: DroneRecord, reason: string, now: Date): FleetEffect[] => {
    drone.holdProblem = reason;
    return setProblem(drone, "prune_held", reason, now);
  };

  const holdReleased = (drone: DroneRecord): FleetEffect[] => {
    drone.holdProblem = null;
    return clearProblem(drone, ["prune_held"]);
  };

  const checkPassed = (drone: DroneRecord): FleetEffect[] => {
    drone.checkProblem = null;
    return clearProblem(drone, ["check_failed"]);
  };

  /** A check found damage (error kind `integrity`, whatever the operation), or a full check passed. */
  const onCheckResult = (drone: DroneRecord, event: ResultEvent, now: Date): FleetEffect[] => {
    if (event.error_kind === "integrity") {
      drone.checkProblem = `${event.operation}: ${event.error ?? "an integrity check found damage"}`;
      return setProblem(drone, "check_failed", drone.checkProblem, now);
    }
    const fullCheck = event.operation === "check" || event.operation === "verify";
    return fullCheck && (event.outcome === "success" || event.outcome === "warning") ? checkPassed(drone) : [];
  };

  const onResult = (event: ResultEvent, now: Date): FleetEffect[] => {
    const drone = record(event.drone_id);
    drone.lastSeen = now;
    drone.lastResult = event;
    const checked = onCheckResult(drone, event, now);
    const kind = RUN_OPERATIONS[event.operation];
    if (!kind) return checked;
    // a queued job dropped by a cancel (it never started) ends while another run may go on: that run keeps its slot
    const neverStarted = event.error_kind === "cancelled" && event.started_at === event.finished_at;
    const other = neverStarted && drone.run !== null && drone.run.runId !== event.run_id;
    const effects = other ? checked : [...checked, ...beginRun(drone, kind, event.run_id, now)];
    let ours: boolean;
    // the run this result ends (a job that never started read nothing)
    const read = readOf(event, other ? null : drone.run);
    if (other) {
      // our start that waited in the drone's queue behind that run: it is over, not pending
      ours = drone.pending?.kind === kind;
      if (ours) drone.pending = null;
    } else {
      ours = drone.run?.ours ?? false;
      drone.run = null;
      drone.state = "idle";
    }
    effects.push({ type: "run_finished", droneId: drone.droneId, kind, ours, result: event, read });
    memory.remember({ droneId: drone.droneId, kind, ours, seenAt: now, result: event });
    // held: the backup was made; prune waits for a person (the problem says so), the schedule goes on
    if (event.outcome === "success" || event.outcome === "warning" || event.outcome === "held") {
      if (kind === "primary") drone.lastBackup = new Date(event.finished_at);
      else drone.lastOffsiteBackup = new Date(event.finished_at);
      drone.attempts = 0;
      drone.blockedUntil = null;
      drone.cancelledAt[kind] = null;
      effects.push(...clearProblem(drone, ["failed", "not_started", "stalled", "overdue"]));
      if (event.outcome === "held") effects.push(...pruneHeld(drone, event.error ?? "the prune guard found the backup suspicious and holds prune", now));
    } else if (event.error_kind === "cancelled") {
      // a person stopped it: no failure and no backoff, and no start before its next regular time (Run Now overrides)
      drone.cancelledAt[kind] = now;
      effects.push(...clearProblem(drone, ["stalled", "not_started"]));
    } else {
      failureBackoff(drone, now);
      const retry = drone.attempts >= settings.retryAttempts ? "no more retries until it is due again" : `retry after ${drone.blockedUntil?.toISOString()}`;
      effects.push(...setProblem(drone, "failed", `${event.operation} ${event.outcome}: ${event.error ?? "no detail"} (attempt ${drone.attempts}; ${retry})`, now));
    }
    return effects;
  };

  const onOnline = (droneId: string, isOnline: boolean, now: Date): FleetEffect[] => {
    const drone = record(droneId);
    const was = drone.onlineSensor;
    drone.onlineSensor = isOnline;
    if (!isOnline && was !== false) drone.onlineSensorOffAt = now;
    if (isOnline && was !== true) drone.pressFailedAt = null;
    if (isOnline) {
      drone.lastSeen = now;
      return clearProblem(drone, ["offline"]);
    }
    return setProblem(drone, "offline", "Home Assistant reports the drone offline", now);
  };

  const restore = (facts: RestoredDrone, now: Date) => {
    const drone = record(facts.droneId);
    if (facts.mode) drone.mode = facts.mode;
    if (facts.frequencyMinutes) drone.frequencyMinutes = facts.frequencyMinutes;
    if (facts.priority !== undefined) drone.priority = facts.priority;
    if (facts.lastBackup !== undefined) drone.lastBackup = facts.lastBackup;
    if (facts.lastOffsiteBackup !== undefined) drone.lastOffsiteBackup = facts.lastOffsiteBackup;
    if (facts.state) {
      drone.state = facts.state;
      // a drone busy with a backup when we came up: its run is going, not ours to start again
      if (facts.state !== "idle" && !drone.run) {
        const kind: RepositoryRole = facts.state.startsWith("offsite_") ? "offsite" : "primary";
        drone.run = { kind, runId: null, startedAt: now, ours: false, lastProgressAt: now, progress: null, read: null };
      }
    }
    drone.lastSeen ??= now;
  };


  /**
   * The runs that hold a slot. A stalled run holds none: the other drones of its repository
   * host go on instead of waiting hours for a run that may never end (a drone killed while
   * the link was silent, a NAS-side `borg serve` stuck on a dead client). The stalled drone
   * itself is not idle, so it is never started twice; should it make progress again it holds
   * its slot again, and its host may briefly have one run more than the limit.
   */
  const runningRuns = (now: Date, hostKey: HostKey = sameHost): RunningRun[] => {
    const runs: RunningRun[] = [];
    for (const drone of drones.values()) {
      const active = drone.run ?? (drone.pending ? { kind: drone.pending.kind } : null);
      if (!active) continue;
      if (drone.run && stalled(drone.run, now)) continue;
      const host = active.kind === "offsite" ? (drone.offsiteHost ?? `offsite:${drone.droneId}`) : (hostKey(drone.repositoryHost) ?? drone.repositoryHost);
      runs.push({ droneId: drone.droneId, kind: active.kind, host });
    }
    return runs;
  };

  const anyRun = () => [...drones.values()].some(drone => drone.run !== null || drone.pending !== null);

  /** Each drone's plan after this look's starts; a `plan` effect for each one that is news. */
  const updatePlans = (views: readonly DroneView[], starts: readonly PlannedStart[], now: Date, options: EvaluateOptions): FleetEffect[] => {
    const started = new Set(starts.map(start => start.droneId));
    const effects: FleetEffect[] = [];
    for (const drone of views) {
      const record = drones.get(drone.droneId);
      const runningSince = record?.run?.startedAt ?? record?.pending?.pressedAt ?? null;
      // a drone that could start now and was not started in this look waits for its host's or the home's limit
      const slotFull = !started.has(drone.droneId);
      const plan = planNext(drone, { now, paused: options.paused, window: settings.window, runningSince, slotFull });
      // what HA restored before the drone reported is not news worth sending
      if (!options.holding && announcements.news(drone.droneId, plan)) effects.push({ type: "plan", droneId: drone.droneId, plan });
    }
    if (!options.holding) announcements.done();
    return effects;
  };

  const evaluate = (now: Date, options: EvaluateOptions): FleetEffect[] => {
    const effects: FleetEffect[] = [];
    for (const drone of drones.values()) effects.push(...detectProblems(drone, now, view));
    const views = [...drones.values()].map(drone => view(drone, now, options.hostKey));
    const canStart = !options.paused && !options.holding && insideWindow(settings.window, now);
    const starts: PlannedStart[] = canStart ? planStarts(views, runningRuns(now, options.hostKey), options.limits ?? settings.limits, now) : [];
    for (const start of starts) {
      const drone = drones.get(start.droneId);
      const route = drone ? startRoute(drone) : { via: "press" as const, reason: null };
      effects.push({ type: "start", droneId: start.droneId, kind: start.kind, overdueMinutes: start.overdueMinutes, ...route });
    }
    if (starts.length > 0 && !roundOpen) {
      roundOpen = true;
      roundOpenedAt = now;
    }
    const anyDue = views.some(drone => eligible(drone, now) && overdueMinutes(drone, "primary", now) !== undefined);
    // a stalled run keeps the round open: it has not ended
    if (roundOpen && !anyRun() && starts.length === 0 && !anyDue) {
      roundOpen = false;
      roundRequestedAt = null;
      const openedAt = roundOpenedAt ?? now;
      lastRound = { openedAt, completedAt: now, runs: memory.roundRuns(openedAt) };
      effects.push({ type: "round_completed", at: now });
    }
    effects.push(...updatePlans(views, starts, now, options));
    return effects;
  };

  return {
    drones,
    onStatus,
    onProgress,
    onResult,
    onOnline,
    restore,
    hostsVersion: () => hostsVersion,
    evaluate,
    markPressed: (droneId, kind, now, via = "press") => {
      const drone = record(droneId);
      drone.pending = { kind, pressedAt: now, via };
      drone.lastStartedAt = now;
      return { ...drone.pending };
    },
    pressSent: (droneId, pending, sentAt) => {
      // only the same start still waited for: the drone may have started, or a command replaced the press
      const drone = drones.get(droneId);
      if (drone?.pending && samePending(drone.pending, pending)) drone.pending.pressedAt = sentAt;
    },
    pressUnsent: (droneId, pending) => {
      const drone = drones.get(droneId);
      if (drone?.pending && samePending(drone.pending, pending)) drone.pending = null;
    },
    requestRound: now => {
      roundRequestedAt = now;
    },
    queue: now => {
      const views = [...drones.values()].map(drone => view(drone, now));
      return planStarts(views, [], { perHost: Number.MAX_SAFE_INTEGER, global: Number.MAX_SAFE_INTEGER, offsite: Number.MAX_SAFE_INTEGER }, now)
        .filter(start => start.kind === "primary")
        .map(start => start.droneId);
    },
    plans: () => announcements.published(),
    republishPlans: () => announcements.republish(),
    history: droneId => memory.history(droneId),
    lastRound: () => lastRound,
    running: () => [...drones.values()].flatMap(drone => (drone.run ? [{ droneId: drone.droneId, run: drone.run }] : [])),
    failing: () => [...drones.values()].filter(drone => drone.problem !== null),
  };
}
