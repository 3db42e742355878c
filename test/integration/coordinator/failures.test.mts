/**
 * Failure detection through Home Assistant: each kind of problem shows on the drone's
 * problem binary_sensor and fires `backup_coordinator_drone_problem`; its end fires
 * `backup_coordinator_drone_recovered`. Malformed drone events are ignored with a warning.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { COORDINATOR_EVENT_SCHEMAS } from "../../../libs/protocol/index.mjs";
import { bootCoordinator, type Harness, type HaDrone, onlineSensorId, settle } from "./harness.mjs";
import { minutesFrom, T0, waitFor } from "../../helpers/wait.mjs";

let h: Harness | undefined;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(T0);
});
afterEach(async () => {
  if (h) {
    // every event the coordinator fired matches its schema
    for (const event of h.fired()) {
      const schema = COORDINATOR_EVENT_SCHEMAS[event.event_type as keyof typeof COORDINATOR_EVENT_SCHEMAS];
      expect(schema?.safeParse(event.event_data).success, JSON.stringify(event)).toBe(true);
    }
    await h.teardown();
  }
  h = undefined;
  vi.useRealTimers();
});

const problemEvents = (harness: Harness) => harness.fired("backup_coordinator_drone_problem").map(event => event.event_data);
const recoveredEvents = (harness: Harness) => harness.fired("backup_coordinator_drone_recovered").map(event => event.event_data);

/** Wait until the drone's problem sensor shows `on` (and its kind). */
async function expectProblem(harness: Harness, droneId: string, kind: string) {
  harness.params.backup_coordinator.entities.sync();
  const sensor = await waitFor(() => {
    const current = harness.problemSensor(droneId);
    return current?.is_on === true && current.attributes?.kind === kind && current;
  }, `${droneId}'s problem sensor showing ${kind}`);
  expect(sensor.attributes).toEqual({ drone_id: droneId, kind, reason: expect.any(String), since: expect.any(String) });
  expect(problemEvents(harness)).toContainEqual(
    expect.objectContaining({ v: 1, coordinator_id: "backup_coordinator", drone_id: droneId, kind, reason: sensor.attributes?.reason }),
  );
  return sensor;
}

async function expectRecovered(harness: Harness, droneId: string, kind: string) {
  harness.params.backup_coordinator.entities.sync();
  await waitFor(() => harness.problemSensor(droneId)?.is_on === false, `${droneId}'s problem sensor off`);
  expect(harness.problemSensor(droneId)?.attributes).toEqual({ drone_id: droneId, kind: null, reason: null, since: null });
  expect(recoveredEvents(harness)).toContainEqual(expect.objectContaining({ drone_id: droneId, previous_kind: kind }));
}

const recent = minutesFrom(T0, -60);

