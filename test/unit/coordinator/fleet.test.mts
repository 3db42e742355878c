import { describe, expect, it } from "vitest";

import { createFleet, type FleetEffect, type FleetSettings, insideWindow } from "../../../apps/backup_coordinator/core/fleet.mjs";
import { at, DEFAULT_FLEET_SETTINGS, progressEvent, resultEvent, statusEvent } from "../../helpers/fleet.mjs";
import { T0 } from "../../helpers/wait.mjs";

const settings: FleetSettings = DEFAULT_FLEET_SETTINGS;

const status = statusEvent;

const result = resultEvent;

const starts = (effects: FleetEffect[]) => effects.flatMap(effect => (effect.type === "start" ? [effect.droneId] : []));
const problems = (effects: FleetEffect[]) => effects.flatMap(effect => (effect.type === "problem" ? [`${effect.droneId}:${effect.problem.kind}`] : []));

describe("fleet model", () => {
  it("hostsVersion changes when a drone's repository host is learnt or changes, not when a status repeats it", () => {
    const fleet = createFleet(settings);
    const versions = [fleet.hostsVersion()];
    fleet.onStatus(status("a"), T0);
    versions.push(fleet.hostsVersion());
    fleet.onStatus(status("a", { state: "creating" }), at(1));
    versions.push(fleet.hostsVersion());
    fleet.onStatus(status("a", { repository_host: "nas.local" }), at(2));
    versions.push(fleet.hostsVersion());
    // a drone known only from a press has no host yet: its first status teaches one
    fleet.markPressed("b", "primary", at(3));
    versions.push(fleet.hostsVersion());
    fleet.onStatus(status("b"), at(4));
    versions.push(fleet.hostsVersion());
    const [boot, learnt, repeated, changed, pressed, second] = versions;
    expect(learnt).not.toBe(boot);
    expect(repeated).toBe(learnt);
    expect(changed).not.toBe(repeated);
    expect(pressed).toBe(changed);
    expect(second).not.toBe(pressed);
  });

  it("keeps a drone's entity-id map when a status says it is unchanged, and takes a new one", () => {
    const fleet = createFleet(settings);
    const map = { scheduled_backup: "button.a_scheduled_backup", application_state: "sensor.a_application_state" };
    fleet.onStatus(status("a", { entities: map }), T0);
    fleet.onStatus(status("a", { entities: {}, entities_unchanged: true, state: "creating" }), at(1));
    expect(fleet.drones.get("a")?.entities).toEqual(map);
    expect(fleet.drones.get("a")?.state).toBe("creating");
    // a drone of before (no flag) with an empty map: empty it is
    fleet.onStatus(status("a", { entities: {} }), at(2));
    expect(fleet.drones.get("a")?.entities).toEqual({});
    const renamed = { scheduled_backup: "button.renamed" };
    fleet.onStatus(status("a", { entities: renamed }), at(3));
    expect(fleet.drones.get("a")?.entities).toEqual(renamed);
  });

  it("starts one drone per host, tells its own run apart, and starts the next on the result", () => {
    const fleet = createFleet(settings);
    fleet.onStatus(status("a"), T0);
    fleet.onStatus(status("b"), T0);
    const first = starts(fleet.evaluate(T0, { paused: false }));
    expect(first).toEqual(["a"]);
    fleet.markPressed("a", "primary", T0);
    expect(starts(fleet.evaluate(at(1), { paused: false }))).toEqual([]);

    const started = fleet.onStatus(status("a", { state: "creating", operation: "scheduled", run_id: "r1" }), at(2));
    expect(started).toContainEqual({ type: "run_started", droneId: "a", kind: "primary", ours: true, runId: "r1" });
    const finished = fleet.onResult(result("a", "success", at(30)), at(30));
    expect(finished).toContainEqual(expect.objectContaining({ type: "run_finished", droneId: "a", ours: true }));
    expect(starts(fleet.evaluate(at(30), { paused: false }))).toEqual(["b"]);
  });

  it("a manual run occupies its host's slot and is not ours", () => {
    const fleet = createFleet(settings);
    fleet.onStatus(status("a"), T0);
    const effects = fleet.onStatus(status("b", { state: "creating", operation: "create", run_id: "m1" }), T0);
    expect(effects).toContainEqual({ type: "run_started", droneId: "b", kind: "primary", ours: false, runId: "m1" });
    expect(starts(fleet.evaluate(T0, { paused: false }))).toEqual([]);
  });

  it("detects a drone that did not start, backs off, and marks it failed until due after the last attempt", () => {
    const fleet = createFleet(settings);
    fleet.onStatus(status("a"), T0);
    fleet.markPressed("a", "primary", T0);
    fleet.onStatus(status("a"), at(30));
    expect(problems(fleet.evaluate(at(59), { paused: false }))).toEqual([]);
    fleet.onStatus(status("a"), at(60));
    expect(problems(fleet.evaluate(at(61), { paused: false }))).toEqual(["a:not_started"]);
    const drone = fleet.drones.get("a")!;
    expect(drone.attempts).toBe(1);
    expect(drone.blockedUntil).toEqual(new Date(at(61).getTime() + 5 * 60_000));
    expect(starts(fleet.evaluate(at(62), { paused: false }))).toEqual([]);
  });

  it("failed results retry with exponential backoff, then wait for the next due time; success recovers", () => {
    const fleet = createFleet(settings);
    fleet.onStatus(status("a"), T0);
    const first = fleet.onResult(result("a", "failed", at(10)), at(10));
    expect(problems(first)).toEqual(["a:failed"]);
    expect(fleet.drones.get("a")!.blockedUntil).toEqual(at(10 + 300));
    fleet.onResult(result("a", "failed", at(400)), at(400));
    expect(fleet.drones.get("a")!.blockedUntil).toEqual(at(400 + 600));
    fleet.onResult(result("a", "failed", at(1100)), at(1100));
    expect(fleet.drones.get("a")!.blockedUntil).toEqual(at(1100 + 1440 * 60));
    const recovered = fleet.onResult(result("a", "success", at(2000)), at(2000));
    expect(recovered).toContainEqual(expect.objectContaining({ type: "recovered", droneId: "a" }));
    expect(fleet.drones.get("a")).toMatchObject({ attempts: 0, blockedUntil: null, problem: null });
  });

  it("offline after the heartbeat threshold or when HA says so; back online recovers", () => {
    const fleet = createFleet(settings);
    fleet.onStatus(status("a", { last_backup: at(0).toISOString() }), T0);
    expect(problems(fleet.evaluate(at(180), { paused: false }))).toEqual([]);
    expect(problems(fleet.evaluate(at(181), { paused: false }))).toEqual(["a:offline"]);
    expect(fleet.onStatus(status("a", { last_backup: at(0).toISOString() }), at(200))).toContainEqual(
      expect.objectContaining({ type: "recovered", droneId: "a" }),
    );
    expect(problems(fleet.onOnline("a", false, at(210)))).toEqual(["a:offline"]);
  });

  it("stalled when a run shows no progress for the threshold", () => {
    const fleet = createFleet(settings);
    fleet.onStatus(status("a", { state: "creating", operation: "scheduled", run_id: "r" }), T0);
    for (let minute = 1; minute <= 15; minute++) fleet.onStatus(status("a", { state: "creating", operation: "scheduled", run_id: "r" }), at(minute * 60));
    expect(problems(fleet.evaluate(at(15 * 60), { paused: false }))).toEqual([]);
    expect(problems(fleet.evaluate(at(15 * 60 + 1), { paused: false }))).toEqual(["a:stalled"]);
  });

  it("a stalled run frees its host's slot: the next drone of that host starts, the stalled one is not started again", () => {
    const fleet = createFleet(settings);
    const busy = { state: "creating", operation: "scheduled", run_id: "r" } as const;
    fleet.onStatus(status("a", busy), T0);
    fleet.onStatus(status("b"), T0);
    fleet.onStatus(status("c"), T0);
    expect(starts(fleet.evaluate(T0, { paused: false }))).toEqual([]);
    for (let minute = 1; minute <= 15; minute++) {
      fleet.onStatus(status("a", busy), at(minute * 60));
      fleet.onStatus(status("b"), at(minute * 60));
      fleet.onStatus(status("c"), at(minute * 60));
    }
    expect(starts(fleet.evaluate(at(15 * 60), { paused: false }))).toEqual([]);
    const after = fleet.evaluate(at(15 * 60 + 1), { paused: false });
    expect(problems(after)).toEqual(["a:stalled"]);
    // one slot freed, one drone started: b holds it now, c still waits
    expect(starts(after)).toEqual(["b"]);
    fleet.markPressed("b", "primary", at(15 * 60 + 1));
    expect(starts(fleet.evaluate(at(15 * 60 + 2), { paused: false }))).toEqual([]);
    expect(fleet.drones.get("a")?.run?.runId).toBe("r");
  });

  it("a stalled run that makes progress again holds its slot again", () => {
    const fleet = createFleet(settings);
    const busy = { state: "creating", operation: "scheduled", run_id: "r" } as const;
    fleet.onStatus(status("a", busy), T0);
    for (let minute = 1; minute <= 16; minute++) fleet.onStatus(status("a", busy), at(minute * 60));
    expect(problems(fleet.evaluate(at(16 * 60), { paused: false }))).toEqual(["a:stalled"]);
    const resumed = fleet.onProgress(progressEvent("a", "r"), at(16 * 60 + 1));
    expect(resumed).toContainEqual(expect.objectContaining({ type: "recovered", droneId: "a" }));
    fleet.onStatus(status("b"), at(16 * 60 + 1));
    expect(starts(fleet.evaluate(at(16 * 60 + 2), { paused: false }))).toEqual([]);
  });

  it("a stalled run keeps the round open: it has not ended", () => {
    const fleet = createFleet({ ...settings, limits: { perHost: 1, global: 1, offsite: 1 } });
    fleet.onStatus(status("a"), T0);
    expect(starts(fleet.evaluate(T0, { paused: false }))).toEqual(["a"]);
    fleet.markPressed("a", "primary", T0);
    const busy = { state: "creating", operation: "scheduled", run_id: "r" } as const;
    for (let minute = 0; minute <= 16; minute++) fleet.onStatus(status("a", busy), at(minute * 60 + 1));
    const effects = fleet.evaluate(at(16 * 60 + 2), { paused: false });
    expect(problems(effects)).toEqual(["a:stalled"]);
    expect(effects.some(effect => effect.type === "round_completed")).toBe(false);
  });

  it("overdue after twice the frequency without success", () => {
    const fleet = createFleet(settings);
    const last = new Date(T0.getTime() - 2 * 1440 * 60_000 - 60_000);
    fleet.onStatus(status("a", { last_backup: last.toISOString(), mode: "standalone" }), T0);
    expect(problems(fleet.evaluate(T0, { paused: false }))).toEqual(["a:overdue"]);
  });

  it("pause and the backup window stop new starts but not detection", () => {
    const fleet = createFleet({ ...settings, window: { startMinute: 60, endMinute: 6 * 60 } });
    fleet.onStatus(status("a"), T0);
    expect(starts(fleet.evaluate(T0, { paused: true }))).toEqual([]);
    const local = new Date(T0);
    local.setHours(12, 0, 0, 0);
    fleet.onStatus(status("a"), local);
    expect(starts(fleet.evaluate(local, { paused: false }))).toEqual([]);
    local.setHours(2, 0, 0, 0);
    fleet.onStatus(status("a"), local);
    expect(starts(fleet.evaluate(local, { paused: false }))).toEqual(["a"]);
    expect(insideWindow({ startMinute: 22 * 60, endMinute: 60 }, new Date(2026, 0, 1, 23, 30))).toBe(true);
    expect(insideWindow({ startMinute: 22 * 60, endMinute: 60 }, new Date(2026, 0, 1, 12, 0))).toBe(false);
  });

  it("after a restart, a drone found busy in HA is never started twice", () => {
    const fleet = createFleet(settings);
    fleet.restore({ droneId: "a", state: "creating", mode: "coordinated", lastBackup: null }, T0);
    fleet.onStatus(status("a", { state: "creating", operation: "scheduled", run_id: "r" }), T0);
    expect(starts(fleet.evaluate(at(1), { paused: false }))).toEqual([]);
  });

  it("run now makes every coordinated drone due; the round completes when all ran", () => {
    const fleet = createFleet(settings);
    fleet.onStatus(status("a", { last_backup: at(-60).toISOString() }), T0);
    expect(starts(fleet.evaluate(T0, { paused: false }))).toEqual([]);
    fleet.requestRound(T0);
    expect(starts(fleet.evaluate(T0, { paused: false }))).toEqual(["a"]);
    fleet.markPressed("a", "primary", T0);
    fleet.onResult(result("a", "success", at(20)), at(20));
    fleet.onStatus(status("a", { last_backup: at(20).toISOString() }), at(21));
    const effects = fleet.evaluate(at(21), { paused: false });
    expect(starts(effects)).toEqual([]);
    expect(effects).toContainEqual({ type: "round_completed", at: at(21) });
  });
});
