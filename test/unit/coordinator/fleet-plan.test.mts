import { describe, expect, it } from "vitest";

import { createFleet, type FleetEffect, HISTORY_PER_DRONE } from "../../../apps/backup_coordinator/core/fleet.mjs";
import { at, DEFAULT_FLEET_SETTINGS as settings, resultEvent as result, statusEvent as status } from "../../helpers/fleet.mjs";
import { T0 } from "../../helpers/wait.mjs";

const starts = (effects: FleetEffect[]) => effects.flatMap(effect => (effect.type === "start" ? [effect.droneId] : []));
const plans = (effects: FleetEffect[]) =>
  effects.flatMap(effect => (effect.type === "plan" ? [`${effect.droneId}:${effect.plan.reason}:${effect.plan.nextAt?.toISOString() ?? "null"}`] : []));
const problems = (effects: FleetEffect[]) => effects.flatMap(effect => (effect.type === "problem" ? [effect.problem.kind] : []));
const iso = (seconds: number) => at(seconds).toISOString();

/** A cancelled scheduled run's result (interrupted, error kind cancelled). */
const cancelled = (droneId: string, finished: Date, extra = {}) =>
  result(droneId, "interrupted", finished, { error_kind: "cancelled", error: "cancelled by Home Assistant (Cancel button)", cancelled_by: "x", ...extra });

