import { describe, expect, it } from "vitest";

import { configurationUpdate, republishOnRegistration, updateOutcome } from "../../../libs/ha/registration.mjs";

describe("patching every entity again when the registration begins", () => {
  it("sends each entity's stored values once per start of the registration", () => {
    let registered = false;
    let tick = () => undefined as void;
    const sent: [string, object][] = [];
    const values: Record<string, object> = { a: { state: "idle" }, b: { is_on: true } };
    republishOnRegistration({
      isRegistered: () => registered,
      entities: () => Object.entries(values).map(([id, data]) => ({ storage: { unique_id: id, export: () => data } })),
      send: (id, data) => {
        sent.push([id, data]);
        return Promise.resolve();
      },
      every: (_ms, check) => {
        tick = check;
        return () => undefined;
      },
      onError: message => {
        throw new Error(message);
      },
    });

    tick();
    expect(sent).toEqual([]);
    registered = true;
    tick();
    tick();
    expect(sent).toEqual([
      ["a", { state: "idle" }],
      ["b", { is_on: true }],
    ]);
    // lost (a reconnect, an app restart HA noticed) and back: everything once more
    registered = false;
    tick();
    registered = true;
    values.a = { state: "creating" };
    tick();
    expect(sent.slice(2)).toEqual([
      ["a", { state: "creating" }],
      ["b", { is_on: true }],
    ]);
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
