/** The Home Assistant bridge's pure parts, without booting anything. */
import { describe, expect, it } from "vitest";

import { droneEntityKeys, ENTITY_SPECS } from "../../../apps/drone/ha/entities.mjs";
import { createEventSender, PENDING_RESULTS_LIMIT } from "../../../apps/drone/ha/events.mjs";
import { withDeadline } from "../../../libs/ha/deadline.mjs";
import { FACT_SENSORS, progressStates, truncateState } from "../../../apps/drone/ha/values.mjs";
import { packageVersion } from "../../../libs/protocol/version.mjs";
import { type LiveStatus } from "../../../apps/drone/core/engine.mjs";
import { emptyState } from "../../../apps/drone/core/state.mjs";
import {
  DRONE_ENTITIES,
  DRONE_ENTITY_KEYS,
  EVENT_TYPES,
  type ProgressEvent,
  PROTOCOL_VERSION,
  type ResultEvent,
} from "../../../libs/protocol/index.mjs";

const result = (run: number): ResultEvent => ({
  v: PROTOCOL_VERSION,
  drone_id: "laptop",
  run_id: `run-${run}`,
  operation: "create",
  repository: "primary",
  trigger: "button",
  outcome: "success",
  error_kind: null,
  error: null,
  warnings: [],
  started_at: "2026-11-22T02:30:00.000Z",
  finished_at: "2026-11-22T02:31:00.000Z",
  duration_seconds: 60,
  archive: null,
  pruned: [],
});

const progress: ProgressEvent = {
  v: PROTOCOL_VERSION,
  drone_id: "laptop",
  run_id: "run-1",
  operation: "create",
  repository: "primary",
  state: "creating",
  percent: 10,
  eta_seconds: 90,
  original_size: 1,
  compressed_size: 1,
  deduplicated_size: 1,
  nfiles: 1,
  path: "home/a",
  elapsed_seconds: 10,
  expected_size: 10,
  finished: false,
  time: "2026-11-22T02:30:10.000Z",
};

function transport(connected = true) {
  const sent: { type: string; data: object }[] = [];
  const state = { connected, hang: false };
  return {
    sent,
    state,
    transport: {
      fireEvent: (type: string, data: object) => {
        sent.push({ type, data });
        return state.hang ? new Promise<never>(() => undefined) : Promise.resolve(null);
      },
      connected: () => state.connected,
    },
  };
}

function log() {
  const lines: string[] = [];
  return { lines, log: { debug: (line: string) => void lines.push(`debug ${line}`), warn: (line: string) => void lines.push(`warn ${line}`) } };
}

describe("the Home Assistant bridge's parts", () => {
  it("the spec table covers every entity with the domain the protocol gives it, and icons everywhere", () => {
    for (const key of DRONE_ENTITY_KEYS) {
      expect(ENTITY_SPECS[key].domain, key).toBe(DRONE_ENTITIES[key].domain);
      expect(ENTITY_SPECS[key].icon, key).toMatch(/^mdi:[a-z-]+$/);
    }
    expect(droneEntityKeys(true)).toEqual(DRONE_ENTITY_KEYS);
    expect(droneEntityKeys(false)).not.toContain("offsite_backup");
    expect(droneEntityKeys(false)).toHaveLength(DRONE_ENTITY_KEYS.length - 4);
  });

  it("sensor states: unknown before facts exist, Last Error cut to HA's 255 characters", () => {
    const live: LiveStatus = { state: "idle", operation: null, runId: null, trigger: null, startedAt: null, queue: [], progress: null };
    const facts = { live, persisted: emptyState() };
    expect(FACT_SENSORS.last_backup(facts)).toBeNull();
    expect(FACT_SENSORS.archive_total_size(facts)).toBeNull();
    expect(FACT_SENSORS.last_result(facts)).toBe("unknown");
    expect(FACT_SENSORS.last_error(facts)).toBe("");
    expect(FACT_SENSORS.application_state(facts)).toBe("idle");
    const cut = FACT_SENSORS.last_error({ live, persisted: { ...emptyState(), lastError: "x".repeat(400) } });
    expect(String(cut)).toHaveLength(255);
    expect(String(cut).endsWith("…")).toBe(true);
    expect(truncateState("short")).toBe("short");
    expect(progressStates({ percent: 42.46, eta_seconds: 80.6 } as ProgressEvent)).toEqual({ progress: 42.5, eta: 81 });
    expect(progressStates({ percent: null, eta_seconds: null } as ProgressEvent)).toEqual({ progress: null, eta: null });
  });

  it("an invalid payload is never sent: the sender logs which field is wrong", async () => {
    const t = transport();
    const l = log();
    const sender = createEventSender(t.transport, l.log, () => 1000);
    expect(await sender.send(EVENT_TYPES.result, { ...result(1), outcome: "great" })).toBe(false);
    expect(t.sent).toEqual([]);
    expect(l.lines).toEqual([expect.stringMatching(/^warn backup_drone_result event not sent.*outcome/)]);
    expect(await sender.send(EVENT_TYPES.result, result(2))).toBe(true);
    expect(t.sent).toEqual([{ type: "backup_drone_result", data: result(2) }]);
  });

  it("a reply that never comes counts as failed after the deadline; the sender never rejects", async () => {
    const t = transport();
    t.state.hang = true;
    const l = log();
    const sender = createEventSender(t.transport, l.log, () => 50);
    const started = Date.now();
    expect(await sender.send(EVENT_TYPES.result, result(1))).toBe(false);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(l.lines).toEqual(["warn backup_drone_result event not confirmed by Home Assistant: no reply within 50 ms"]);
    const broken = createEventSender({ fireEvent: () => Promise.reject(new Error("socket gone")), connected: () => true }, l.log, () => 50);
    expect(await broken.send(EVENT_TYPES.result, result(2))).toBe(false);
    expect(await withDeadline(Promise.resolve(7), 10)).toEqual({ ok: true, value: 7 });
  });

  it("while disconnected, results are kept (the newest ones) and sent on reconnect; progress is dropped", async () => {
    const t = transport(false);
    const l = log();
    const sender = createEventSender(t.transport, l.log, () => 1000);
    for (let run = 0; run < PENDING_RESULTS_LIMIT + 2; run++) await sender.send(EVENT_TYPES.result, result(run));
    expect(await sender.send(EVENT_TYPES.progress, progress)).toBe(false);
    expect(l.lines.at(-1)).toBe("debug Home Assistant is not connected: backup_drone_progress event dropped");
    expect(t.sent).toEqual([]);
    t.state.connected = true;
    await sender.flush();
    expect(t.sent.map(event => (event.data as ResultEvent).run_id)).toEqual(
      Array.from({ length: PENDING_RESULTS_LIMIT }, (_, index) => `run-${index + 2}`),
    );
    await sender.flush();
    expect(t.sent).toHaveLength(PENDING_RESULTS_LIMIT);
  });

  it("the version comes from backup-coordinator's package.json", () => {
    expect(packageVersion()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
