import { describe, expect, it } from "vitest";

import { createFleet, type FleetSettings } from "../../../apps/backup_coordinator/core/fleet.mjs";
import {
  ATTRIBUTE_LIST_LIMIT,
  createRateGate,
  idList,
  lastRoundAttributes,
  MAX_STATE_LENGTH,
  ID_LIST_LIMIT,
  problemAttributes,
  queueAttributes,
  showsProblem,
  summarize,
} from "../../../apps/backup_coordinator/ha/summary.mjs";
import { PROTOCOL_VERSION, type ProgressEvent } from "../../../libs/protocol/index.mjs";
import { at, DEFAULT_FLEET_SETTINGS, resultEvent, statusEvent } from "../../helpers/fleet.mjs";
import { T0 } from "../../helpers/wait.mjs";

const settings: FleetSettings = DEFAULT_FLEET_SETTINGS;
const status = statusEvent;
const progress = (droneId: string, percent: number | null, eta: number | null, size: number, nfiles: number): ProgressEvent => ({
  v: PROTOCOL_VERSION,
  drone_id: droneId,
  run_id: `${droneId}-1`,
  operation: "scheduled",
  repository: "primary",
  state: "creating",
  percent,
  eta_seconds: eta,
  original_size: size,
  compressed_size: 0,
  deduplicated_size: 0,
  nfiles,
  path: null,
  elapsed_seconds: 1,
  expected_size: null,
  finished: false,
  time: T0.toISOString(),
});

