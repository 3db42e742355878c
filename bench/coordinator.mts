/**
 * The coordinator at scale. The pure core (createFleet, planStarts) with 1,000 drones in this
 * process: the time of one scheduling step, and how long failures take to be raised on a
 * driven clock. Memory and the result→next-start gap come from a worker process running the
 * whole coordinator (see coordinator-worker.mts).
 */
import { defaultCoordinatorValues, fleetSettings, parseCoordinatorConfig } from "../apps/backup_coordinator/config.mjs";
import { createFleet, type FleetSettings } from "../apps/backup_coordinator/core/fleet.mjs";
import { planStarts } from "../apps/backup_coordinator/core/plan.mjs";
import { type ProblemKind, PROTOCOL_VERSION, type ResultEvent, type StatusEvent } from "../libs/protocol/index.mjs";
import { type CoordinatorMeasurement, startWorker } from "./lib/messages.mjs";

const T0 = new Date("2026-11-22T02:00:00Z");
const HOSTS = 10;

/** The status event of simulated drone `index` at `now`: some due, some not, on 10 repository hosts. */
export function statusOf(index: number, now: Date, extra: Partial<StatusEvent> = {}): StatusEvent {
  const id = `drone-${String(index).padStart(4, "0")}`;
  return {
    v: PROTOCOL_VERSION,
    drone_id: id,
    mode: index % 50 === 0 ? "standalone" : "coordinated",
    state: "idle",
    operation: null,
    run_id: null,
    queue: [],
    repository_host: `nas${index % HOSTS}`,
    offsite_host: index % 4 === 0 ? "cloud" : null,
    frequency_minutes: index % 3 === 0 ? 360 : 1440,
    offsite_frequency_minutes: index % 4 === 0 ? 10_080 : null,
    priority: index % 7 === 0 ? 1 : 0,
    // spread over the last two days: some due, some not
    last_backup: new Date(now.getTime() - ((index * 2_879) % 2_880) * 60_000).toISOString(),
    last_offsite_backup: null,
    last_result: null,
    entities: { scheduled_backup: `button.${id.replaceAll("-", "_")}_scheduled_backup` },
    version: "0.1.0",
    time: now.toISOString(),
    ...extra,
  };
}

/** The defaults the coordinator ships with. */
export function defaultSettings(): FleetSettings & { tickSeconds: number } {
  const config = parseCoordinatorConfig(defaultCoordinatorValues());
  return { ...fleetSettings(config), tickSeconds: config.tickSeconds };
}

/** One scheduling step of the pure core with `count` drones: evaluate (detect + plan) and planStarts alone. */
export function measureSchedulingStep(count: number, iterations: number) {
  const settings = defaultSettings();
  const fleet = createFleet(settings);
  for (let index = 0; index < count; index++) fleet.onStatus(statusOf(index, T0), T0);
  // a few running, so that the host limits bite
  for (let index = 0; index < HOSTS; index++) {
    const id = `drone-${String(index).padStart(4, "0")}`;
    fleet.onStatus(statusOf(index, T0, { state: "creating", operation: "scheduled", run_id: `${id}-run` }), T0);
  }
  const now = new Date(T0.getTime() + 1_000);
  const evaluateMs: number[] = [];
  const planMs: number[] = [];
  // views of the drones as the fleet builds them, for planStarts on its own
  const droneViews = [...fleet.drones.values()].map(drone => ({
    droneId: drone.droneId,
    mode: drone.mode,
    online: true,
    idle: drone.run === null,
    repositoryHost: drone.repositoryHost,
    hostKnown: drone.hostKnown,
    offsiteHost: drone.offsiteHost,
    frequencyMinutes: drone.frequencyMinutes,
    offsiteFrequencyMinutes: drone.offsiteFrequencyMinutes,
    priority: drone.priority,
    lastBackup: drone.lastBackup,
    lastOffsiteBackup: drone.lastOffsiteBackup,
    blockedUntil: null,
    lastStartedAt: null,
  }));
  const running = fleet.running().map(({ droneId, run }) => ({ droneId, kind: run.kind, host: fleet.drones.get(droneId)?.repositoryHost ?? "?" }));
  let starts = 0;
  for (let index = 0; index < iterations + 20; index++) {
    // evaluate does not press (the services do): every iteration decides the same starts
    const a = performance.now();
    const effects = fleet.evaluate(now, { paused: false });
    const b = performance.now();
    const planned = planStarts(droneViews, running, settings.limits, now);
    const c = performance.now();
    if (index >= 20) {
      evaluateMs.push(b - a);
      planMs.push(c - b);
    }
    starts = Math.max(starts, effects.filter(effect => effect.type === "start").length, planned.length);
  }
  return { drones: count, hosts: HOSTS, startsPerStep: starts, evaluateMs, planStartsMs: planMs };
}

