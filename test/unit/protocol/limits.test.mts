/**
 * Home Assistant's recorder keeps no event whose data is over 32 KiB: the largest event the
 * drone or the coordinator can fire, built from the worst input there is (every list far
 * over its cap, every text long and made of the characters that take the most bytes in
 * JSON), stays under it, and still matches its schema.
 */
import { describe, expect, it } from "vitest";

import { eventForEffect, validateEvent } from "../../../apps/backup_coordinator/events.mjs";
import { archiveOptions, ENTITY_SPECS } from "../../../apps/drone/ha/entities.mjs";
import { buildStatusEvent } from "../../../apps/drone/ha/status.mjs";
import { archivePrefixOf, type DroneEngine, RECENT_ARCHIVES } from "../../../apps/drone/core/engine.mjs";
import { pythonJsonLength } from "../../emulator/model.mjs";
import {
  boundResultEvent,
  clipText,
  DRONE_ENTITIES,
  droneDeviceId,
  DRONE_ENTITY_KEYS,
  entityObjectId,
  entityUniqueId,
  EVENT_LIMITS,
  eventDataBytes,
  jsonBytes,
  MAX_EVENT_DATA_BYTES,
  PROTOCOL_VERSION,
  progressEventSchema,
  readResultEvent,
  resultEventSchema,
  statusEventSchema,
  type UnboundedResultEvent,
} from "../../../libs/protocol/index.mjs";

/** Text of `length` characters that each take `bytes` in JSON: 6 (a control character, escaped), 3, 4 (a surrogate pair), or 1. */
const heavy = (length: number) => "\u0001".repeat(length);
const astral = (length: number) => "𝄞".repeat(length);
const many = <T,>(count: number, make: (index: number) => T) => Array.from({ length: count }, (_, index) => make(index));

/** The largest result anything could ask for. */
const worstResult = (): UnboundedResultEvent => ({
  v: PROTOCOL_VERSION,
  drone_id: `a${"b".repeat(62)}`,
  run_id: "0d3c5a53-2d8e-4d0c-9a35-6f1f7f1c2b11",
  operation: "scheduled",
  repository: "offsite",
  trigger: "startup",
  outcome: "interrupted",
  error_kind: "unexpected",
  error: heavy(10_000),
  warnings: many(30, index => (index % 2 ? heavy(2_000) : astral(2_000))),
  started_at: "2026-11-22T02:30:00.000Z",
  finished_at: "2026-11-22T02:33:12.480Z",
  duration_seconds: 192.48,
  archive: { name: heavy(1_000), original_size: Number.MAX_SAFE_INTEGER, compressed_size: Number.MAX_SAFE_INTEGER, deduplicated_size: Number.MAX_SAFE_INTEGER, nfiles: Number.MAX_SAFE_INTEGER },
  pruned: many(500, () => astral(300)),
  checks: many(10, () => ({ kind: "verify_data" as const, archive: heavy(1_000), healthy: false, problems: many(30, () => heavy(1_000)) })),
  restore: { archive: heavy(1_000), target: heavy(5_000), paths: many(50, () => heavy(1_000)) },
  dumps: many(100, () => ({ name: heavy(500), kind: astral(500), outcome: "failed" as const, size: Number.MAX_SAFE_INTEGER, duration_seconds: 1e9, error: heavy(5_000) })),
});

describe("texts cut to a number of bytes", () => {
  it("keeps a text that fits, and cuts one that does not at a character boundary, ending with …", () => {
    expect(clipText("laptop@2026-11-22T03:30:00.016", 256)).toBe("laptop@2026-11-22T03:30:00.016");
    const cut = clipText(astral(100), 50);
    expect(cut.endsWith("…")).toBe(true);
    expect(jsonBytes(cut)).toBeLessThanOrEqual(50);
    // no half of a surrogate pair: every code point before the … is whole
    expect([...cut.slice(0, -1)].every(character => character === "𝄞")).toBe(true);
    expect(jsonBytes(clipText(heavy(100), 20))).toBeLessThanOrEqual(20);
  });
});