describe("what the coordinator's sensors show", () => {
  it("nothing running: progress 0, no ETA, every due drone queued", () => {
    const fleet = createFleet(settings);
    fleet.onStatus(status("b"), T0);
    fleet.onStatus(status("a", { priority: 1 }), T0);
    expect(summarize(fleet, T0)).toEqual({ running: [], progress: 0, eta: null, bytes: 0, files: 0, queue: ["a", "b"], failing: [] });
  });

  it("runs going: mean percent of those with an estimate, the longest ETA, summed counters", () => {
    const fleet = createFleet(settings);
    fleet.onStatus(status("b", { repository_host: "cloud" }), T0);
    fleet.onStatus(status("a"), T0);
    fleet.onStatus(status("c"), T0);
    fleet.onProgress(progress("a", null, null, 100, 1), T0);
    fleet.onProgress(progress("b", null, null, 200, 2), T0);
    expect(summarize(fleet, T0)).toMatchObject({ running: ["a", "b"], progress: null, eta: null, bytes: 300, files: 3, queue: ["c"] });
    fleet.onProgress(progress("a", 20, 400.4, 1000, 10), T0);
    fleet.onProgress(progress("b", 45, 90, 2000, 20), T0);
    expect(summarize(fleet, T0)).toMatchObject({ progress: 32.5, eta: 400, bytes: 3000, files: 30 });
  });

  it("bytes and files are what the create steps read: the prune, compact and stats after them count nothing", () => {
    const fleet = createFleet(settings);
    fleet.onStatus(status("a"), T0);
    fleet.onProgress(progress("a", 90, 10, 5000, 50), T0);
    // a scheduled run's later steps each count from 0, and end with 0 bytes and 0 files
    for (const state of ["pruning", "compacting", "updating_stats"] as const) {
      fleet.onProgress({ ...progress("a", 100, 0, 0, 0), state, finished: true }, T0);
    }
    expect(summarize(fleet, T0)).toMatchObject({ running: ["a"], progress: 100, bytes: 5000, files: 50 });
  });

  it("a run's read: its archive's figures, else its create step's last progress (a failed run), and nothing for a job that never started", () => {
    const fleet = createFleet(settings);
    fleet.onStatus(status("a"), T0);
    fleet.onStatus(status("b", { repository_host: "cloud" }), T0);
    fleet.onProgress(progress("a", 90, 10, 5000, 50), T0);
    fleet.onProgress({ ...progress("a", 100, 0, 0, 0), state: "compacting", finished: true }, T0);
    fleet.onProgress(progress("b", 40, 10, 700, 7), T0);
    const archive = { name: "a@1", original_size: 6000, compressed_size: 3000, deduplicated_size: 100, nfiles: 60 };
    const finished = (effects: ReturnType<typeof fleet.onResult>) => effects.flatMap(effect => (effect.type === "run_finished" ? [effect.read] : []));
    expect(finished(fleet.onResult(resultEvent("a", "success", T0, { run_id: "a-1", archive }), T0))).toEqual([{ bytes: 6000, files: 60 }]);
    // a queued job of b cancelled before it started, while b's run goes on
    const dropped = resultEvent("b", "interrupted", T0, { run_id: "b-2", error_kind: "cancelled", started_at: T0.toISOString() });
    expect(finished(fleet.onResult(dropped, T0))).toEqual([{ bytes: 0, files: 0 }]);
    expect(finished(fleet.onResult(resultEvent("b", "failed", T0, { run_id: "b-1", archive: null }), T0))).toEqual([{ bytes: 700, files: 7 }]);
  });

  it("lists the failing drones", () => {
    const fleet = createFleet(settings);
    fleet.onStatus(status("a"), T0);
    fleet.onOnline("a", false, T0);
    expect(summarize(fleet, T0).failing).toEqual(["a"]);
  });

  it("a list of ids fits in a state: comma-separated, none when empty, cut with a count", () => {
    expect(idList([])).toBe("none");
    expect(idList(["a", "b"])).toBe("a, b");
    const many = Array.from({ length: 60 }, (_, i) => `drone-number-${i}`);
    const text = idList(many);
    expect(text.length).toBeLessThanOrEqual(MAX_STATE_LENGTH);
    expect(text).toMatch(/^drone-number-0, drone-number-1, .*, … \(\+\d+\)$/);
    const shown = text.split(", ").length - 1;
    expect(text.endsWith(`(+${60 - shown})`)).toBe(true);
  });

  it("the rate gate admits `limit` writes per window", () => {
    let now = 0;
    const gate = createRateGate(3, 1000, () => now);
    expect([gate.take(), gate.take(), gate.take(), gate.take()]).toEqual([true, true, true, false]);
    now = 400;
    expect(gate.waitMs()).toBe(600);
    now = 1000;
    expect(gate.waitMs()).toBe(0);
    expect(gate.take()).toBe(true);
  });

  it("the Queue sensor lists the queue's order with each drone's planned time and reason, then the rest by time, bounded", () => {
    const fleet = createFleet(settings);
    fleet.onStatus(status("late", { last_backup: at(-2 * 86_400).toISOString() }), T0);
    fleet.onStatus(status("later", { last_backup: at(-3600).toISOString() }), T0);
    fleet.onStatus(status("soon", { last_backup: at(-86_000).toISOString() }), T0);
    fleet.onStatus(status("self", { mode: "standalone" }), T0);
    fleet.evaluate(T0, { paused: false });
    const attributes = queueAttributes(fleet, fleet.queue(T0));
    expect(attributes).toEqual({
      drones: ["late"],
      drones_total: 1,
      planned: [
        { drone_id: "late", next_at: T0.toISOString(), reason: "overdue" },
        { drone_id: "soon", next_at: at(-86_000 + 86_400).toISOString(), reason: "due" },
        { drone_id: "later", next_at: at(-3600 + 86_400).toISOString(), reason: "due" },
        { drone_id: "self", next_at: null, reason: "not_coordinated" },
      ],
      planned_total: 4,
    });

    const big = createFleet(settings);
    for (let index = 0; index < 200; index++) big.onStatus(status(`drone-${String(index).padStart(3, "0")}`, { last_backup: at(-2 * 86_400 - index * 60).toISOString() }), T0);
    big.evaluate(T0, { paused: false });
    const capped = queueAttributes(big, big.queue(T0));
    expect(capped.planned).toHaveLength(ATTRIBUTE_LIST_LIMIT);
    expect(capped.planned_total).toBe(200);
    expect(capped.drones).toHaveLength(ID_LIST_LIMIT);
    expect(capped.drones_total).toBe(200);
    // the recorder's limit is 16 KiB of attributes, also with 1,000 drones of the longest id
    expect(Buffer.byteLength(JSON.stringify(capped))).toBeLessThan(16 * 1024);
    const longest = createFleet(settings);
    for (let index = 0; index < 1000; index++) longest.onStatus(status(`${"d".repeat(59)}${String(index).padStart(4, "0")}`, { last_backup: at(-2 * 86_400 - index * 60).toISOString() }), T0);
    longest.evaluate(T0, { paused: false });
    const attributes1000 = queueAttributes(longest, longest.queue(T0));
    expect(attributes1000.drones_total).toBe(1000);
    expect(attributes1000.drones).toHaveLength(ID_LIST_LIMIT);
    expect(Buffer.byteLength(JSON.stringify(attributes1000))).toBeLessThan(16 * 1024);
  });

  it("the Last Round Completed sensor lists each drone's last run in the round, with the bytes it added", () => {
    expect(lastRoundAttributes(null)).toEqual({ opened_at: null, drones: [], drones_total: 0 });
    const archive = { name: "a-2026", original_size: 1000, compressed_size: 600, deduplicated_size: 321, nfiles: 3 };
    const result = resultEvent("a", "success", at(20), { archive, duration_seconds: 20 });
    const attributes = lastRoundAttributes({ openedAt: T0, completedAt: at(21), runs: [{ droneId: "a", kind: "primary", ours: true, seenAt: at(20), result }] });
    expect(attributes).toEqual({
      opened_at: T0.toISOString(),
      drones: [{ drone_id: "a", outcome: "success", finished_at: at(20).toISOString(), duration_seconds: 20, added_bytes: 321, ours: true }],
      drones_total: 1,
    });
  });
});

describe("a problem sensor's attributes", () => {
  const problem = { kind: "offline" as const, reason: "no status for 4 minutes", since: T0 };

  it("are found shown when the stored ones say the same problem, field by field", () => {
    expect(showsProblem(problemAttributes("nas", problem), "nas", problem)).toBe(true);
    expect(showsProblem(JSON.parse(JSON.stringify(problemAttributes("nas", null))), "nas", null)).toBe(true);
  });

  it("are written again when any field differs, one is missing or extra, or nothing is stored", () => {
    const stored = problemAttributes("nas", problem);
    expect(showsProblem(stored, "nas", null)).toBe(false);
    expect(showsProblem(stored, "nas", { ...problem, reason: "no status for 5 minutes" })).toBe(false);
    expect(showsProblem(stored, "nas", { ...problem, since: new Date(T0.getTime() + 1000) })).toBe(false);
    expect(showsProblem(stored, "laptop", problem)).toBe(false);
    expect(showsProblem({ ...stored, extra: 1 }, "nas", problem)).toBe(false);
    const { since: _since, ...withoutSince } = stored;
    expect(showsProblem(withoutSince, "nas", problem)).toBe(false);
    expect(showsProblem(undefined, "nas", null)).toBe(false);
  });
});