/** How long after a failure the core raises it, on a driven clock looked at every `stepMs`. */
export function measureDetection(stepMs = 1_000) {
  const settings = defaultSettings();
  type Fleet = ReturnType<typeof createFleet>;
  const detect = (kind: ProblemKind, setup: (fleet: Fleet) => Date, horizonMs: number, beforeLook?: (fleet: Fleet, now: Date) => void) => {
    const fleet = createFleet(settings);
    const failedAt = setup(fleet);
    // a result is judged as it arrives; the others on the looks that follow
    for (let t = failedAt.getTime(); t <= failedAt.getTime() + horizonMs; t += stepMs) {
      beforeLook?.(fleet, new Date(t));
      const effects = fleet.evaluate(new Date(t), { paused: true });
      if (effects.some(effect => effect.type === "problem" && effect.problem.kind === kind)) return { kind, afterMs: t - failedAt.getTime() };
    }
    return { kind, afterMs: Number.NaN };
  };
  const base = (fleet: Fleet) => fleet.onStatus(statusOf(1, T0, { last_backup: T0.toISOString() }), T0);
  const atOnce = (kind: ProblemKind, raise: (fleet: Fleet) => void) => {
    const fleet = createFleet(settings);
    raise(fleet);
    return { kind, afterMs: 0 };
  };
  return [
    atOnce(
      "failed",
      fleet => {
        base(fleet);
        const at = new Date(T0.getTime() + 10_000);
        fleet.onStatus(statusOf(1, at, { state: "creating", operation: "scheduled", run_id: "r1" }), at);
        const result: ResultEvent = {
          v: PROTOCOL_VERSION,
          drone_id: "drone-0001",
          run_id: "r1",
          operation: "scheduled",
          repository: "primary",
          trigger: "button",
          outcome: "failed",
          error_kind: "lock_timeout",
          error: "locked",
          warnings: [],
          started_at: at.toISOString(),
          finished_at: at.toISOString(),
          duration_seconds: 0,
          archive: null,
          pruned: [],
        };
        // judged as the result arrives, not on a later look
        const effects = fleet.onResult(result, at);
        if (!effects.some(effect => effect.type === "problem" && effect.problem.kind === "failed")) throw new Error("a failed result raised no problem");
      },
    ),
    // silent from its last heartbeat at T0
    detect("offline", fleet => (base(fleet), T0), 3_600_000),
    detect(
      "not_started",
      fleet => {
        base(fleet);
        fleet.markPressed("drone-0001", "primary", T0);
        return T0;
      },
      3_600_000,
    ),
    detect(
      "stalled",
      fleet => {
        base(fleet);
        fleet.onStatus(statusOf(1, T0, { state: "creating", operation: "scheduled", run_id: "r1" }), T0);
        return T0;
      },
      3_600_000,
      // the drone keeps its heartbeat (every minute) but reports no progress
      (fleet, now) => {
        if ((now.getTime() - T0.getTime()) % 60_000 === 0) fleet.onStatus(statusOf(1, now, { state: "creating", operation: "scheduled", run_id: "r1" }), now);
      },
    ),
  ].map(found => ({
    ...found,
    thresholdMs:
      found.kind === "offline" ? settings.offlineAfterMs : found.kind === "not_started" ? settings.startTimeoutMs : found.kind === "stalled" ? settings.stallMs : 0,
    tickMs: settings.tickSeconds * 1000,
  }));
}

/** Memory and the result→next-start gap of the whole coordinator, in a worker process. */
export async function measureCoordinatorProcess(drones: number, cycles: number): Promise<CoordinatorMeasurement> {
  const worker = startWorker("coordinator-worker", ["--expose-gc"]);
  try {
    const reply = await worker.request({ type: "coordinator", drones, cycles });
    if (reply.type !== "coordinator") throw new Error(`unexpected reply ${reply.type}`);
    return reply.measurement;
  } finally {
    await worker.stop();
  }
}