describe("each kind of problem", () => {
  it("offline: no event for OFFLINE_AFTER_SECONDS; any event brings it back", async () => {
    h = await bootCoordinator({ drones: [{ id: "a", lastBackup: recent }] });
    await h.report("a");
    vi.setSystemTime(minutesFrom(T0, 2));
    h.evaluate();
    await settle();
    expect(problemEvents(h)).toEqual([]);
    vi.setSystemTime(minutesFrom(T0, 3.1));
    h.evaluate();
    const sensor = await expectProblem(h, "a", "offline");
    expect(sensor.attributes?.reason).toMatch(/no heartbeat for 186 s/);

    // the reason's numbers change on every look; the problem is announced once
    vi.setSystemTime(minutesFrom(T0, 10));
    h.evaluate();
    await settle();
    expect(problemEvents(h)).toHaveLength(1);

    await h.report("a");
    await expectRecovered(h, "a", "offline");
  });

  it("offline: Home Assistant's online sensor of the drone's app goes off (found through its registry)", async () => {
    const haDrones: HaDrone[] = [{ id: "a", lastBackup: recent, online: "on" }];
    h = await bootCoordinator({ drones: [{ id: "a", lastBackup: recent }], haDrones });
    await h.report("a");
    expect(h.params.backup_coordinator.fleet.onlineSensor("a")).toBe(onlineSensorId("a"));
    await h.setHaState(onlineSensorId("a"), "off");
    const sensor = await expectProblem(h, "a", "offline");
    expect(sensor.attributes?.reason).toBe("Home Assistant reports the drone offline");
    await h.setHaState(onlineSensorId("a"), "on");
    await expectRecovered(h, "a", "offline");
  });

  it("not started: pressed, and the drone did not start within START_TIMEOUT_SECONDS", async () => {
    h = await bootCoordinator({ drones: [{ id: "a", answers: false }] });
    await h.report("a");
    await h.waitForPresses(1);
    vi.setSystemTime(minutesFrom(T0, 0.9));
    h.evaluate();
    await settle();
    expect(problemEvents(h)).toEqual([]);
    vi.setSystemTime(minutesFrom(T0, 1.1));
    await h.heartbeat();
    h.evaluate();
    await expectProblem(h, "a", "not_started");
    // it answers the retry: the problem is over
    h.drones.get("a")!.spec.answers = true;
    vi.setSystemTime(minutesFrom(T0, 6.2));
    await h.heartbeat();
    await h.waitForPresses(2);
    await expectRecovered(h, "a", "not_started");
  });

  it("stalled: a run without progress for STALL_MINUTES; progress brings it back", async () => {
    h = await bootCoordinator({ drones: [{ id: "a" }] });
    await h.report("a");
    await h.waitForPresses(1);
    await h.progress("a", 10);
    for (const minute of [5, 10, 15.5]) {
      vi.setSystemTime(minutesFrom(T0, minute));
      await h.heartbeat();
    }
    h.evaluate();
    const sensor = await expectProblem(h, "a", "stalled");
    expect(sensor.attributes?.reason).toMatch(/no progress for 16 min while creating/);
    await h.progress("a", 11);
    await expectRecovered(h, "a", "stalled");
  });

  it("failed: a failed result; a later success recovers", async () => {
    h = await bootCoordinator({ drones: [{ id: "a" }] });
    await h.report("a");
    await h.waitForPresses(1);
    await h.finish("a", "failed");
    const sensor = await expectProblem(h, "a", "failed");
    expect(sensor.attributes?.reason).toContain("The repository is locked by another process");
    expect(h.fired("backup_coordinator_run_finished").map(event => event.event_data)).toEqual([
      expect.objectContaining({ drone_id: "a", outcome: "failed", error_kind: "lock_timeout", ours: true }),
    ]);
    vi.setSystemTime(minutesFrom(T0, 5.5));
    await h.heartbeat();
    await h.waitForPresses(2);
    await h.finish("a", "success");
    await expectRecovered(h, "a", "failed");
  });

  it("overdue: no success for OVERDUE_FACTOR × its frequency", async () => {
    h = await bootCoordinator({ drones: [{ id: "a", frequencyMinutes: 1440, lastBackup: minutesFrom(T0, -2 * 1440 - 5) }] });
    await h.report("a");
    await expectProblem(h, "a", "overdue");
    await h.waitForPresses(1);
    await h.finish("a", "success");
    await expectRecovered(h, "a", "overdue");
  });
});