describe("the fleet's plans", () => {
  it("publishes every drone's plan once at the first look, then only what changed", () => {
    const fleet = createFleet(settings);
    fleet.onStatus(status("a", { last_backup: iso(-3600) }), T0);
    fleet.onStatus(status("b", { mode: "standalone" }), T0);
    fleet.onStatus(status("c", { mode: "paused" }), T0);
    const first = fleet.evaluate(T0, { paused: false });
    expect(plans(first).sort()).toEqual([`a:due:${iso(-3600 + 1440 * 60)}`, "b:not_coordinated:null", "c:paused:null"]);
    // nothing changed: nothing is sent again, on any later tick
    expect(plans(fleet.evaluate(at(30), { paused: false }))).toEqual([]);
    expect(plans(fleet.evaluate(at(120), { paused: false }))).toEqual([]);
    // a drone that first appears gets its plan
    fleet.onStatus(status("a", { last_backup: iso(-3600) }), at(601));
    fleet.onStatus(status("d", { last_backup: iso(-60) }), at(601));
    expect(plans(fleet.evaluate(at(601), { paused: false }))).toEqual([`d:due:${iso(-60 + 1440 * 60)}`]);
    // the coordinator's pause changes every coordinated drone's plan, and resuming changes it back
    expect(plans(fleet.evaluate(at(602), { paused: true })).sort()).toEqual(["a:paused:null", "d:paused:null"]);
    expect(plans(fleet.evaluate(at(603), { paused: false })).sort()).toEqual([`a:due:${iso(-3600 + 1440 * 60)}`, `d:due:${iso(-60 + 1440 * 60)}`]);
  });

  it("1,000 overdue drones waiting for one slot: one plan each, not one per tick", () => {
    const fleet = createFleet(settings);
    for (let index = 0; index < 1000; index++) fleet.onStatus(status(`d${index}`, { last_backup: iso(-3 * 86_400) }), T0);
    const first = fleet.evaluate(T0, { paused: false });
    expect(starts(first)).toHaveLength(1);
    const reasons = new Map<string, number>();
    for (const line of plans(first)) reasons.set(line.split(":")[1]!, (reasons.get(line.split(":")[1]!) ?? 0) + 1);
    expect(Object.fromEntries(reasons)).toEqual({ overdue: 1, waiting_for_slot: 999 });
    const [first0] = starts(first);
    fleet.markPressed(first0!, "primary", T0);
    const busy = status(first0!, { state: "creating", operation: "scheduled", run_id: "r", last_backup: iso(-3 * 86_400) });
    // heartbeats keep coming; the waiting drones' "now" moves, their plans do not
    const sent: string[] = [];
    for (let tick = 1; tick <= 10; tick++) {
      for (let index = 0; index < 1000; index++) {
        const droneId = `d${index}`;
        fleet.onStatus(droneId === first0 ? busy : status(droneId, { last_backup: iso(-3 * 86_400) }), at(tick * 30));
      }
      sent.push(...plans(fleet.evaluate(at(tick * 30), { paused: false })));
    }
    // only the started drone's plan changed (to running), once
    expect(sent).toEqual([`${first0}:running:${iso(30)}`]);
    // what the Queue sensor lists is what was announced: a waiting drone's time stays when it became late
    const waiting = first0 === "d1" ? "d2" : "d1";
    expect(fleet.plans().get(waiting)).toEqual({ nextAt: T0, reason: "waiting_for_slot" });
  });

  it("announces running when the start is seen, and the due time after the result", () => {
    const fleet = createFleet(settings);
    fleet.onStatus(status("a"), T0);
    expect(plans(fleet.evaluate(T0, { paused: false }))).toEqual([`a:overdue:${iso(0)}`]);
    fleet.markPressed("a", "primary", T0);
    expect(plans(fleet.evaluate(at(1), { paused: false }))).toEqual([`a:running:${iso(0)}`]);
    fleet.onStatus(status("a", { state: "creating", operation: "scheduled", run_id: "run-a" }), at(2));
    expect(plans(fleet.evaluate(at(3), { paused: false }))).toEqual([]);
    fleet.onResult(result("a", "success", at(60)), at(60));
    expect(plans(fleet.evaluate(at(61), { paused: false }))).toEqual([`a:due:${iso(60 + 1440 * 60)}`]);
  });

  it("holds plans back while the coordinator waits for restored drones, and sends them all again after republishPlans", () => {
    const fleet = createFleet(settings);
    fleet.restore({ droneId: "a", mode: "coordinated", lastBackup: at(-60), state: "idle" }, T0);
    expect(plans(fleet.evaluate(T0, { paused: false, holding: true }))).toEqual([]);
    fleet.onStatus(status("a", { last_backup: iso(-60) }), at(1));
    expect(plans(fleet.evaluate(at(1), { paused: false }))).toEqual([`a:due:${iso(-60 + 1440 * 60)}`]);
    expect(plans(fleet.evaluate(at(2), { paused: false }))).toEqual([]);
    fleet.republishPlans();
    expect(plans(fleet.evaluate(at(3), { paused: false }))).toEqual([`a:due:${iso(-60 + 1440 * 60)}`]);
    expect(fleet.plans().get("a")).toEqual({ nextAt: at(-60 + 1440 * 60), reason: "due" });
  });

  it("a drone that has just connected (its status says synapse unknown) gets its plan again", () => {
    const fleet = createFleet(settings);
    fleet.onStatus(status("a", { last_backup: iso(-60), synapse: "connected" }), T0);
    expect(plans(fleet.evaluate(T0, { paused: false }))).toHaveLength(1);
    fleet.onStatus(status("a", { last_backup: iso(-60), synapse: "connected" }), at(30));
    expect(plans(fleet.evaluate(at(30), { paused: false }))).toEqual([]);
    // restarted: its first status does not know its link yet
    fleet.onStatus(status("a", { last_backup: iso(-60), synapse: "unknown" }), at(60));
    expect(plans(fleet.evaluate(at(60), { paused: false }))).toEqual([`a:due:${iso(-60 + 1440 * 60)}`]);
    expect(plans(fleet.evaluate(at(61), { paused: false }))).toEqual([]);
  });

  it("an offline drone has no planned time; a failed one plans the backoff's end", () => {
    const fleet = createFleet(settings);
    fleet.onStatus(status("a", { last_backup: iso(-2 * 86_400) }), T0);
    fleet.onResult(result("a", "failed", at(10)), at(10));
    expect(plans(fleet.evaluate(at(11), { paused: false }))).toEqual([`a:backoff:${iso(10 + 300)}`]);
    expect(plans(fleet.evaluate(at(200), { paused: false }))).toEqual(["a:offline:null"]);
  });
});

