/**
 * The coordinator's plan per drone, end to end through Home Assistant (in memory) with
 * simulated drones: the `backup_coordinator_plan` events (once per drone, then only news),
 * a cancelled run (no failure, no restart before the next regular time), the Queue and Last
 * Round Completed attributes.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { COORDINATOR_EVENT_TYPES, planEventSchema } from "../../../libs/protocol/index.mjs";
import { bootCoordinator, type Harness, settle } from "./harness.mjs";
import { minutesFrom, T0, waitFor } from "../../helpers/wait.mjs";

const DAY = 24 * 60;
let h: Harness | undefined;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(T0);
});
afterEach(async () => {
  await h?.teardown();
  h = undefined;
  vi.useRealTimers();
});

/** The plan events fired so far, validated, as `drone:reason:next_at`. */
const plans = (harness: Harness) =>
  harness.fired(COORDINATOR_EVENT_TYPES.plan).map(({ event_data }) => {
    const plan = planEventSchema.parse(event_data);
    return `${plan.drone_id}:${plan.reason}:${plan.next_at ?? "null"}`;
  });

describe("the coordinator's plan events", () => {
  it("one per drone after it starts, nothing more while nothing changes, the news when a run starts and ends", async () => {
    h = await bootCoordinator({ drones: [{ id: "a", lastBackup: minutesFrom(T0, -60) }, { id: "b", mode: "paused" }, { id: "c", mode: "standalone" }] });
    for (const droneId of ["a", "b", "c"]) await h.report(droneId);
    h.evaluate();
    await settle();
    expect(plans(h).sort()).toEqual([`a:due:${minutesFrom(T0, DAY - 60).toISOString()}`, "b:paused:null", "c:not_coordinated:null"]);

    // heartbeats and ticks: no news, no events
    for (let minute = 1; minute <= 3; minute++) {
      vi.setSystemTime(minutesFrom(T0, minute));
      await h.heartbeat();
      h.evaluate();
    }
    await settle();
    expect(plans(h)).toHaveLength(3);

    // a is due a day later: started (overdue), seen running, then due again after its result
    const due = minutesFrom(T0, DAY - 60);
    vi.setSystemTime(due);
    await h.heartbeat();
    await h.waitForPresses(1);
    await h.report("a");
    // the look that follows a status runs once the event is handled: wait for it before the result comes
    await waitFor(() => plans(h!).includes(`a:running:${due.toISOString()}`), "the plan of the running drone");
    vi.setSystemTime(minutesFrom(due, 5));
    await h.finish("a", "success");
    await settle();
    h.evaluate();
    await settle();
    expect(plans(h).slice(3)).toEqual([
      `a:overdue:${due.toISOString()}`,
      `a:running:${due.toISOString()}`,
      `a:due:${minutesFrom(due, 5 + DAY).toISOString()}`,
    ]);
    expect(plans(h).filter(line => !line.startsWith("a:"))).toHaveLength(2);
  });

  it("a cancelled run is no failure: no failed problem, no restart, the plan says cancelled; Run Now starts it", async () => {
    const lastBackup = minutesFrom(T0, -DAY - 10);
    h = await bootCoordinator({ drones: [{ id: "a", lastBackup }] });
    await h.report("a");
    await h.waitForPresses(1);
    await h.report("a");
    vi.setSystemTime(minutesFrom(T0, 2));
    await h.finish("a", "interrupted", { error_kind: "cancelled", error: "cancelled by Home Assistant (Cancel button)", cancelled_by: "Home Assistant (Cancel button)" });
    await settle();
    h.evaluate();
    await settle();
    expect(h.presses()).toHaveLength(1);
    expect(h.fired(COORDINATOR_EVENT_TYPES.droneProblem)).toEqual([]);
    const next = minutesFrom(lastBackup, 2 * DAY).toISOString();
    expect(plans(h).at(-1)).toBe(`a:cancelled:${next}`);
    const finished = h.fired(COORDINATOR_EVENT_TYPES.runFinished).map(({ event_data }) => event_data);
    expect(finished).toEqual([expect.objectContaining({ outcome: "interrupted", error_kind: "cancelled", ours: true })]);

    await h.command("run_now", "press");
    await h.waitForPresses(2);
  });

  it("the Queue sensor lists each drone's planned time; Last Round Completed lists each drone's last run", async () => {
    h = await bootCoordinator({ drones: [{ id: "a", lastBackup: minutesFrom(T0, -60) }, { id: "b", lastBackup: minutesFrom(T0, -30), host: "other" }] });
    await h.report("a");
    await h.report("b");
    h.evaluate();
    await settle();
    h.params.backup_coordinator.entities.sync();
    await waitFor(() => (h!.published("queue", "attributes") as { planned?: unknown[] } | undefined)?.planned?.length === 2, "the planned list");
    expect(h.published("queue", "attributes")).toEqual({
      drones: [],
      drones_total: 0,
      planned: [
        { drone_id: "b", next_at: minutesFrom(T0, DAY - 30).toISOString(), reason: "due" },
        { drone_id: "a", next_at: minutesFrom(T0, DAY - 60).toISOString(), reason: "due" },
      ].sort((x, y) => x.next_at.localeCompare(y.next_at)),
      planned_total: 2,
    });

    vi.setSystemTime(minutesFrom(T0, 1));
    await h.command("run_now", "press");
    await h.waitForPresses(2);
    vi.setSystemTime(minutesFrom(T0, 2));
    await h.finish("a", "success", { archive: { name: "a-1", original_size: 2000, compressed_size: 1000, deduplicated_size: 123, nfiles: 4 } });
    vi.setSystemTime(minutesFrom(T0, 3));
    await h.finish("b", "warning");
    await waitFor(() => (h!.published("last_round_completed", "attributes") as { drones?: unknown[] } | undefined)?.drones?.length === 2, "the round");
    expect(h.published("last_round_completed", "attributes")).toEqual({
      opened_at: minutesFrom(T0, 1).toISOString(),
      drones: [
        { drone_id: "a", outcome: "success", finished_at: minutesFrom(T0, 2).toISOString(), duration_seconds: 60, added_bytes: 123, ours: true },
        { drone_id: "b", outcome: "warning", finished_at: minutesFrom(T0, 3).toISOString(), duration_seconds: 120, added_bytes: null, ours: true },
      ],
      drones_total: 2,
    });
    expect(h.params.backup_coordinator.fleet.history("a").map(run => run.result.outcome)).toEqual(["success"]);
    expect(h.params.backup_coordinator.fleet.history().map(run => `${run.droneId}:${run.result.outcome}`)).toEqual(["b:warning", "a:success"]);
  });
});
