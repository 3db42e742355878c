import { describe, expect, it } from "vitest";

import { type DroneView, type Limits, planStarts } from "../../../apps/backup_coordinator/core/plan.mjs";
import { droneView } from "../../helpers/fleet.mjs";

const NOW = new Date("2026-11-22T03:00:00Z");
const hoursAgo = (hours: number) => new Date(NOW.getTime() - hours * 3_600_000);
const limits: Limits = { perHost: 1, global: 10, offsite: 1 };

const drone = (droneId: string, extra: Partial<DroneView> = {}) => droneView(droneId, hoursAgo(25), extra);

describe("scheduling plan", () => {
  it("does not start a drone whose repository host it has not been told yet", () => {
    const starts = planStarts([drone("a", { hostKnown: false }), drone("b")], [], limits, NOW);
    expect(starts.map(start => start.droneId)).toEqual(["b"]);
  });

  it("starts the most overdue drone first, one per repository host", () => {
    const starts = planStarts([drone("a", { lastBackup: hoursAgo(26) }), drone("b", { lastBackup: hoursAgo(30) })], [], limits, NOW);
    expect(starts.map(start => start.droneId)).toEqual(["b"]);
  });

  it("a never-backed-up drone is the most overdue; drones not yet due wait", () => {
    const starts = planStarts(
      [drone("old", { lastBackup: hoursAgo(48) }), drone("new", { lastBackup: null }), drone("fresh", { lastBackup: hoursAgo(1), repositoryHost: "other" })],
      [],
      limits,
      NOW,
    );
    expect(starts.map(start => start.droneId)).toEqual(["new"]);
  });

  it("priority goes first among due drones", () => {
    const starts = planStarts([drone("a", { lastBackup: hoursAgo(40) }), drone("vip", { priority: 5 })], [], limits, NOW);
    expect(starts.map(start => start.droneId)).toEqual(["vip"]);
  });

  it("respects per-host and global limits, counting runs already going (manual ones too)", () => {
    const drones = [
      drone("a", { repositoryHost: "nas" }),
      drone("b", { repositoryHost: "nas" }),
      drone("c", { repositoryHost: "cloud" }),
      drone("d", { repositoryHost: "usb" }),
    ];
    expect(planStarts(drones, [{ droneId: "x", kind: "primary", host: "nas" }], limits, NOW).map(s => s.droneId)).toEqual(["c", "d"]);
    expect(planStarts(drones, [], { ...limits, global: 2 }, NOW)).toHaveLength(2);
    expect(planStarts(drones, [], { ...limits, perHost: 2 }, NOW).filter(s => s.host === "nas")).toHaveLength(2);
  });

  it("round robin: among equally overdue drones, the one started longest ago goes first", () => {
    const last = hoursAgo(25);
    const drones = [drone("a", { lastBackup: last, lastStartedAt: hoursAgo(1) }), drone("b", { lastBackup: last, lastStartedAt: hoursAgo(3) })];
    expect(planStarts(drones, [], limits, NOW).map(s => s.droneId)).toEqual(["b"]);
  });

  it("skips drones that are offline, busy, paused, standalone or blocked by backoff", () => {
    const drones = [
      drone("offline", { online: false }),
      drone("busy", { idle: false, repositoryHost: "h2" }),
      drone("paused", { mode: "paused", repositoryHost: "h3" }),
      drone("standalone", { mode: "standalone", repositoryHost: "h4" }),
      drone("blocked", { blockedUntil: new Date(NOW.getTime() + 60_000), repositoryHost: "h5" }),
      drone("unblocked", { blockedUntil: new Date(NOW.getTime() - 60_000), repositoryHost: "h6" }),
    ];
    expect(planStarts(drones, [], limits, NOW).map(s => s.droneId)).toEqual(["unblocked"]);
  });

  it("offsite runs have their own limit and never run beside the same drone's primary run", () => {
    const drones = [
      drone("a", { offsiteHost: "cloud", offsiteFrequencyMinutes: 10_080, lastOffsiteBackup: null, lastBackup: hoursAgo(1) }),
      drone("b", { offsiteHost: "cloud", offsiteFrequencyMinutes: 10_080, lastOffsiteBackup: null, lastBackup: hoursAgo(1) }),
      drone("c", { offsiteHost: "cloud", offsiteFrequencyMinutes: 10_080, lastOffsiteBackup: null }),
    ];
    const starts = planStarts(drones, [], limits, NOW);
    expect(starts.filter(s => s.kind === "offsite")).toHaveLength(1);
    // c is due for both: it gets one run, never two at once
    expect(starts.filter(s => s.droneId === "c")).toHaveLength(1);
    expect(planStarts(drones, [{ droneId: "a", kind: "primary", host: "nas" }], limits, NOW).some(s => s.droneId === "a")).toBe(false);
  });
});
