import { describe, expect, it } from "vitest";

import {
  COORDINATOR_CONFIGURATION,
  coordinatorConfigSchema,
  coordinatorDeclarations,
  ConfigError,
  defaultCoordinatorValues,
  fleetSettings,
  parseCoordinatorConfig,
  parseWindow,
} from "../../../apps/backup_coordinator/config.mjs";
import { insideWindow } from "../../../apps/backup_coordinator/core/fleet.mjs";

const problemsOf = (values: Record<string, unknown>) => {
  try {
    parseCoordinatorConfig(values);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
};

describe("coordinator configuration", () => {
  it("has one table: every key is declared to DA with its type, default and description, and validated by the schema", () => {
    const declared = coordinatorDeclarations();
    expect(Object.keys(declared)).toEqual(Object.keys(COORDINATOR_CONFIGURATION));
    expect(Object.keys(coordinatorConfigSchema.shape).sort()).toEqual(Object.keys(COORDINATOR_CONFIGURATION).sort());
    for (const [key, entry] of Object.entries(COORDINATOR_CONFIGURATION)) {
      expect(declared[key as keyof typeof declared]).toEqual({ type: entry.type, default: entry.default, description: entry.description });
      expect(entry.description.length).toBeGreaterThan(10);
    }
  });

  it("the defaults are valid and give the documented behaviour", () => {
    const config = parseCoordinatorConfig(defaultCoordinatorValues());
    expect(config).toEqual({
      coordinatorId: "backup_coordinator",
      objectId: "backup_coordinator",
      limits: { perHost: 1, global: 4, offsite: 1 },
      windowText: "",
      offlineAfterSeconds: 180,
      startTimeoutSeconds: 60,
      stallMinutes: 15,
      overdueFactor: 2,
      retryAttempts: 3,
      retryBaseMinutes: 5,
      tickSeconds: 30,
      notify: false,
      callTimeoutMs: 10_000,
    });
    expect(fleetSettings(config)).toEqual({
      limits: { perHost: 1, global: 4, offsite: 1 },
      offlineAfterMs: 180_000,
      startTimeoutMs: 60_000,
      stallMs: 900_000,
      overdueFactor: 2,
      retryAttempts: 3,
      retryBaseMs: 300_000,
    });
  });

  it("reports every problem at once, each with its key and the value given", () => {
    const problems = problemsOf({
      ...defaultCoordinatorValues(),
      PER_HOST_LIMIT: 0,
      GLOBAL_LIMIT: 2.5,
      BACKUP_WINDOW: "25:00-01:00",
      TICK_SECONDS: -1,
      NOTIFY: "yes",
      COORDINATOR_ID: "Bad Id",
      CALL_TIMEOUT_SECONDS: 0,
    });
    expect(problems).toHaveLength(7);
    for (const key of ["PER_HOST_LIMIT", "GLOBAL_LIMIT", "BACKUP_WINDOW", "TICK_SECONDS", "NOTIFY", "COORDINATOR_ID", "CALL_TIMEOUT_SECONDS"]) {
      expect(problems.some(problem => problem.startsWith(`backup_coordinator.${key}: `))).toBe(true);
    }
    expect(problems.find(problem => problem.includes("BACKUP_WINDOW"))).toContain('(got "25:00-01:00")');
    expect(() => parseCoordinatorConfig({ ...defaultCoordinatorValues(), TICK_SECONDS: 0 })).toThrow(/invalid configuration:\n {2}- backup_coordinator\.TICK_SECONDS/);
  });

  it("a missing key is a problem too (a value DA could not parse arrives as NaN or undefined)", () => {
    const { STALL_MINUTES: _dropped, ...rest } = defaultCoordinatorValues();
    expect(problemsOf({ ...rest, OVERDUE_FACTOR: Number.NaN })).toEqual([
      expect.stringMatching(/^backup_coordinator\.STALL_MINUTES: .*\(got nothing\)$/),
      expect.stringMatching(/^backup_coordinator\.OVERDUE_FACTOR: .*\(got NaN\)$/),
    ]);
  });

  it("parses the backup window, which may wrap midnight", () => {
    expect(parseWindow("")).toBeUndefined();
    expect(parseWindow("  ")).toBeUndefined();
    expect(parseWindow("01:00-05:30")).toEqual({ startMinute: 60, endMinute: 330 });
    expect(parseWindow("22:00-06:00")).toEqual({ startMinute: 1320, endMinute: 360 });
    for (const bad of ["1:00-5:00", "24:00-01:00", "10:00-10:00", "10:00", "10:60-11:00", "22:00 - 06:00"]) expect(parseWindow(bad)).toBeNull();

    const wrap = parseCoordinatorConfig({ ...defaultCoordinatorValues(), BACKUP_WINDOW: "22:00-06:00" });
    expect(wrap.windowText).toBe("22:00-06:00");
    const window = fleetSettings(wrap).window;
    expect(insideWindow(window, new Date(2026, 10, 22, 23, 30))).toBe(true);
    expect(insideWindow(window, new Date(2026, 10, 22, 5, 59))).toBe(true);
    expect(insideWindow(window, new Date(2026, 10, 22, 6, 0))).toBe(false);
    expect(insideWindow(window, new Date(2026, 10, 22, 12, 0))).toBe(false);
  });

  it("derives an object id without hyphens", () => {
    expect(parseCoordinatorConfig({ ...defaultCoordinatorValues(), COORDINATOR_ID: "home-coordinator" }).objectId).toBe("home_coordinator");
  });
});