describe("the largest events stay under the recorder's 32 KiB", () => {
  it("a result event: lists capped, pruned_count and the count of warnings left out, under 28 KiB", () => {
    const input = worstResult();
    const result = boundResultEvent(input);
    expect(resultEventSchema.safeParse(result).success).toBe(true);
    const bytes = eventDataBytes(result);
    expect(bytes).toBeLessThan(28 * 1024);
    expect(bytes).toBeLessThan(MAX_EVENT_DATA_BYTES);
    expect(result.pruned).toHaveLength(EVENT_LIMITS.pruned);
    expect(result.pruned_count).toBe(500);
    expect(result.warnings).toHaveLength(EVENT_LIMITS.warnings);
    expect(result.warnings.at(-1)).toBe("and 21 more warnings: see the drone's log");
    expect(result.restore).toMatchObject({ paths_count: 50 });
    expect(result.restore?.paths).toHaveLength(EVENT_LIMITS.paths);
    expect(result.checks).toHaveLength(EVENT_LIMITS.checks);
    // the unbounded input would have been dropped by the recorder, and refused by the schema
    expect(eventDataBytes(input)).toBeGreaterThan(MAX_EVENT_DATA_BYTES);
    expect(resultEventSchema.safeParse(input).success).toBe(false);
  });

  it("a result of a drone older than the limits is still read by the coordinator, cut to them", () => {
    const old = { ...worstResult(), pruned: many(40, index => `laptop@2026-11-${String(index).padStart(2, "0")}`) };
    const parsed = readResultEvent(old);
    expect(parsed.success).toBe(true);
    expect(parsed.data).toMatchObject({ pruned_count: 40, run_id: old.run_id, outcome: "interrupted" });
    expect(parsed.data?.pruned).toHaveLength(EVENT_LIMITS.pruned);
    expect(readResultEvent({ ...old, outcome: "maybe" }).success).toBe(false);
  });

  it("a progress event naming the longest path", () => {
    const path = clipText(heavy(4_096), EVENT_LIMITS.longPathBytes);
    const progress = {
      v: PROTOCOL_VERSION,
      drone_id: "laptop",
      run_id: "run",
      operation: "create",
      repository: "primary",
      state: "creating",
      percent: 10,
      eta_seconds: 90,
      original_size: 1,
      compressed_size: 1,
      deduplicated_size: 1,
      nfiles: 1,
      path,
      elapsed_seconds: 10,
      expected_size: 10,
      finished: false,
      time: "2026-11-22T02:30:10.000Z",
    };
    expect(progressEventSchema.safeParse(progress).success).toBe(true);
    expect(eventDataBytes(progress)).toBeLessThan(4 * 1024);
  });

  it("a status event with every entity renamed to HA's longest entity id and a prune hold with the longest reasons", () => {
    const engine = {
      config: { droneId: "laptop", repository: "/srv/borg/laptop", repositoryHost: "nas", offsite: null },
      live: () => ({ state: "idle", operation: null, runId: null, queue: ["create", "prune", "check", "stats", "verify"] }),
      settings: () => ({ mode: "coordinated", frequencyMinutes: 1440, offsiteFrequencyMinutes: 10_080, priority: 0 }),
      persisted: () => ({
        lastBackup: null,
        lastOffsiteBackup: null,
        lastResult: null,
        lastCheckResult: null,
        cancelledAt: { primary: "2026-11-22T02:30:10.000Z", offsite: "2026-11-22T02:30:10.000Z" },
        pruneHold: { since: "2026-11-22T02:30:10.000Z", archive: "laptop@2026-11-22T03:30:00.016", reasons: many(10, () => heavy(500)) },
      }),
    } as unknown as DroneEngine;
    const entities = Object.fromEntries(DRONE_ENTITY_KEYS.map(key => [key, `sensor.${"x".repeat(248)}`]));
    const status = buildStatusEvent(engine, entities, "1.2.3");
    expect(statusEventSchema.safeParse(status).success).toBe(true);
    expect(eventDataBytes(status)).toBeLessThan(MAX_EVENT_DATA_BYTES);
  });

  it("the coordinator's events carry a drone's error and a problem's reason cut to 1 500 bytes", () => {
    const now = new Date("2026-11-22T04:00:00.000Z");
    const result = boundResultEvent(worstResult());
    const finished = eventForEffect({ type: "run_finished", droneId: "laptop", kind: "primary", ours: true, result, read: { bytes: 0, files: 0 } }, "backup_coordinator", now);
    const problem = eventForEffect(
      { type: "problem", droneId: "laptop", problem: { kind: "prune_held", reason: heavy(50_000), since: now } },
      "backup_coordinator",
      now,
    );
    for (const event of [finished, problem]) {
      expect(event).toBeDefined();
      if (!event) continue;
      expect(validateEvent(event)).toMatchObject({ ok: true });
      expect(eventDataBytes(event.data)).toBeLessThan(4 * 1024);
    }
  });
});

describe("the largest entity patch", () => {
  it("Restore Archive with its 22 options, for the longest drone id: far under the integration's 10 000-byte patch limit and the recorder's 32 KiB", () => {
    const droneId = `a${"b".repeat(62)}`;
    const stamp = (day: number) => `${archivePrefixOf(droneId)}2026-11-${String(day).padStart(2, "0")}T03:30:00.016`;
    const recent = Array.from({ length: RECENT_ARCHIVES }, (_, index) => stamp(index + 1));
    // the choice in force is an older archive: it stays in the options, at the end
    const options = archiveOptions(recent, stamp(30));
    expect(options).toHaveLength(22);
    // what synapse sends as the patch: everything it stores of the select (storage.service.mjs `set` → `send(unique_id, CURRENT_VALUE)`)
    const data = {
      current_option: stamp(30),
      options,
      device_id: droneDeviceId(droneId),
      icon: ENTITY_SPECS.restore_archive.icon,
      name: `${droneId} ${DRONE_ENTITIES.restore_archive.name}`,
      suggested_object_id: entityObjectId(droneId, "restore_archive"),
      unique_id: entityUniqueId(droneId, "restore_archive"),
    };
    const patch = { id: 1_000_000, type: "synapse/patch_entity", unique_id: data.unique_id, data };
    // websocket.py measures a patch as Python's json.dumps; bridge.py fires it whole as synapse/update
    const patchBytes = pythonJsonLength(patch);
    const updateBytes = eventDataBytes({ unique_id: data.unique_id, data, timestamp: null });
    expect(patchBytes).toBeLessThan(3_000);
    expect(updateBytes).toBeLessThan(3_000);
  });
});
