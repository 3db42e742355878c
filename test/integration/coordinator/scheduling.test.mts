/**
 * How the coordinator decides, end to end through Home Assistant (in memory) with simulated
 * drones: order, limits, the result of one run starting the next, backoff, offsite runs,
 * the backup window, pause, run now and the concurrency limit entity.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { bootCoordinator, type DroneSpec, type Harness, settle } from "./harness.mjs";
import { minutesFrom, T0, waitFor } from "../../helpers/wait.mjs";

const DAY = 24 * 60;
let h: Harness | undefined;

beforeEach(() => {
  // only Date is faked: the coordinator's clock moves when a test says so, timers stay real
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(T0);
});
afterEach(async () => {
  await h?.teardown();
  h = undefined;
  vi.useRealTimers();
});

/** Boot with drones that report while the coordinator is paused, then resume: one look sees them all. */
async function bootWith(drones: DroneSpec[], config: Record<string, unknown> = {}) {
  h = await bootCoordinator({ drones, config });
  await h.command("pause", "turn_on");
  for (const drone of drones) await h.report(drone.id);
  await settle();
  expect(h.presses()).toEqual([]);
  await h.command("pause", "turn_off");
  return h;
}

/** Finish every run as it starts, in order, until `count` presses were made; returns the order. */
async function runAll(harness: Harness, count: number) {
  for (let done = 0; done < count; done++) {
    const presses = await harness.waitForPresses(done + 1);
    const press = presses[done]!;
    vi.setSystemTime(minutesFrom(new Date(), 1));
    await harness.heartbeat();
    await harness.finish(press.droneId!, "success");
  }
  await settle();
  return harness.pressed();
}

describe("the order of runs", () => {
  it("priority first, then the most overdue (a drone never backed up counts as the most overdue)", async () => {
    const harness = await bootWith([
      { id: "two-days", lastBackup: minutesFrom(T0, -2 * DAY) },
      { id: "three-days", lastBackup: minutesFrom(T0, -3 * DAY) },
      { id: "never", lastBackup: null },
      { id: "important", priority: 5, lastBackup: minutesFrom(T0, -1.5 * DAY) },
      { id: "fresh", lastBackup: minutesFrom(T0, -60) },
    ]);
    expect(await runAll(harness, 4)).toEqual(["important", "never", "three-days", "two-days"]);
    // the drone backed up an hour ago is not due
    harness.evaluate();
    await settle();
    expect(harness.pressed()).not.toContain("fresh");
  });
});

describe("limits", () => {
  it("never more than one run per repository host, with five drones on two hosts", async () => {
    const drones: DroneSpec[] = [
      { id: "a", host: "nas" },
      { id: "b", host: "nas" },
      { id: "c", host: "nas" },
      { id: "d", host: "cloud" },
      { id: "e", host: "cloud" },
    ];
    const harness = await bootWith(drones);
    // one per host at once
    await harness.waitForPresses(2);
    await settle();
    expect(harness.presses().map(press => harness.drones.get(press.droneId!)!.host).sort()).toEqual(["cloud", "nas"]);
    // finish whatever runs, oldest first, until all five ran
    while ([...harness.drones.values()].some(drone => drone.runs === 0)) {
      const running = [...harness.drones.values()].filter(drone => drone.run).sort((x, y) => x.run!.startedAt.getTime() - y.run!.startedAt.getTime());
      expect(running.length).toBeGreaterThan(0);
      const before = harness.presses().length;
      vi.setSystemTime(minutesFrom(new Date(), 3));
      await harness.heartbeat();
      await harness.finish(running[0]!.id, "success");
      if ([...harness.drones.values()].some(drone => drone.runs === 0 && drone.host === running[0]!.host)) {
        await harness.waitForPresses(before + 1);
      }
      await settle();
    }
    expect(harness.maxConcurrent()).toEqual({ nas: 1, cloud: 1 });
    expect(harness.pressed().sort()).toEqual(["a", "b", "c", "d", "e"]);
  });

  it("one machine named two ways is one repository host: localhost and 127.0.0.1 share its slot (issue 15)", async () => {
    const harness = await bootWith([
      { id: "a", host: "localhost" },
      { id: "b", host: "127.0.0.1" },
    ]);
    const [first] = await harness.waitForPresses(1);
    await settle(100);
    expect(harness.presses()).toHaveLength(1);
    const shared = [{ key: "127.0.0.1", hosts: ["127.0.0.1", "localhost"], warning: expect.stringMatching(/one machine \(127\.0\.0\.1\)/) }];
    await waitFor(() => JSON.stringify(harness.published("concurrency_limit", "attributes")).includes("localhost"), "the shared hosts attribute");
    expect(harness.published("concurrency_limit", "attributes")).toEqual({ shared_hosts: shared });
    // said once, however many heartbeats come
    await harness.heartbeat();
    await settle();
    const warnings = harness.logs.filter(line => line.includes("repository hosts 127.0.0.1 (b) and localhost (a) are one machine"));
    expect(warnings).toHaveLength(1);
    // the other drone starts when the first one's run ends
    vi.setSystemTime(minutesFrom(new Date(), 3));
    await harness.finish(first!.droneId!, "success");
    await harness.waitForPresses(2);
    expect(harness.pressed().sort()).toEqual(["a", "b"]);
  });

  it("the global limit caps runs across hosts", async () => {
    const harness = await bootWith(
      [
        { id: "a", host: "h1" },
        { id: "b", host: "h2" },
        { id: "c", host: "h3" },
      ],
      { GLOBAL_LIMIT: 2 },
    );
    await harness.waitForPresses(2);
    await settle();
    expect(harness.presses()).toHaveLength(2);
    await harness.finish(harness.presses()[0]!.droneId!, "success");
    await harness.waitForPresses(3);
  });

  it("a manual run (a person pressed the drone's button) takes its host's slot", async () => {
    h = await bootCoordinator({ drones: [{ id: "a" }, { id: "b" }] });
    await h.command("pause", "turn_on");
    await h.report("b");
    await h.startManual("a");
    await h.command("pause", "turn_off");
    await settle();
    expect(h.presses()).toEqual([]);
    const finished = h.fired("backup_coordinator_run_started");
    expect(finished.map(event => event.event_data)).toEqual([expect.objectContaining({ drone_id: "a", ours: false })]);
    await h.finish("a", "success");
    await h.waitForPresses(1);
    expect(h.pressed()).toEqual(["b"]);
  });
});