describe("a cancelled run at the coordinator", () => {
  it("is no failure: no backoff, no failed problem, a stall cleared, and no start before the next regular time", () => {
    const fleet = createFleet({ ...settings, stallMs: 60_000 });
    const lastBackup = at(-25 * 3600);
    fleet.onStatus(status("a", { last_backup: lastBackup.toISOString() }), T0);
    expect(starts(fleet.evaluate(T0, { paused: false }))).toEqual(["a"]);
    fleet.markPressed("a", "primary", T0);
    fleet.onStatus(status("a", { state: "creating", operation: "scheduled", run_id: "run-a", last_backup: lastBackup.toISOString() }), at(1));
    fleet.onStatus(status("a", { state: "creating", operation: "scheduled", run_id: "run-a", last_backup: lastBackup.toISOString() }), at(100));
    expect(problems(fleet.evaluate(at(100), { paused: false }))).toEqual(["stalled"]);

    const effects = fleet.onResult(cancelled("a", at(120)), at(120));
    expect(effects).toContainEqual(expect.objectContaining({ type: "recovered", previous: expect.objectContaining({ kind: "stalled" }) }));
    expect(problems(effects)).toEqual([]);
    expect(fleet.drones.get("a")).toMatchObject({ attempts: 0, blockedUntil: null, problem: null });

    // the drone reports idle again; it stays unstarted until last backup + 2 × 24 h
    fleet.onStatus(status("a", { last_backup: lastBackup.toISOString() }), at(121));
    const next = new Date(lastBackup.getTime() + 2 * 86_400_000);
    const look = fleet.evaluate(at(121), { paused: false });
    expect(starts(look)).toEqual([]);
    expect(plans(look)).toEqual([`a:cancelled:${next.toISOString()}`]);
    expect(fleet.queue(at(121))).toEqual([]);
    fleet.onStatus(status("a", { last_backup: lastBackup.toISOString() }), new Date(next.getTime() - 1000));
    expect(starts(fleet.evaluate(new Date(next.getTime() - 1000), { paused: false }))).toEqual([]);
    fleet.onStatus(status("a", { last_backup: lastBackup.toISOString() }), next);
    expect(starts(fleet.evaluate(next, { paused: false }))).toEqual(["a"]);
  });

  it("Run Now overrides the wait", () => {
    const fleet = createFleet(settings);
    fleet.onStatus(status("a", { last_backup: at(-25 * 3600).toISOString() }), T0);
    fleet.onResult(cancelled("a", at(10)), at(10));
    expect(starts(fleet.evaluate(at(11), { paused: false }))).toEqual([]);
    fleet.requestRound(at(12));
    expect(starts(fleet.evaluate(at(12), { paused: false }))).toEqual(["a"]);
  });

  it("a run Run Now started and a person cancelled is not started again: the wait holds", () => {
    const fleet = createFleet(settings);
    const lastBackup = at(-3600);
    fleet.onStatus(status("a", { last_backup: lastBackup.toISOString() }), T0);
    fleet.requestRound(at(1));
    expect(starts(fleet.evaluate(at(1), { paused: false }))).toEqual(["a"]);
    fleet.markPressed("a", "primary", at(1));
    fleet.onStatus(status("a", { state: "creating", operation: "scheduled", run_id: "run-a", last_backup: lastBackup.toISOString() }), at(2));
    fleet.onResult(cancelled("a", at(30), { run_id: "run-a" }), at(30));
    fleet.onStatus(status("a", { last_backup: lastBackup.toISOString() }), at(31));
    const look = fleet.evaluate(at(31), { paused: false });
    expect(starts(look)).toEqual([]);
    expect(plans(look)).toEqual([`a:cancelled:${new Date(lastBackup.getTime() + 86_400_000).toISOString()}`]);
  });

  it("a coordinator that restarted learns a cancel from the drone's status, and its end when the drone clears it", () => {
    const fleet = createFleet(settings);
    const lastBackup = at(-25 * 3600);
    fleet.onStatus(status("a", { last_backup: lastBackup.toISOString(), cancelled_at: at(-60).toISOString() }), T0);
    const look = fleet.evaluate(T0, { paused: false });
    expect(starts(look)).toEqual([]);
    expect(plans(look)).toEqual([`a:cancelled:${new Date(lastBackup.getTime() + 2 * 86_400_000).toISOString()}`]);
    // an older drone leaves the field out: what is known stands
    fleet.onStatus(status("a", { last_backup: lastBackup.toISOString() }), at(30));
    expect(starts(fleet.evaluate(at(30), { paused: false }))).toEqual([]);
    // the drone cleared it (a backup succeeded elsewhere, or a person ran one): due again
    fleet.onStatus(status("a", { last_backup: lastBackup.toISOString(), cancelled_at: null }), at(60));
    expect(starts(fleet.evaluate(at(60), { paused: false }))).toEqual(["a"]);
  });

  it("a drone never backed up waits one frequency from the cancel; a later success ends the wait", () => {
    const fleet = createFleet(settings);
    fleet.onStatus(status("a"), T0);
    fleet.onResult(cancelled("a", at(10)), at(10));
    expect(plans(fleet.evaluate(at(11), { paused: false }))).toEqual([`a:cancelled:${iso(10 + 1440 * 60)}`]);
    fleet.onResult(result("a", "success", at(100)), at(100));
    expect(fleet.drones.get("a")?.cancelledAt.primary).toBeNull();
  });

  it("a queued job dropped by the cancel does not end the run that goes on", () => {
    const fleet = createFleet(settings);
    fleet.onStatus(status("a", { state: "creating", operation: "create", run_id: "manual" }), T0);
    const dropped = cancelled("a", at(5), { run_id: "queued", started_at: iso(5), duration_seconds: 0 });
    fleet.onResult(dropped, at(5));
    expect(fleet.running().map(({ droneId, run }) => `${droneId}:${run.runId}`)).toEqual(["a:manual"]);
  });

  it("our start that waited in the drone's queue and was dropped by the cancel is over: no not_started later", () => {
    const fleet = createFleet(settings);
    fleet.onStatus(status("a", { state: "creating", operation: "create", run_id: "manual" }), T0);
    fleet.markPressed("a", "primary", T0);
    const effects = fleet.onResult(cancelled("a", at(5), { run_id: "queued", started_at: iso(5), duration_seconds: 0 }), at(5));
    expect(effects).toContainEqual(expect.objectContaining({ type: "run_finished", ours: true }));
    expect(fleet.drones.get("a")?.pending).toBeNull();
    fleet.onStatus(status("a"), at(120));
    expect(problems(fleet.evaluate(at(120), { paused: false }))).toEqual([]);
  });
});

