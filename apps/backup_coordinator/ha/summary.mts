/**
 * What the coordinator's entities show, computed from the fleet model: pure, so that the
 * entities service only publishes what changed.
 */
import { MAX_STATE_LENGTH, type Outcome, type PlanReason } from "../../../libs/protocol/index.mjs";
import { type Problem } from "../core/drone-record.mjs";
import { type Fleet, type LastRound } from "../core/fleet.mjs";

export { MAX_STATE_LENGTH };

/** The values of the coordinator's sensors. */
export interface FleetSummary {
  /** Drone ids running now, sorted. */
  running: string[];
  /** Mean percent of the runs going (of those with an estimate); 0 when nothing runs; null when no run has an estimate yet. */
  progress: number | null;
  /** Seconds until the last of the runs going ends, when known. */
  eta: number | null;
  /** Bytes read so far by the runs going (by their create steps). */
  bytes: number;
  /** Files read so far by the runs going (by their create steps). */
  files: number;
  /** Drones due next, in the order they would start. */
  queue: string[];
  /** Drones with a problem, sorted. */
  failing: string[];
}

/** Summarise the fleet for the entities. */
export function summarize(fleet: Fleet, now: Date): FleetSummary {
  const runs = fleet.running().sort((a, b) => a.droneId.localeCompare(b.droneId));
  const percents = runs.flatMap(({ run }) => (run.progress?.percent != null ? [run.progress.percent] : []));
  const etas = runs.flatMap(({ run }) => (run.progress?.eta_seconds != null ? [run.progress.eta_seconds] : []));
  const progress =
    runs.length === 0 ? 0 : percents.length === 0 ? null : Math.round((percents.reduce((sum, value) => sum + value, 0) / percents.length) * 10) / 10;
  return {
    running: runs.map(({ droneId }) => droneId),
    progress,
    eta: etas.length === 0 ? null : Math.round(Math.max(...etas)),
    // what their create steps read: the later steps' progress carries no counts
    bytes: runs.reduce((sum, { run }) => sum + (run.read?.bytes ?? 0), 0),
    files: runs.reduce((sum, { run }) => sum + (run.read?.files ?? 0), 0),
    queue: fleet.queue(now),
    failing: fleet
      .failing()
      .map(drone => drone.droneId)
      .sort(),
  };
}

/**
 * At most this many drones in a list attribute: HA's recorder skips attributes over 16 KiB,
 * and one entry is about 100 bytes. A `*_total` attribute says how many there are in all.
 */
export const ATTRIBUTE_LIST_LIMIT = 50;

/**
 * At most this many drone ids in a `drones` attribute (with `drones_total`): 100 ids of the
 * longest form (63 characters) and the 50 planned entries stay under the recorder's 16 KiB.
 */
export const ID_LIST_LIMIT = 100;

/** A `drones` attribute of ids, cut to ID_LIST_LIMIT, with how many there are. */
export const idListAttributes = (ids: readonly string[]): { drones: string[]; drones_total: number } => ({
  drones: ids.slice(0, ID_LIST_LIMIT),
  drones_total: ids.length,
});

/** One drone's planned next backup, as the Queue sensor lists it. */
export interface PlannedEntry {
  drone_id: string;
  next_at: string | null;
  reason: PlanReason;
}

/**
 * The Queue sensor's attributes: the drones due now in the order they would start, then the
 * others by planned time (drones with no planned time last, by id), cut to ATTRIBUTE_LIST_LIMIT.
 */
export function queueAttributes(
  fleet: Fleet,
  queue: readonly string[],
): { drones: string[]; drones_total: number; planned: PlannedEntry[]; planned_total: number } {
  const plans = fleet.plans();
  const position = new Map(queue.map((droneId, index) => [droneId, index]));
  const entries = [...plans.entries()].map(([droneId, plan]) => ({ droneId, plan }));
  const time = (at: Date | null) => at?.getTime() ?? Number.POSITIVE_INFINITY;
  entries.sort(
    (a, b) =>
      (position.get(a.droneId) ?? Number.MAX_SAFE_INTEGER) - (position.get(b.droneId) ?? Number.MAX_SAFE_INTEGER) ||
      time(a.plan.nextAt) - time(b.plan.nextAt) ||
      a.droneId.localeCompare(b.droneId),
  );
  return {
    ...idListAttributes(queue),
    planned: entries
      .slice(0, ATTRIBUTE_LIST_LIMIT)
      .map(({ droneId, plan }) => ({ drone_id: droneId, next_at: plan.nextAt?.toISOString() ?? null, reason: plan.reason })),
    planned_total: entries.length,
  };
}