describe("notifications", () => {
  it("with NOTIFY, a persistent notification per drone on a problem, replaced by a recovery notice", async () => {
    h = await bootCoordinator({ drones: [{ id: "a" }], config: { NOTIFY: true } });
    await h.report("a");
    await h.waitForPresses(1);
    await h.finish("a", "failed");
    await waitFor(() => h!.calls("persistent_notification", "create").length === 1, "the problem notification");
    expect(h.calls("persistent_notification", "create")[0]).toEqual({
      notification_id: "backup_coordinator_a",
      title: "Backup problem: a",
      message: expect.stringContaining("The repository is locked by another process"),
    });
    vi.setSystemTime(minutesFrom(T0, 5.5));
    await h.heartbeat();
    await h.waitForPresses(2);
    await h.finish("a", "success");
    await waitFor(() => h!.calls("persistent_notification", "create").length === 2, "the recovery notification");
    expect(h.calls("persistent_notification", "dismiss")).toContainEqual({ notification_id: "backup_coordinator_a" });
    expect(h.calls("persistent_notification", "create")[1]).toMatchObject({ notification_id: "backup_coordinator_a_recovered", title: "Backup recovered: a" });
  });

  it("without NOTIFY, none", async () => {
    h = await bootCoordinator({ drones: [{ id: "a" }] });
    await h.report("a");
    await h.waitForPresses(1);
    await h.finish("a", "failed");
    await expectProblem(h, "a", "failed");
    expect(h.calls("persistent_notification")).toEqual([]);
  });
});

describe("a connection that falters", () => {
  const failedEvents = (harness: Harness) => problemEvents(harness).filter(event => event.drone_id === "a" && event.kind === "failed");

  it("hass unsure of its connection (unknown): the problem event and notification wait, and go once it is connected again", async () => {
    h = await bootCoordinator({ drones: [{ id: "a" }], config: { NOTIFY: true } });
    await h.report("a");
    await h.waitForPresses(1);
    h.params.hass.socket.connectionState = "unknown";
    await h.finish("a", "failed");
    await settle(300);
    expect(failedEvents(h)).toEqual([]);
    h.params.hass.socket.connectionState = "connected";
    await waitFor(() => failedEvents(h!).length === 1, "the problem event, sent after the hold");
    await waitFor(() => h!.calls("persistent_notification", "create").length === 1, "the problem notification, sent after the hold");
  });

  it("a problem whose event was dropped with the connection is announced again at the next look", async () => {
    h = await bootCoordinator({ drones: [{ id: "a" }], config: { NOTIFY: true } });
    await h.report("a");
    await h.waitForPresses(1);
    h.params.hass.socket.connectionState = "unknown";
    await h.finish("a", "failed");
    h.params.hass.socket.connectionState = "offline";
    await waitFor(() => h!.logs.some(line => /Home Assistant went away: \d+ queued calls and events are not sent/.test(line)), "the queued calls dropped");
    expect(failedEvents(h)).toEqual([]);
    h.params.hass.socket.connectionState = "connected";
    h.evaluate();
    await waitFor(() => failedEvents(h!).length === 1, "the problem event, announced again");
    await waitFor(() => h!.calls("persistent_notification", "create").length === 1, "the problem notification, announced again");
    // announced once it reached HA: later looks do not repeat it
    h.evaluate();
    await settle(100);
    expect(failedEvents(h)).toHaveLength(1);
  });
});

describe("malformed drone events", () => {
  it("are ignored with a warning naming the fields; the coordinator goes on", async () => {
    h = await bootCoordinator({ drones: [{ id: "a" }] });
    const valid = h.drones.get("a")!.status();
    await h.emit("backup_drone_status", { ...valid, v: 2 });
    await h.emit("backup_drone_status", { ...valid, drone_id: "Not Valid!" });
    await h.emit("backup_drone_status", "not an object");
    await h.emit("backup_drone_progress", { drone_id: "a", percent: 250 });
    await h.emit("backup_drone_result", { v: 1, drone_id: "a", outcome: "exploded" });
    await h.emit("backup_drone_result", null);
    await settle();
    const warnings = h.logs.filter(line => line.startsWith("warn") && line.includes("ignored a malformed"));
    expect(warnings).toHaveLength(6);
    expect(warnings[0]).toContain("ignored a malformed backup_drone_status event: v:");
    expect(warnings[1]).toContain("drone_id:");
    expect(warnings.join("\n")).not.toContain("Not Valid!");
    expect(h.params.backup_coordinator.fleet.drones()).toEqual([]);
    expect(h.presses()).toEqual([]);

    await h.report("a");
    await h.waitForPresses(1);
    expect(h.pressed()).toEqual(["a"]);
  });
});
