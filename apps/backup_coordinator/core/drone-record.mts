/**
 * What the coordinator's fleet model holds of each drone and returns to the services: the
 * settings, a drone's record, its run and problem, the effects; and the pure rules of the
 * backup window and of how a start reaches a drone; the fleet model's API (fleet.mts builds it).
 */
import {
  type ApplicationState,
  type Mode,
  type ProgressEvent,
  type ProblemKind,
  type RepositoryRole,
  type ResultEvent,
  type StatusEvent,
  type SynapseLink,
} from "../../../libs/protocol/index.mjs";
import { type DronePlan, type Limits } from "./plan.mjs";

/** Thresholds and limits. */
export interface FleetSettings {
  limits: Limits;
  /** No heartbeat for this long: offline. */
  offlineAfterMs: number;
  /** Pressed, but no state change within this: did not start. */
  startTimeoutMs: number;
  /** Running without progress for this long: stalled. */
  stallMs: number;
  /** No success for this many times the frequency: overdue. */
  overdueFactor: number;
  /** Failed attempts before the drone waits for its next due time. */
  retryAttempts: number;
  /** First retry delay; doubled after each failure. */
  retryBaseMs: number;
  /** Optional window (minutes after local midnight) in which new runs may start. */
  window?: { startMinute: number; endMinute: number };
}

/**
 * How the coordinator starts a run: a press of the drone's button through Home Assistant (the
 * path an automation takes), or a `backup_drone_command` on HA's event bus, which reaches a
 * drone whose entities HA refuses (see {@link startRoute}).
 */
export type StartRoute = "press" | "command";

/** A start asked for and not seen yet: since when, and how it was asked. */
export interface PendingStart {
  kind: RepositoryRole;
  pressedAt: Date;
  via: StartRoute;
}

/** The problem shown while a drone reports itself locked out of the synapse integration. */
export const LOCKED_OUT_REASON =
  "Home Assistant still holds an earlier connection of this drone (it went away without going offline) and refuses its entities; " +
  "the coordinator starts its backups through backup_drone_command meanwhile. Restart Home Assistant to bring its entities back.";

/** A problem of one drone. */
export interface Problem {
  kind: ProblemKind;
  reason: string;
  since: Date;
}

/** A run the fleet sees going. */
export interface ActiveRun {
  kind: RepositoryRole;
  runId: string | null;
  startedAt: Date;
  /** Started by a press of the coordinator (not by a person or an automation). */
  ours: boolean;
  lastProgressAt: Date;
  /** Its last progress event, of whatever step (prune, compact and stats follow the create). */
  progress: ProgressEvent | null;
  /** What its create step read, as that step's last progress said; null before one came. */
  read: RunRead | null;
}

/** Bytes and files a run read. */
export interface RunRead {
  bytes: number;
  files: number;
}

/** Everything the coordinator knows of one drone. */
export interface DroneRecord {
  droneId: string;
  mode: Mode;
  state: ApplicationState;
  repositoryHost: string;
  /** True once a status event told the repository hosts. */
  hostKnown: boolean;
  offsiteHost: string | null;
  frequencyMinutes: number;
  offsiteFrequencyMinutes: number | null;
  priority: number;
  lastBackup: Date | null;
  lastOffsiteBackup: Date | null;
  entities: Record<string, string>;
  lastSeen: Date | null;
  /** The synapse online sensor, when known. */
  onlineSensor: boolean | null;
  /** When the online sensor last went off. */
  onlineSensorOffAt: Date | null;
  /**
   * How the drone says it stands with the synapse integration (an `unknown` after a known state
   * keeps the known one); null: an older drone, which takes no commands.
   */
  synapse: SynapseLink | null;
  /** A press that did not start a run: commands are used until the drone's link is seen healthy again. */
  pressFailedAt: Date | null;
  /** A start asked for and not seen yet: since when, and how it was asked. */
  pending: PendingStart | null;
  run: ActiveRun | null;
  attempts: number;
  blockedUntil: Date | null;
  /** When a person cancelled its last run, by kind (no start before its next regular time); null: not cancelled. */
  cancelledAt: Record<RepositoryRole, Date | null>;
  lastStartedAt: Date | null;
  lastResult: ResultEvent | null;
  /** What the drone's last integrity check found wrong; cleared by a check that passes. */
  checkProblem: string | null;
  /** Why the drone's prune guard holds prune, while it does. */
  holdProblem: string | null;
  problem: Problem | null;
}

/** What the services must do. */
export type FleetEffect =
  | { type: "start"; droneId: string; kind: RepositoryRole; overdueMinutes: number; via: StartRoute; reason: string | null }
  | { type: "run_started"; droneId: string; kind: RepositoryRole; ours: boolean; runId: string | null }
  | { type: "run_finished"; droneId: string; kind: RepositoryRole; ours: boolean; result: ResultEvent; read: RunRead }
  | { type: "problem"; droneId: string; problem: Problem }
  | { type: "recovered"; droneId: string; previous: Problem }
  | { type: "round_completed"; at: Date }
  | { type: "plan"; droneId: string; plan: DronePlan };

/** A run the coordinator saw end (its in-memory history; a restart starts it afresh). */
export interface SeenRun {
  droneId: string;
  kind: RepositoryRole;
  ours: boolean;
  /** When the coordinator got the result. */
  seenAt: Date;
  result: ResultEvent;
}

/** The last round: when it began and ended, and each drone's last primary run in it. */
export interface LastRound {
  openedAt: Date;
  completedAt: Date;
  /** One run per drone, by drone id. */
  runs: SeenRun[];
}