/** One drone's last run in the last round, as the Last Round Completed sensor lists it. */
export interface RoundEntry {
  drone_id: string;
  outcome: Outcome;
  finished_at: string;
  duration_seconds: number;
  /** What the run added to the repository (the archive's deduplicated size); null without an archive. */
  added_bytes: number | null;
  ours: boolean;
}

/** The Last Round Completed sensor's attributes (in memory: empty after the coordinator restarts). */
export function lastRoundAttributes(round: LastRound | null): { opened_at: string | null; drones: RoundEntry[]; drones_total: number } {
  if (!round) return { opened_at: null, drones: [], drones_total: 0 };
  return {
    opened_at: round.openedAt.toISOString(),
    drones: round.runs.slice(0, ATTRIBUTE_LIST_LIMIT).map(({ droneId, ours, result }) => ({
      drone_id: droneId,
      outcome: result.outcome,
      finished_at: result.finished_at,
      duration_seconds: result.duration_seconds,
      added_bytes: result.archive?.deduplicated_size ?? null,
      ours,
    })),
    drones_total: round.runs.length,
  };
}

/** Drone ids as one state: comma-separated, `none` when empty, cut to HA's limit with a count of the rest. */
export function idList(ids: readonly string[], empty = "none"): string {
  if (ids.length === 0) return empty;
  const full = ids.join(", ");
  if (full.length <= MAX_STATE_LENGTH) return full;
  const shown: string[] = [];
  for (const id of ids) {
    const rest = ids.length - shown.length - 1;
    const candidate = [...shown, id].join(", ") + (rest > 0 ? `, … (+${rest})` : "");
    if (candidate.length > MAX_STATE_LENGTH) break;
    shown.push(id);
  }
  return `${shown.join(", ")}, … (+${ids.length - shown.length})`;
}

/**
 * A sliding-window limit on writes (synapse's integration accepts 300 `patch_entity` a
 * minute per app; the coordinator keeps below that with room to spare).
 */
export interface RateGate {
  /** Take a slot now; false when the window is full. */
  take(): boolean;
  /** Milliseconds until a slot frees (0 when one is free). */
  waitMs(): number;
}

/** Create a rate gate of `limit` writes per `windowMs`; `clock` gives milliseconds. */
export function createRateGate(limit: number, windowMs: number, clock: () => number = () => performance.now()): RateGate {
  const stamps: number[] = [];
  const prune = () => {
    const now = clock();
    while (stamps.length > 0 && now - stamps[0]! >= windowMs) stamps.shift();
    return now;
  };
  return {
    take: () => {
      const now = prune();
      if (stamps.length >= limit) return false;
      stamps.push(now);
      return true;
    },
    waitMs: () => {
      const now = prune();
      return stamps.length < limit ? 0 : Math.max(0, stamps[0]! + windowMs - now);
    },
  };
}

/** The attributes of a drone's problem sensor. */
export function problemAttributes(droneId: string, problem: Problem | null) {
  return { drone_id: droneId, kind: problem?.kind ?? null, reason: problem?.reason ?? null, since: problem?.since.toISOString() ?? null };
}

/**
 * Whether a problem sensor's stored attributes already say `problem`, compared field by field:
 * every sync looks at every drone's sensor, and building and serialising their attributes
 * each time made most of a sync's garbage with a large fleet.
 */
export function showsProblem(stored: unknown, droneId: string, problem: Problem | null): boolean {
  if (typeof stored !== "object" || stored === null) return false;
  const shown = stored as Record<string, unknown>;
  return (
    shown.drone_id === droneId &&
    shown.kind === (problem?.kind ?? null) &&
    shown.reason === (problem?.reason ?? null) &&
    shown.since === (problem?.since.toISOString() ?? null) &&
    Object.keys(shown).length === 4
  );
}
