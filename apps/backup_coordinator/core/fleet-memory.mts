/**
 * What the fleet model remembers beside the drones' records: the runs it saw end (in memory,
 * bounded per drone) for the history and the last round, and the plan it last announced of
 * each drone, so that a plan is announced only when it is news.
 */
import { type SeenRun } from "./drone-record.mjs";
import { type DronePlan, planChanged } from "./plan.mjs";

/** Runs kept per drone in the coordinator's in-memory history. */
export const HISTORY_PER_DRONE = 20;

/** The runs the coordinator saw end. */
export interface RunMemory {
  remember(run: SeenRun): void;
  /** Newest first: of one drone, or of all. */
  history(droneId?: string): SeenRun[];
  /** Each drone's last primary run seen since the round opened, by drone id. */
  roundRuns(openedAt: Date): SeenRun[];
}

/** An empty memory of runs. */
export function createRunMemory(): RunMemory {
  const seen = new Map<string, SeenRun[]>();
  return {
    remember: run => {
      const runs = seen.get(run.droneId) ?? [];
      runs.unshift(run);
      runs.splice(HISTORY_PER_DRONE);
      seen.set(run.droneId, runs);
    },
    history: droneId => {
      if (droneId !== undefined) return [...(seen.get(droneId) ?? [])];
      return [...seen.values()].flat().sort((a, b) => b.seenAt.getTime() - a.seenAt.getTime() || a.droneId.localeCompare(b.droneId));
    },
    roundRuns: openedAt =>
      [...seen.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .flatMap(([, runs]) => {
          const last = runs.find(run => run.kind === "primary" && run.seenAt.getTime() >= openedAt.getTime());
          return last ? [last] : [];
        }),
  };
}

/** Which plans are news. */
export interface PlanAnnouncements {
  /** The plan last announced of each drone. */
  published(): ReadonlyMap<string, DronePlan>;
  /** Whether this plan of a drone is to be announced; when it is, it counts as announced. */
  news(droneId: string, plan: DronePlan): boolean;
  /** Every plan is news at the next look (Home Assistant came back). */
  republish(): void;
  /** This drone's plan is news at the next look (it has just connected, and may have missed it). */
  resend(droneId: string): void;
  /** A look has announced what was news. */
  done(): void;
}

/** Nothing announced yet. */
export function createPlanAnnouncements(): PlanAnnouncements {
  const published = new Map<string, DronePlan>();
  let everything = false;
  const again = new Set<string>();
  return {
    published: () => published,
    news: (droneId, plan) => {
      if (!everything && !again.has(droneId) && !planChanged(published.get(droneId), plan)) return false;
      again.delete(droneId);
      published.set(droneId, plan);
      return true;
    },
    republish: () => {
      everything = true;
    },
    resend: droneId => void again.add(droneId),
    done: () => {
      everything = false;
    },
  };
}