describe("the coordinator's run history", () => {
  it("keeps the last runs per drone, newest first, bounded", () => {
    const fleet = createFleet(settings);
    for (let index = 0; index < HISTORY_PER_DRONE + 5; index++) {
      fleet.onResult(result("a", "success", at(index * 100), { run_id: `a-${index}` }), at(index * 100));
    }
    fleet.onResult(result("b", "failed", at(50), { run_id: "b-0" }), at(50));
    const ofA = fleet.history("a");
    expect(ofA).toHaveLength(HISTORY_PER_DRONE);
    expect(ofA[0]?.result.run_id).toBe(`a-${HISTORY_PER_DRONE + 4}`);
    expect(fleet.history("b").map(run => run.result.outcome)).toEqual(["failed"]);
    expect(fleet.history()).toHaveLength(HISTORY_PER_DRONE + 1);
    expect(fleet.history("nobody")).toEqual([]);
  });

  it("the last round holds each drone's last primary run in it", () => {
    const fleet = createFleet(settings);
    fleet.onStatus(status("a"), T0);
    fleet.onStatus(status("b", { repository_host: "other" }), T0);
    fleet.onResult(result("a", "success", at(-10), { run_id: "before" }), at(-10));
    fleet.requestRound(T0);
    expect(starts(fleet.evaluate(T0, { paused: false })).sort()).toEqual(["a", "b"]);
    fleet.markPressed("a", "primary", T0);
    fleet.markPressed("b", "primary", T0);
    fleet.onResult(result("a", "success", at(20), { run_id: "a-1", archive: null }), at(20));
    fleet.onResult(result("b", "warning", at(30), { run_id: "b-1" }), at(30));
    fleet.onStatus(status("a", { last_backup: iso(20) }), at(31));
    fleet.onStatus(status("b", { last_backup: iso(30), repository_host: "other" }), at(31));
    const effects = fleet.evaluate(at(31), { paused: false });
    expect(effects).toContainEqual({ type: "round_completed", at: at(31) });
    const round = fleet.lastRound();
    expect(round?.openedAt).toEqual(T0);
    expect(round?.runs.map(run => `${run.droneId}:${run.result.run_id}:${String(run.ours)}`)).toEqual(["a:a-1:true", "b:b-1:true"]);
  });
});
