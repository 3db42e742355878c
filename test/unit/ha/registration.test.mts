import { describe, expect, it } from "vitest";

import { configurationUpdate, republishOnRegistration, REPUBLISH_SLICE, updateOutcome } from "../../../libs/ha/registration.mjs";

/** A watcher over `values` (sent as `id=JSON` lines), with the look it schedules run by hand. */
const watch = (values: Map<string, object>, slice?: number) => {
  let registered = true;
  let tick = () => undefined as void;
  const sent: string[] = [];
  republishOnRegistration({
    isRegistered: () => registered,
    entities: () => [...values].map(([id]) => ({ storage: { unique_id: id, export: () => values.get(id) ?? {} } })),
    send: id => {
      sent.push(`${id}=${JSON.stringify(values.get(id))}`);
      return Promise.resolve();
    },
    every: (_ms, check) => {
      tick = check;
      return () => undefined;
    },
    onError: message => {
      throw new Error(message);
    },
    ...(slice === undefined ? {} : { slice }),
  });
  return { sent, tick: () => tick(), setRegistered: (value: boolean) => (registered = value) };
};
/** `count` entities e0… of state 0. */
const numbered = (count: number) => new Map<string, object>(Array.from({ length: count }, (_, i) => [`e${i}`, { state: 0 }]));

describe("patching every entity again when the registration begins", () => {
  it("sends each entity's stored values once per start of the registration", () => {
    const values = new Map<string, object>([
      ["a", { state: "idle" }],
      ["b", { is_on: true }],
    ]);
    const { sent, tick, setRegistered } = watch(values);
    setRegistered(false);
    tick();
    expect(sent).toEqual([]);
    setRegistered(true);
    tick();
    tick();
    expect(sent).toEqual(['a={"state":"idle"}', 'b={"is_on":true}']);
    // lost (a reconnect, an app restart HA noticed) and back: everything once more
    setRegistered(false);
    tick();
    setRegistered(true);
    values.set("a", { state: "creating" });
    tick();
    expect(sent.slice(2)).toEqual(['a={"state":"creating"}', 'b={"is_on":true}']);
  });
});

describe("patching many entities again, a slice per look", () => {
  it("sends REPUBLISH_SLICE entities per look, in order, each with its values when it goes", () => {
    const values = numbered(250);
    const { sent, tick } = watch(values);
    tick();
    expect(REPUBLISH_SLICE).toBe(100);
    expect(sent).toHaveLength(100);
    expect(sent[99]).toBe("e99={\"state\":0}");
    // written while waiting for its slice: the new value goes
    values.set("e150", { state: 1 });
    tick();
    expect(sent).toHaveLength(200);
    expect(sent[150]).toBe("e150={\"state\":1}");
    tick();
    tick();
    expect(sent).toEqual([...values].map(([id, value]) => `${id}=${JSON.stringify(value)}`));
  });

  it("sends a drone's few entities on the first look, as one slice", () => {
    const { sent, tick } = watch(numbered(30));
    tick();
    expect(sent).toHaveLength(30);
    tick();
    expect(sent).toHaveLength(30);
  });

  it("stops when the registration is lost on the way, and starts over with the next one", () => {
    const { sent, tick, setRegistered } = watch(numbered(5), 2);
    tick();
    expect(sent.map(line => line.split("=")[0])).toEqual(["e0", "e1"]);
    setRegistered(false);
    tick();
    tick();
    expect(sent).toHaveLength(2);
    setRegistered(true);
    tick();
    tick();
    tick();
    tick();
    expect(sent.map(line => line.split("=")[0])).toEqual(["e0", "e1", "e0", "e1", "e2", "e3", "e4"]);
  });
});

describe("a configuration update of a registered application", () => {
  it("carries the whole registration metadata, the entities by domain beside it", () => {
    const message = configurationUpdate("app-1", {
      app: "backup_coordinator_app",
      title: "Backup Coordinator",
      cleanup: "delete",
      hostname: "nas",
      username: "backup",
      hash: "abc",
      device: { name: "Backup Coordinator" },
      secondary_devices: [{ unique_id: "dev" }],
      service: [],
      entities: { sensor: [{ unique_id: "s" }], binary_sensor: [{ unique_id: "b" }] },
    });
    expect(message).toEqual({
      type: "synapse/update_configuration",
      unique_id: "app-1",
      app_metadata: {
        app: "backup_coordinator_app",
        title: "Backup Coordinator",
        cleanup: "delete",
        hostname: "nas",
        username: "backup",
        hash: "abc",
        device: { name: "Backup Coordinator" },
        secondary_devices: [{ unique_id: "dev" }],
        service: [],
        sensor: [{ unique_id: "s" }],
        binary_sensor: [{ unique_id: "b" }],
      },
    });
  });

  it("reads the integration's answer: applied, needs a registration, or worth another try", () => {
    expect(updateOutcome({ ok: true, value: { success: true, configuration_updated: true } })).toEqual({ kind: "applied" });
    expect(
      updateOutcome({ ok: true, value: { success: false, error_code: "bridge_not_found", message: "No bridge found", requires_reregistration: true } }),
    ).toEqual({ kind: "unregistered", reason: "bridge_not_found: No bridge found" });
    expect(updateOutcome({ ok: true, value: { success: false, error_code: "configuration_update_failed", message: "boom" } })).toEqual({
      kind: "retry",
      reason: "configuration_update_failed: boom",
    });
    expect(updateOutcome({ ok: false, reason: "no reply within 10000 ms" })).toEqual({ kind: "retry", reason: "no reply within 10000 ms" });
    expect(updateOutcome({ ok: true, value: null })).toMatchObject({ kind: "retry" });
  });
});
