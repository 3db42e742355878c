/**
 * The fleet model's choice between a press and a `backup_drone_command`, on a fake clock: a
 * press that did not start a run falls back to a command (still our run), a drone that says HA
 * refuses its connection is started by command at once and shows `locked_out`, and a drone
 * HA shows offline is still started while its own events arrive.
 */
import { describe, expect, it } from "vitest";

import { createFleet, type FleetEffect, LOCKED_OUT_REASON, startRoute } from "../../../apps/backup_coordinator/core/fleet.mjs";
import { at, DEFAULT_FLEET_SETTINGS, resultEvent, statusEvent } from "../../helpers/fleet.mjs";

type Start = Extract<FleetEffect, { type: "start" }>;
const startsOf = (effects: FleetEffect[]) => effects.filter((effect): effect is Start => effect.type === "start");
const problems = (effects: FleetEffect[]) => effects.flatMap(effect => (effect.type === "problem" ? [`${effect.droneId}:${effect.problem.kind}`] : []));
const recoveries = (effects: FleetEffect[]) => effects.flatMap(effect => (effect.type === "recovered" ? [`${effect.droneId}:${effect.previous.kind}`] : []));
const look = (fleet: ReturnType<typeof createFleet>, seconds: number) => fleet.evaluate(at(seconds), { paused: false });

