import { describe, expect, it } from "vitest";

import { createFleet, type FleetEffect } from "../../../apps/backup_coordinator/core/fleet.mjs";
import { type ResultEvent } from "../../../libs/protocol/index.mjs";
import { at, DEFAULT_FLEET_SETTINGS, resultEvent, statusEvent } from "../../helpers/fleet.mjs";
import { T0 } from "../../helpers/wait.mjs";

const HOLD = { since: T0.toISOString(), archive: "a@2026-11-22T02:00:00.000", reasons: ["the file count fell by 75 %"] };

function heldResult(finished: Date): ResultEvent {
  return resultEvent("a", "held", finished, {
    run_id: "r1",
    error_kind: "prune_held",
    error: "prune is held, every archive is kept: the file count fell by 75 %. …",
  });
}

const problems = (effects: FleetEffect[]) => effects.flatMap(effect => (effect.type === "problem" ? [effect.problem] : []));
const recovered = (effects: FleetEffect[]) => effects.flatMap(effect => (effect.type === "recovered" ? [effect.previous.kind] : []));

describe("a drone whose prune guard holds prune", () => {
  it("a held result counts as a backup (no retry, no backoff) and raises a prune_held problem", () => {
    const fleet = createFleet(DEFAULT_FLEET_SETTINGS);
    fleet.onStatus(statusEvent("a"), T0);
    const effects = fleet.onResult(heldResult(at(30)), at(30));
    expect(problems(effects)).toEqual([expect.objectContaining({ kind: "prune_held", reason: expect.stringContaining("75 %") })]);
    const drone = fleet.drones.get("a");
    expect(drone?.attempts).toBe(0);
    expect(drone?.blockedUntil).toBeNull();
    expect(drone?.lastBackup).toEqual(at(30));
  });

  it("a heartbeat with prune_hold raises it (a restarted coordinator learns it), one without clears it, and a later failure does not hide it", () => {
    const fleet = createFleet(DEFAULT_FLEET_SETTINGS);
    const raised = fleet.onStatus(statusEvent("a", { prune_hold: HOLD }), T0);
    expect(problems(raised)).toEqual([expect.objectContaining({ kind: "prune_held", reason: expect.stringContaining("Release Prune Hold") })]);
    // the same heartbeat again says nothing new
    expect(problems(fleet.onStatus(statusEvent("a", { prune_hold: HOLD }), at(60)))).toEqual([]);
    // an older drone says nothing of holds: the problem stays
    expect(recovered(fleet.onStatus(statusEvent("a"), at(90)))).toEqual([]);
    const cleared = fleet.onStatus(statusEvent("a", { prune_hold: null }), at(120));
    expect(recovered(cleared)).toEqual(["prune_held"]);
  });
});
