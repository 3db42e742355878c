/** A drone whose integrity check found damage is a `check_failed` problem until a check passes. */
import { describe, expect, it } from "vitest";

import { createFleet, type FleetEffect } from "../../../apps/backup_coordinator/core/fleet.mjs";
import { PROTOCOL_VERSION, type ResultEvent } from "../../../libs/protocol/index.mjs";
import { at, DEFAULT_FLEET_SETTINGS, statusEvent } from "../../helpers/fleet.mjs";
import { T0 } from "../../helpers/wait.mjs";

function result(operation: ResultEvent["operation"], outcome: ResultEvent["outcome"], seconds: number, errorKind: ResultEvent["error_kind"] = null): ResultEvent {
  return {
    v: PROTOCOL_VERSION,
    drone_id: "a",
    run_id: `run-${operation}-${seconds}`,
    operation,
    repository: "primary",
    trigger: "button",
    outcome,
    error_kind: errorKind,
    error: errorKind ? "the repository check found damage: Segment entry checksum mismatch" : null,
    warnings: [],
    started_at: T0.toISOString(),
    finished_at: at(seconds).toISOString(),
    duration_seconds: 1,
    archive: null,
    pruned: [],
  };
}

const problems = (effects: FleetEffect[]) => effects.flatMap(effect => (effect.type === "problem" ? [effect.problem.kind] : []));
const recovered = (effects: FleetEffect[]) => effects.flatMap(effect => (effect.type === "recovered" ? [effect.previous.kind] : []));

describe("a failed integrity check is a drone problem", () => {
  it("a failed check (not a backup run) shows check_failed with the reason, and a passing check ends it", () => {
    const fleet = createFleet(DEFAULT_FLEET_SETTINGS);
    fleet.onStatus(statusEvent("a"), T0);
    const failed = fleet.onResult(result("check", "failed", 10, "integrity"), at(10));
    expect(problems(failed)).toEqual(["check_failed"]);
    expect(fleet.drones.get("a")?.problem?.reason).toContain("Segment entry checksum mismatch");
    // it is no backup run: the drone's backup schedule is untouched
    expect(fleet.drones.get("a")?.attempts).toBe(0);
    expect(failed.some(effect => effect.type === "run_finished")).toBe(false);

    // a successful backup does not end it
    fleet.onStatus(statusEvent("a", { state: "creating", operation: "scheduled", run_id: "r1" }), at(20));
    expect(recovered(fleet.onResult({ ...result("scheduled", "success", 30), run_id: "r1" }, at(30)))).toEqual([]);
    expect(fleet.drones.get("a")?.problem?.kind).toBe("check_failed");

    expect(recovered(fleet.onResult(result("verify", "success", 40), at(40)))).toEqual(["check_failed"]);
    expect(fleet.drones.get("a")?.problem).toBeNull();
  });

  it("a scheduled run that failed its check shows check_failed rather than failed, and it outlasts an offline spell", () => {
    const fleet = createFleet(DEFAULT_FLEET_SETTINGS);
    fleet.onStatus(statusEvent("a"), T0);
    const effects = fleet.onResult(result("scheduled", "failed", 10, "integrity"), at(10));
    expect(problems(effects)).toEqual(["check_failed"]);
    // offline is worse; when it ends, the damage is still reported
    expect(problems(fleet.onOnline("a", false, at(20)))).toEqual(["offline"]);
    fleet.onOnline("a", true, at(30));
    expect(problems(fleet.evaluate(at(31), { paused: true }))).toEqual(["check_failed"]);
  });

  it("learns a failed check from the heartbeat (after a coordinator restart) and a passed one ends it", () => {
    const fleet = createFleet(DEFAULT_FLEET_SETTINGS);
    expect(problems(fleet.onStatus(statusEvent("a", { last_check_result: "failed" }), T0))).toEqual(["check_failed"]);
    expect(problems(fleet.onStatus(statusEvent("a", { last_check_result: "failed" }), at(60)))).toEqual([]);
    expect(recovered(fleet.onStatus(statusEvent("a", { last_check_result: "success" }), at(120)))).toEqual(["check_failed"]);
    // older drones send no verdict at all: nothing changes
    expect(problems(fleet.onStatus(statusEvent("a"), at(180)))).toEqual([]);
  });
});