/** The facts restored from Home Assistant's entity states after a restart. */
export interface RestoredDrone {
  droneId: string;
  mode?: Mode;
  state?: ApplicationState;
  frequencyMinutes?: number;
  priority?: number;
  lastBackup?: Date | null;
  lastOffsiteBackup?: Date | null;
}

/** The key the per-host limit counts a repository host under; null while it is not known yet. */
export type HostKey = (host: string) => string | null;

/** Is `now` inside the backup window? No window: always. A window may wrap midnight. */
export function insideWindow(window: FleetSettings["window"], now: Date): boolean {
  if (!window) return true;
  const minute = now.getHours() * 60 + now.getMinutes();
  const { startMinute, endMinute } = window;
  return startMinute <= endMinute ? minute >= startMinute && minute < endMinute : minute >= startMinute || minute < endMinute;
}

/**
 * How to start a drone now. A press, unless the drone takes commands (it reports its synapse
 * link) and a press cannot reach it: it says HA refuses its connection, it has no entities in
 * HA, HA shows its app offline while its events arrive, or an earlier press did not start it.
 */
export function startRoute(drone: Pick<DroneRecord, "synapse" | "onlineSensor" | "pressFailedAt">): { via: StartRoute; reason: string | null } {
  const command = (reason: string) => ({ via: "command" as const, reason });
  if (drone.synapse === null) return { via: "press", reason: null };
  if (drone.synapse === "locked_out") return command("the drone reports that Home Assistant refuses its connection");
  if (drone.synapse === "not_added" || drone.synapse === "off") return command("the drone has no entities in Home Assistant");
  if (drone.onlineSensor === false) return command("Home Assistant shows the drone's app offline while the drone's events arrive");
  if (drone.pressFailedAt !== null) return command(`a press at ${drone.pressFailedAt.toISOString()} did not start it`);
  return { via: "press", reason: null };
}

/** What the coordinator knows of a drone it has just heard of: nothing yet, and coordinated until it says otherwise. */
export function newDroneRecord(droneId: string): DroneRecord {
  return {
    droneId,
    mode: "coordinated",
    state: "idle",
    repositoryHost: `local:${droneId}`,
    hostKnown: false,
    offsiteHost: null,
    frequencyMinutes: 1440,
    offsiteFrequencyMinutes: null,
    priority: 0,
    lastBackup: null,
    lastOffsiteBackup: null,
    entities: {},
    lastSeen: null,
    onlineSensor: null,
    onlineSensorOffAt: null,
    synapse: null,
    pressFailedAt: null,
    pending: null,
    run: null,
    attempts: 0,
    blockedUntil: null,
    cancelledAt: { primary: null, offsite: null },
    lastStartedAt: null,
    lastResult: null,
    checkProblem: null,
    holdProblem: null,
    problem: null,
  };
}

/** How to look at the fleet. */
export interface EvaluateOptions {
  /** The coordinator's pause switch: nothing new starts, plans say `paused`. */
  paused: boolean;
  /** Just restarted, waiting for the drones to report: nothing new starts and no plan is published yet. */
  holding?: boolean;
  limits?: Limits;
  hostKey?: HostKey;
}

/** The fleet model. */
export interface Fleet {
  readonly drones: ReadonlyMap<string, DroneRecord>;
  onStatus(event: StatusEvent, now: Date): FleetEffect[];
  onProgress(event: ProgressEvent, now: Date): FleetEffect[];
  onResult(event: ResultEvent, now: Date): FleetEffect[];
  onOnline(droneId: string, online: boolean, now: Date): FleetEffect[];
  /** Rebuild a drone from HA's entity states (after a coordinator restart). */
  restore(facts: RestoredDrone, now: Date): void;
  /**
   * A number that changes whenever a drone's repository host is learnt or changes: what is
   * derived from the drones' hosts (which drones share one) holds until it changes.
   */
  hostsVersion(): number;
  /**
   * Detect problems and plan starts; `paused` plans nothing new. `hostKey` maps a repository
   * host to the key the per-host limit counts it under (one machine named two ways: one key);
   * null: not known yet (being looked up), so its drones wait.
   */
  evaluate(now: Date, options: EvaluateOptions): FleetEffect[];
  /** The coordinator decided to press a drone's button (or send it a command); returns what it now waits for. */
  markPressed(droneId: string, kind: RepositoryRole, now: Date, via?: StartRoute): PendingStart;
  /** The press (or command) `pending` left for Home Assistant at `sentAt`: the start timeout counts from then. */
  pressSent(droneId: string, pending: PendingStart, sentAt: Date): void;
  /** The press (or command) `pending` was never sent: the drone waits for nothing, the next look may start it again. */
  pressUnsent(droneId: string, pending: PendingStart): void;
  /** Treat every coordinated drone as due now (the Run Now button). */
  requestRound(now: Date): void;
  /** Drones due next, in the order they would start. */
  queue(now: Date): string[];
  /**
   * Each drone's plan as last announced (a `plan` effect; see {@link planNext}): what its Next
   * Backup shows. An overdue drone's time is when it became overdue, not the last look's now.
   */
  plans(): ReadonlyMap<string, DronePlan>;
  /** The next look announces every drone's plan again, news or not (after Home Assistant came back). */
  republishPlans(): void;
  /** The runs seen end, newest first: of one drone, or of all (at most HISTORY_PER_DRONE per drone; in memory only). */
  history(droneId?: string): SeenRun[];
  /** The last round that completed since the coordinator started, with each drone's last primary run in it. */
  lastRound(): LastRound | null;
  running(): { droneId: string; run: ActiveRun }[];
  failing(): DroneRecord[];
}
