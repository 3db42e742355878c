import { describe, expect, it } from "vitest";

import { type FleetEffect, type Problem } from "../../../apps/backup_coordinator/core/fleet.mjs";
import { eventForEffect, validateEvent } from "../../../apps/backup_coordinator/events.mjs";
import {
  COORDINATOR_EVENT_SCHEMAS,
  COORDINATOR_EVENT_TYPES,
  PROTOCOL_VERSION,
  type ResultEvent,
} from "../../../libs/protocol/index.mjs";

const NOW = new Date("2026-11-22T02:10:00Z");
const problem: Problem = { kind: "failed", reason: "scheduled failed: locked (attempt 1)", since: new Date("2026-11-22T02:00:00Z") };
const result: ResultEvent = {
  v: PROTOCOL_VERSION,
  drone_id: "laptop",
  run_id: "laptop-1",
  operation: "scheduled",
  repository: "primary",
  trigger: "button",
  outcome: "failed",
  error_kind: "lock_timeout",
  error: "The repository is locked.",
  warnings: [],
  started_at: "2026-11-22T02:00:00.000Z",
  finished_at: "2026-11-22T02:05:00.000Z",
  duration_seconds: 300,
  archive: null,
  pruned: [],
};

describe("coordinator events", () => {
  it("builds a valid, versioned payload for every effect that is an event", () => {
    const effects: FleetEffect[] = [
      { type: "run_started", droneId: "laptop", kind: "primary", ours: true, runId: "laptop-1" },
      { type: "run_finished", droneId: "laptop", kind: "primary", ours: true, result, read: { bytes: 0, files: 0 } },
      { type: "problem", droneId: "laptop", problem },
      { type: "recovered", droneId: "laptop", previous: problem },
      { type: "plan", droneId: "laptop", plan: { nextAt: new Date("2026-11-23T02:05:00Z"), reason: "due" } },
    ];
    const events = effects.map(effect => eventForEffect(effect, "backup_coordinator", NOW));
    expect(events.map(event => event?.type)).toEqual(Object.values(COORDINATOR_EVENT_TYPES));
    for (const event of events) {
      expect(event).toBeDefined();
      const checked = validateEvent(event!);
      expect(checked).toEqual({ ok: true, data: expect.objectContaining({ v: PROTOCOL_VERSION, coordinator_id: "backup_coordinator", drone_id: "laptop" }) });
      expect(COORDINATOR_EVENT_SCHEMAS[event!.type].safeParse(event!.data).success).toBe(true);
    }
    expect(events[1]?.data).toMatchObject({ outcome: "failed", error_kind: "lock_timeout", run_id: "laptop-1", duration_seconds: 300, ours: true });
    expect(events[2]?.data).toMatchObject({ kind: "failed", reason: problem.reason, since: "2026-11-22T02:00:00.000Z", time: NOW.toISOString() });
    expect(events[3]?.data).toMatchObject({ previous_kind: "failed", previous_reason: problem.reason, duration_seconds: 600 });
    expect(events[4]?.data).toMatchObject({ next_at: "2026-11-23T02:05:00.000Z", reason: "due", time: NOW.toISOString() });
  });

  it("a plan with no time (paused, standalone, offline) is a valid event with next_at null", () => {
    const event = eventForEffect({ type: "plan", droneId: "laptop", plan: { nextAt: null, reason: "paused" } }, "c", NOW);
    expect(event?.type).toBe(COORDINATOR_EVENT_TYPES.plan);
    expect(validateEvent(event!)).toEqual({ ok: true, data: expect.objectContaining({ next_at: null, reason: "paused", drone_id: "laptop" }) });
  });

  it("starts and round ends are no events", () => {
    expect(eventForEffect({ type: "start", droneId: "laptop", kind: "primary", overdueMinutes: 3, via: "press", reason: null }, "c", NOW)).toBeUndefined();
    expect(eventForEffect({ type: "round_completed", at: NOW }, "c", NOW)).toBeUndefined();
  });

  it("a payload that does not match is refused with its paths, not its values", () => {
    const checked = validateEvent({
      type: COORDINATOR_EVENT_TYPES.droneProblem,
      data: { v: 1, coordinator_id: "c", drone_id: "Not A Drone", kind: "melted", reason: "secret-value", since: "yesterday", time: NOW.toISOString() },
    });
    expect(checked.ok).toBe(false);
    if (checked.ok) return;
    expect(checked.problems.map(problem => problem.split(":")[0])).toEqual(["drone_id", "kind", "since"]);
    expect(checked.problems.join(" ")).not.toContain("secret-value");
  });
});
