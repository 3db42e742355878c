/**
 * What the coordinator's entities show, computed from the fleet model: pure, so that the
 * entities service only publishes what changed.
 */
import { MAX_STATE_LENGTH } from "../../../libs/protocol/index.mjs";
import { type Fleet } from "../core/fleet.mjs";

export { MAX_STATE_LENGTH };

/** The values of the coordinator's sensors. */
export interface FleetSummary {
  /** Drone ids running now, sorted. */
  running: string[];
  /** Mean percent of the runs going (of those with an estimate); 0 when nothing runs; null when no run has an estimate yet. */
  progress: number | null;
  /** Seconds until the last of the runs going ends, when known. */
  eta: number | null;
  /** Bytes read so far by the runs going. */
  bytes: number;
  /** Files read so far by the runs going. */
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
    bytes: runs.reduce((sum, { run }) => sum + (run.progress?.original_size ?? 0), 0),
    files: runs.reduce((sum, { run }) => sum + (run.progress?.nfiles ?? 0), 0),
    queue: fleet.queue(now),
    failing: fleet
      .failing()
      .map(drone => drone.droneId)
      .sort(),
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