describe("one run's result starts the next", () => {
  it("presses the next drone on the result itself, without waiting for a tick", async () => {
    h = await bootCoordinator({ drones: [{ id: "a" }, { id: "b" }], config: { TICK_SECONDS: 86_400 } });
    await h.report("a");
    await h.waitForPresses(1);
    await h.report("b");
    await settle();
    expect(h.pressed()).toEqual(["a"]);
    await h.finish("a", "success");
    // no evaluate() from the test, and the tick is a day away
    await h.waitForPresses(2, 2_000);
    expect(h.pressed()).toEqual(["a", "b"]);
    expect(h.fired("backup_coordinator_run_finished").map(event => event.event_data)).toEqual([
      expect.objectContaining({ drone_id: "a", kind: "primary", ours: true, outcome: "success" }),
    ]);
  });

  it("a failure of a kind this coordinator does not know (a newer drone's) still ends the run and frees the slot", async () => {
    h = await bootCoordinator({ drones: [{ id: "a" }, { id: "b" }], config: { TICK_SECONDS: 86_400 } });
    await h.report("a");
    await h.waitForPresses(1);
    await h.report("b");
    await settle();
    await h.finish("a", "failed", { error_kind: "quota_exceeded_v9", error: "the repository's quota is used up" });
    await h.waitForPresses(2, 2_000);
    expect(h.pressed()).toEqual(["a", "b"]);
    expect(h.fired("backup_coordinator_run_finished").map(event => event.event_data)).toEqual([
      expect.objectContaining({ drone_id: "a", outcome: "failed", error_kind: "unknown", error: "the repository's quota is used up" }),
    ]);
  });
});

describe("after a failed run", () => {
  it("retries with exponential backoff, then waits for the next due time", async () => {
    h = await bootCoordinator({ drones: [{ id: "a" }], config: { RETRY_BASE_MINUTES: 5, RETRY_ATTEMPTS: 3 } });
    await h.report("a");
    await h.waitForPresses(1);
    await h.finish("a", "failed");
    await settle();

    const pressesAt = async (minutes: number) => {
      vi.setSystemTime(minutesFrom(T0, minutes));
      // the drone's heartbeat (every minute or so) keeps it online; the status makes the coordinator look
      await h!.heartbeat();
      h!.evaluate();
      await settle();
      return h!.presses().length;
    };
    expect(await pressesAt(4)).toBe(1);
    expect(await pressesAt(5.1)).toBe(2);
    await h.finish("a", "failed");
    expect(await pressesAt(5.1 + 9)).toBe(2);
    expect(await pressesAt(5.1 + 10.1)).toBe(3);
    await h.finish("a", "failed");
    // third failure: no retry before it is due again (its frequency, a day)
    expect(await pressesAt(5.1 + 10.1 + 60)).toBe(3);
    expect(await pressesAt(5.1 + 10.1 + DAY + 1)).toBe(4);
  });
});

describe("offsite runs", () => {
  it("at most OFFSITE_LIMIT offsite runs in the home, and never beside the drone's own backup", async () => {
    const recent = minutesFrom(T0, -60);
    const harness = await bootWith([
      { id: "a", offsiteHost: "cloud", lastBackup: recent, lastOffsiteBackup: null },
      { id: "b", offsiteHost: "cloud", lastBackup: recent, lastOffsiteBackup: null },
      { id: "c", host: "usb", offsiteHost: "cloud", lastBackup: null, lastOffsiteBackup: null },
    ]);
    await harness.waitForPresses(2);
    await settle();
    // c's backup (its own host) and one offsite upload; c's own offsite waits for its backup
    expect(harness.pressed().sort()).toEqual(["a:offsite", "c"]);
    expect(harness.presses().find(press => press.kind === "offsite")?.entityId).toBe("button.a_offsite_backup");
    await harness.finish("a", "success");
    await harness.waitForPresses(3);
    expect(harness.pressed()[2]).toBe("b:offsite");
    await harness.finish("c", "success");
    await harness.finish("b", "success");
    await harness.waitForPresses(4);
    expect(harness.pressed()[3]).toBe("c:offsite");
    expect(harness.maxConcurrent()["offsite:cloud"]).toBe(1);
  });
});

