import { describe, expect, it } from "vitest";

import {
  type DronePlan,
  type DroneView,
  nextWindowOpening,
  type PlanContext,
  planChanged,
  planNext,
} from "../../../apps/backup_coordinator/core/plan.mjs";
import { nextRegularTime } from "../../../libs/protocol/index.mjs";
import { droneView } from "../../helpers/fleet.mjs";

// local time: the backup window is in the coordinator's local time
const NOW = new Date(2026, 10, 22, 3, 0, 0);
const minutesFrom = (minutes: number, from = NOW) => new Date(from.getTime() + minutes * 60_000);

const drone = (extra: Partial<DroneView> = {}) => droneView("a", minutesFrom(-600), extra);

const context = (extra: Partial<PlanContext> = {}): PlanContext => ({ now: NOW, paused: false, runningSince: null, slotFull: false, ...extra });

describe("a drone's planned next backup", () => {
  it("due: last backup + frequency", () => {
    expect(planNext(drone(), context())).toEqual({ nextAt: minutesFrom(840), reason: "due" });
  });

  it("overdue: now, or waiting_for_slot when its host or the home's limit is full (or its host is not known yet)", () => {
    const late = drone({ lastBackup: minutesFrom(-1500) });
    expect(planNext(late, context())).toEqual({ nextAt: NOW, reason: "overdue" });
    expect(planNext(late, context({ slotFull: true }))).toEqual({ nextAt: NOW, reason: "waiting_for_slot" });
    expect(planNext(drone({ lastBackup: null, hostKnown: false }), context())).toEqual({ nextAt: NOW, reason: "waiting_for_slot" });
    expect(planNext(drone({ lastBackup: null }), context())).toEqual({ nextAt: NOW, reason: "overdue" });
  });

  it("window: the window's next opening, for a due time outside it", () => {
    // window 01:00–02:00; it is 03:00 and the drone is overdue: tomorrow 01:00
    const window = { startMinute: 60, endMinute: 120 };
    const tomorrowOne = new Date(2026, 10, 23, 1, 0, 0);
    expect(planNext(drone({ lastBackup: minutesFrom(-1500) }), context({ window }))).toEqual({ nextAt: tomorrowOne, reason: "window" });
    // due at 17:00 today, window 22:00–06:00 (wraps midnight): 22:00
    const night = { startMinute: 22 * 60, endMinute: 6 * 60 };
    expect(planNext(drone(), context({ window: night }))).toEqual({ nextAt: new Date(2026, 10, 22, 22, 0, 0), reason: "window" });
    // due inside the window: the due time stands
    expect(planNext(drone({ lastBackup: minutesFrom(-1380) }), context({ window: night }))).toEqual({ nextAt: minutesFrom(60), reason: "due" });
  });

  it("backoff: the end of the backoff after a failure", () => {
    const failed = drone({ lastBackup: minutesFrom(-1500), blockedUntil: minutesFrom(10) });
    expect(planNext(failed, context())).toEqual({ nextAt: minutesFrom(10), reason: "backoff" });
    // a backoff that ends before the drone is due changes nothing
    expect(planNext(drone({ blockedUntil: minutesFrom(10) }), context())).toEqual({ nextAt: minutesFrom(840), reason: "due" });
  });

  it("cancelled: the next regular time after a cancel", () => {
    const cancelled = drone({ lastBackup: minutesFrom(-1500), cancelledUntil: minutesFrom(1380) });
    expect(planNext(cancelled, context())).toEqual({ nextAt: minutesFrom(1380), reason: "cancelled" });
  });

  it("running: since the run started", () => {
    expect(planNext(drone(), context({ runningSince: minutesFrom(-3) }))).toEqual({ nextAt: minutesFrom(-3), reason: "running" });
    expect(planNext(drone({ idle: false }), context())).toEqual({ nextAt: NOW, reason: "running" });
  });

  it("no time: paused (coordinator or drone), not_coordinated (standalone), offline", () => {
    expect(planNext(drone(), context({ paused: true }))).toEqual({ nextAt: null, reason: "paused" });
    expect(planNext(drone({ mode: "paused" }), context())).toEqual({ nextAt: null, reason: "paused" });
    expect(planNext(drone({ mode: "standalone" }), context({ paused: true }))).toEqual({ nextAt: null, reason: "not_coordinated" });
    expect(planNext(drone({ online: false }), context())).toEqual({ nextAt: null, reason: "offline" });
  });
});

describe("plan helpers", () => {
  it("the next regular time after a cancel is last backup + a whole number of frequencies after it", () => {
    const last = minutesFrom(-1500);
    expect(nextRegularTime(last, 1440, NOW)).toEqual(minutesFrom(1380));
    expect(nextRegularTime(last, 60, NOW)).toEqual(minutesFrom(60));
    // never backed up: one frequency after the cancel
    expect(nextRegularTime(null, 1440, NOW)).toEqual(minutesFrom(1440));
  });

  it("the window's next opening is the time itself inside it", () => {
    const window = { startMinute: 120, endMinute: 240 };
    expect(nextWindowOpening(window, NOW)).toEqual(NOW);
    expect(nextWindowOpening(undefined, NOW)).toEqual(NOW);
    expect(nextWindowOpening({ startMinute: 300, endMinute: 360 }, NOW)).toEqual(new Date(2026, 10, 22, 5, 0, 0));
  });

  it("a plan is news when its reason changed or its time moved by a minute or more; an overdue plan's time does not count", () => {
    const due: DronePlan = { nextAt: NOW, reason: "due" };
    expect(planChanged(undefined, due)).toBe(true);
    expect(planChanged(due, { nextAt: new Date(NOW.getTime() + 59_000), reason: "due" })).toBe(false);
    expect(planChanged(due, { nextAt: minutesFrom(1), reason: "due" })).toBe(true);
    expect(planChanged(due, { nextAt: NOW, reason: "backoff" })).toBe(true);
    expect(planChanged({ nextAt: NOW, reason: "overdue" }, { nextAt: minutesFrom(30), reason: "overdue" })).toBe(false);
    expect(planChanged({ nextAt: NOW, reason: "waiting_for_slot" }, { nextAt: minutesFrom(30), reason: "waiting_for_slot" })).toBe(false);
    expect(planChanged({ nextAt: null, reason: "paused" }, { nextAt: null, reason: "paused" })).toBe(false);
  });
});