describe("starting a drone a press cannot reach", () => {
  it("a press that did not start a run within START_TIMEOUT is followed by a command at once; the run is ours, no problem, no backoff", () => {
    const fleet = createFleet(DEFAULT_FLEET_SETTINGS);
    fleet.onStatus(statusEvent("a", { synapse: "unknown" }), at(0));
    const [first] = startsOf(look(fleet, 0));
    expect(first).toMatchObject({ droneId: "a", kind: "primary", via: "press", reason: null });
    fleet.markPressed("a", "primary", at(0), "press");

    fleet.onStatus(statusEvent("a", { synapse: "unknown" }), at(30));
    expect(startsOf(look(fleet, 60))).toEqual([]);
    const fallback = look(fleet, 61);
    expect(startsOf(fallback)).toEqual([
      { type: "start", droneId: "a", kind: "primary", overdueMinutes: Number.POSITIVE_INFINITY, via: "command", reason: "pressing its Scheduled Backup button did not start a run within 60 s" },
    ]);
    expect(problems(fallback)).toEqual([]);
    const drone = fleet.drones.get("a")!;
    expect(drone.attempts).toBe(0);
    expect(drone.pending).toEqual({ kind: "primary", pressedAt: at(61), via: "command" });
    // the pending command holds the slot: nothing else starts on the drone meanwhile
    expect(startsOf(look(fleet, 62))).toEqual([]);

    const started = fleet.onStatus(statusEvent("a", { synapse: "unknown", state: "creating", operation: "scheduled", run_id: "r1" }), at(63));
    expect(started).toContainEqual({ type: "run_started", droneId: "a", kind: "primary", ours: true, runId: "r1" });
  });

  it("the start timeout counts from when the press left for Home Assistant, not from the decision", () => {
    const fleet = createFleet(DEFAULT_FLEET_SETTINGS);
    fleet.onStatus(statusEvent("a", { synapse: "unknown" }), at(0));
    const pending = fleet.markPressed("a", "primary", at(0), "press");
    // the press waited 40 s in the queue behind other presses
    fleet.pressSent("a", pending, at(40));
    fleet.onStatus(statusEvent("a", { synapse: "unknown" }), at(60));
    const early = look(fleet, 70);
    expect(startsOf(early)).toEqual([]);
    expect(problems(early)).toEqual([]);
    expect(fleet.drones.get("a")!.pressFailedAt).toBeNull();
    fleet.onStatus(statusEvent("a", { synapse: "unknown" }), at(90));
    expect(startsOf(look(fleet, 101))).toMatchObject([{ droneId: "a", via: "command" }]);
    // a press replaced by that command is not stamped again by its late send
    fleet.pressSent("a", pending, at(102));
    expect(fleet.drones.get("a")!.pending).toEqual({ kind: "primary", pressedAt: at(101), via: "command" });
  });

  it("a press that was never sent leaves the drone waiting for nothing: the next look starts it again, by press", () => {
    const fleet = createFleet(DEFAULT_FLEET_SETTINGS);
    fleet.onStatus(statusEvent("a", { synapse: "unknown" }), at(0));
    const pending = fleet.markPressed("a", "primary", at(0), "press");
    expect(startsOf(look(fleet, 1))).toEqual([]);
    fleet.pressUnsent("a", pending);
    expect(fleet.drones.get("a")!.pending).toBeNull();
    expect(startsOf(look(fleet, 2))).toMatchObject([{ droneId: "a", via: "press", reason: null }]);
  });

  it("a command that did not start a run either is not_started, with backoff", () => {
    const fleet = createFleet(DEFAULT_FLEET_SETTINGS);
    fleet.onStatus(statusEvent("a", { synapse: "unknown" }), at(0));
    fleet.markPressed("a", "primary", at(0), "press");
    fleet.onStatus(statusEvent("a", { synapse: "unknown" }), at(50));
    expect(startsOf(look(fleet, 61))).toHaveLength(1);
    fleet.onStatus(statusEvent("a", { synapse: "unknown" }), at(110));
    const effects = look(fleet, 122);
    expect(startsOf(effects)).toEqual([]);
    expect(problems(effects)).toEqual(["a:not_started"]);
    const drone = fleet.drones.get("a")!;
    expect(drone.problem?.reason).toBe("sent a backup_drone_command but the drone did not start within 60 s");
    expect(drone.attempts).toBe(1);
    expect(drone.blockedUntil).toEqual(new Date(at(122).getTime() + 5 * 60_000));
  });

  it("a drone of an older version (no synapse in its status) is only pressed: not_started as before", () => {
    const fleet = createFleet(DEFAULT_FLEET_SETTINGS);
    fleet.onStatus(statusEvent("a"), at(0));
    expect(startsOf(look(fleet, 0))[0]?.via).toBe("press");
    fleet.markPressed("a", "primary", at(0));
    fleet.onStatus(statusEvent("a"), at(50));
    const effects = look(fleet, 61);
    expect(startsOf(effects)).toEqual([]);
    expect(problems(effects)).toEqual(["a:not_started"]);
    expect(fleet.drones.get("a")!.problem?.reason).toBe("pressed Scheduled Backup but the drone did not start within 60 s");
  });

  it("after a failed press, later starts go by command until the drone's link is seen healthy again", () => {
    const fleet = createFleet(DEFAULT_FLEET_SETTINGS);
    fleet.onStatus(statusEvent("a", { synapse: "connected" }), at(0));
    fleet.markPressed("a", "primary", at(0), "press");
    fleet.onStatus(statusEvent("a", { synapse: "connected" }), at(50));
    look(fleet, 61);
    const drone = fleet.drones.get("a")!;
    expect(drone.pressFailedAt).toEqual(at(61));
    // still "connected" in every status: the earlier failure stands
    fleet.onStatus(statusEvent("a", { synapse: "connected" }), at(70));
    expect(startRoute(drone)).toEqual({ via: "command", reason: `a press at ${at(61).toISOString()} did not start it` });
    // it finds itself locked out; HA restarts: unknown for a moment (no news), then connected again
    fleet.onStatus(statusEvent("a", { synapse: "locked_out" }), at(80));
    fleet.onStatus(statusEvent("a", { synapse: "unknown" }), at(90));
    expect(drone.synapse).toBe("locked_out");
    expect(startRoute(drone).via).toBe("command");
    fleet.onStatus(statusEvent("a", { synapse: "connected" }), at(100));
    expect(startRoute(drone)).toEqual({ via: "press", reason: null });
  });

  it("a drone that reports itself locked out is started by command at once and shows locked_out until it is connected again", () => {
    const fleet = createFleet(DEFAULT_FLEET_SETTINGS);
    const effects = fleet.onStatus(statusEvent("a", { synapse: "locked_out" }), at(0));
    expect(problems(effects)).toEqual(["a:locked_out"]);
    expect(fleet.drones.get("a")!.problem?.reason).toBe(LOCKED_OUT_REASON);
    expect(startsOf(look(fleet, 0))).toEqual([
      {
        type: "start",
        droneId: "a",
        kind: "primary",
        overdueMinutes: Number.POSITIVE_INFINITY,
        via: "command",
        reason: "the drone reports that Home Assistant refuses its connection",
      },
    ]);
    // announced once, however often the drone says it, and not over when it reconnects and does not know yet
    expect(problems(fleet.onStatus(statusEvent("a", { synapse: "locked_out" }), at(60)))).toEqual([]);
    expect(recoveries(fleet.onStatus(statusEvent("a", { synapse: "unknown" }), at(90)))).toEqual([]);
    expect(startRoute(fleet.drones.get("a")!).via).toBe("command");
    expect(recoveries(fleet.onStatus(statusEvent("a", { synapse: "connected" }), at(120)))).toEqual(["a:locked_out"]);
    expect(startRoute(fleet.drones.get("a")!).via).toBe("press");
  });

  it("locked_out is less severe than a failure, and comes back when the failure is over", () => {
    const fleet = createFleet(DEFAULT_FLEET_SETTINGS);
    fleet.onStatus(statusEvent("a", { synapse: "locked_out" }), at(0));
    const failed = fleet.onResult(resultEvent("a", "failed", at(10), { run_id: "r1", trigger: "command", started_at: at(0).toISOString(), error_kind: "lock_timeout", error: "locked" }), at(10));
    expect(problems(failed)).toEqual(["a:failed"]);
    const success = fleet.onResult(resultEvent("a", "success", at(410), { run_id: "r2", trigger: "command", started_at: at(400).toISOString() }), at(410));
    expect(recoveries(success)).toEqual(["a:failed"]);
    expect(problems(look(fleet, 411))).toEqual(["a:locked_out"]);
  });

  it("HA shows the drone's app offline, yet its status events keep coming: it is alive and is started by command", () => {
    const fleet = createFleet(DEFAULT_FLEET_SETTINGS);
    fleet.onStatus(statusEvent("a", { synapse: "unknown" }), at(0));
    const off = fleet.onOnline("a", false, at(5));
    expect(problems(off)).toEqual(["a:offline"]);
    expect(startsOf(look(fleet, 6))).toEqual([]);
    // the drone's next status comes after the sensor went off
    expect(recoveries(fleet.onStatus(statusEvent("a", { synapse: "unknown" }), at(10)))).toEqual(["a:offline"]);
    const [start] = startsOf(look(fleet, 11));
    expect(start).toMatchObject({ via: "command", reason: "Home Assistant shows the drone's app offline while the drone's events arrive" });
    // and when its events stop, it is offline after all
    fleet.markPressed("a", "primary", at(11), "command");
    fleet.onResult(resultEvent("a", "success", at(20), { run_id: "r1", trigger: "command", started_at: at(12).toISOString() }), at(20));
    expect(problems(look(fleet, 20 + 181))).toEqual(["a:offline"]);
  });

  it("an older drone HA shows offline stays offline while its events come (a status does not clear it)", () => {
    const fleet = createFleet(DEFAULT_FLEET_SETTINGS);
    fleet.onStatus(statusEvent("a"), at(0));
    fleet.onOnline("a", false, at(5));
    expect(recoveries(fleet.onStatus(statusEvent("a"), at(10)))).toEqual([]);
    expect(startsOf(look(fleet, 11))).toEqual([]);
    expect(recoveries(fleet.onOnline("a", true, at(20)))).toEqual(["a:offline"]);
  });

  it("a drone without entities in HA (not added, or without synapse) is started by command", () => {
    expect(startRoute({ synapse: "not_added", onlineSensor: null, pressFailedAt: null })).toEqual({
      via: "command",
      reason: "the drone has no entities in Home Assistant",
    });
    expect(startRoute({ synapse: "off", onlineSensor: null, pressFailedAt: null }).via).toBe("command");
    expect(startRoute({ synapse: "connected", onlineSensor: true, pressFailedAt: null }).via).toBe("press");
  });
});
