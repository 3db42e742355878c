import { describe, expect, it } from "vitest";

import { createFleet, type FleetSettings } from "../../../apps/backup_coordinator/core/fleet.mjs";
import { at, DEFAULT_FLEET_SETTINGS, statusEvent } from "../../helpers/fleet.mjs";
import { T0 } from "../../helpers/wait.mjs";

const settings: FleetSettings = DEFAULT_FLEET_SETTINGS;
const status = statusEvent;
const starts = (fleet: ReturnType<typeof createFleet>, now: Date) =>
  fleet.evaluate(now, { paused: false }).flatMap(effect => (effect.type === "start" ? [effect.droneId] : []));

describe("drones known only from Home Assistant's states after a restart", () => {
  it("wait for their heartbeat: only then is their repository host, and so the per-host limit, known", () => {
    const fleet = createFleet(settings);
    fleet.restore({ droneId: "a", state: "idle", lastBackup: null }, T0);
    fleet.restore({ droneId: "b", state: "idle", lastBackup: null }, T0);
    expect(starts(fleet, at(1))).toEqual([]);
    fleet.onStatus(status("a", { repository_host: "nas" }), at(2));
    fleet.onStatus(status("b", { repository_host: "nas" }), at(2));
    // both due and idle, one host: one at a time
    expect(starts(fleet, at(3))).toHaveLength(1);
  });
});

describe("a run whose result never arrived", () => {
  it("ends when the drone reports itself idle, freeing its host's slot", () => {
    const fleet = createFleet(settings);
    // restored busy from HA after a restart; its result is fired while the coordinator is away
    fleet.restore({ droneId: "a", state: "creating", lastBackup: null }, T0);
    fleet.onStatus(status("b"), T0);
    fleet.onStatus(status("a", { state: "creating", operation: "scheduled", run_id: "r1", repository_host: "nas" }), at(1));
    expect(starts(fleet, at(1))).toEqual([]);
    expect(fleet.running().map(run => run.droneId)).toEqual(["a"]);

    fleet.onStatus(status("a", { last_backup: at(2).toISOString() }), at(3));
    expect(fleet.running()).toEqual([]);
    expect(starts(fleet, at(3))).toEqual(["b"]);
  });

  it("a restored busy state that was a prune ends the same way (a prune's result is no run's end)", () => {
    const fleet = createFleet(settings);
    fleet.restore({ droneId: "a", state: "pruning", lastBackup: at(-60) }, T0);
    fleet.onStatus(status("a", { state: "pruning", operation: "prune", last_backup: at(-60).toISOString() }), at(1));
    expect(fleet.running().map(run => run.droneId)).toEqual(["a"]);
    fleet.onStatus(status("a", { last_backup: at(-60).toISOString() }), at(20));
    expect(fleet.running()).toEqual([]);
  });

  it("clears a stall it had caused", () => {
    const fleet = createFleet(settings);
    const running = status("a", { state: "creating", operation: "scheduled", run_id: "r1" });
    fleet.onStatus(running, T0);
    // heartbeats keep it online; only progress would show it moving
    for (let minute = 2; minute <= 16; minute += 2) fleet.onStatus(running, at(minute * 60));
    const stalled = fleet.evaluate(at(16 * 60), { paused: true });
    expect(stalled).toContainEqual(expect.objectContaining({ type: "problem", droneId: "a", problem: expect.objectContaining({ kind: "stalled" }) }));
    const idle = fleet.onStatus(status("a"), at(16 * 60 + 1));
    expect(idle).toContainEqual(expect.objectContaining({ type: "recovered", droneId: "a" }));
  });

  it("does not end a run the coordinator just pressed for (the drone has not started yet)", () => {
    const fleet = createFleet(settings);
    fleet.onStatus(status("a"), T0);
    expect(starts(fleet, T0)).toEqual(["a"]);
    fleet.markPressed("a", "primary", T0);
    fleet.onStatus(status("a"), at(1));
    expect(starts(fleet, at(2))).toEqual([]);
  });
});