describe("the backup window", () => {
  it("starts nothing outside it", async () => {
    vi.setSystemTime(new Date(2026, 10, 22, 12, 0));
    h = await bootCoordinator({ drones: [{ id: "a" }], config: { BACKUP_WINDOW: "01:00-05:00" } });
    await h.report("a");
    await settle();
    h.evaluate();
    await settle();
    expect(h.presses()).toEqual([]);
    vi.setSystemTime(new Date(2026, 10, 23, 1, 30));
    await h.report("a");
    await h.waitForPresses(1);
  });

  it("a window may wrap midnight", async () => {
    vi.setSystemTime(new Date(2026, 10, 22, 3, 0));
    h = await bootCoordinator({ drones: [{ id: "a" }], config: { BACKUP_WINDOW: "22:00-02:00" } });
    await h.report("a");
    await settle();
    expect(h.presses()).toEqual([]);
    vi.setSystemTime(new Date(2026, 10, 22, 23, 0));
    await h.heartbeat();
    await h.waitForPresses(1);
  });
});

describe("without Home Assistant", () => {
  it("starts nothing and judges nothing while the connection is down", async () => {
    h = await bootCoordinator({ drones: [{ id: "a" }] });
    await h.command("pause", "turn_on");
    await h.report("a");
    await h.command("pause", "turn_off");
    h.params.hass.socket.connectionState = "offline";
    vi.setSystemTime(minutesFrom(T0, 10));
    expect(h.evaluate()).toEqual([]);
    await settle();
    expect(h.presses()).toEqual([]);
    expect(h.logs.some(line => line.includes("Home Assistant is not connected: nothing starts"))).toBe(true);
    h.params.hass.socket.connectionState = "connected";
    await h.report("a");
    await h.waitForPresses(1);
  });
});

describe("pause and run now", () => {
  it("a paused coordinator starts nothing; the switch shows it and resuming starts what is due", async () => {
    h = await bootCoordinator({ drones: [{ id: "a" }] });
    await h.command("pause", "turn_on");
    await h.report("a");
    h.evaluate();
    await settle();
    expect(h.presses()).toEqual([]);
    expect(h.params.backup_coordinator.dispatch.paused).toBe(true);
    expect(h.published("pause", "is_on")).toBe(true);
    await h.command("pause", "turn_off");
    await h.waitForPresses(1);
    expect(h.published("pause", "is_on")).toBe(false);
  });

  it("run now makes every drone due; the round then completes", async () => {
    h = await bootCoordinator({ drones: [{ id: "a", lastBackup: minutesFrom(T0, -60) }, { id: "b", lastBackup: minutesFrom(T0, -30) }] });
    await h.report("a");
    await h.report("b");
    h.evaluate();
    await settle();
    expect(h.presses()).toEqual([]);
    vi.setSystemTime(minutesFrom(T0, 1));
    await h.command("run_now", "press");
    await h.waitForPresses(1);
    vi.setSystemTime(minutesFrom(T0, 2));
    await h.finish("a", "success");
    await h.waitForPresses(2);
    vi.setSystemTime(minutesFrom(T0, 3));
    await h.finish("b", "success");
    await waitFor(() => h!.published("last_round_completed") !== null && h!.published("last_round_completed"), "the round's end");
    expect(h.published("last_round_completed")).toBe(minutesFrom(T0, 3).toISOString());
    expect(h.pressed()).toEqual(["a", "b"]);
  });
});

describe("the concurrency limit entity", () => {
  it("raises the per-host limit; a value out of range is refused and the old value shown again", async () => {
    const harness = await bootWith([{ id: "a" }, { id: "b" }, { id: "c" }]);
    await harness.waitForPresses(1);
    await settle();
    expect(harness.presses()).toHaveLength(1);

    await harness.command("concurrency_limit", "set_value", { value: 2 });
    await harness.waitForPresses(2);
    await settle();
    expect(harness.presses()).toHaveLength(2);
    expect(harness.published("concurrency_limit", "native_value")).toBe(2);

    for (const bad of [0, 11, 1.5]) {
      await harness.command("concurrency_limit", "set_value", { value: bad });
      await settle();
      expect(harness.params.backup_coordinator.dispatch.perHostLimit).toBe(2);
      expect(harness.published("concurrency_limit", "native_value")).toBe(2);
    }
    await harness.command("concurrency_limit", "set_value", { value: "three" });
    await settle();
    expect(harness.logs.filter(line => line.startsWith("warn") && line.includes("concurrency limit"))).toHaveLength(4);
    expect(harness.maxConcurrent()).toEqual({ nas: 2 });
  });
});
