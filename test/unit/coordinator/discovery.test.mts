import { describe, expect, it } from "vitest";

import {
  busyState,
  discoverDrones,
  droneIdOfUniqueId,
  parseRegistry,
  type RegistryEntry,
  restoredFacts,
} from "../../../apps/backup_coordinator/ha/discovery.mjs";
import { entityId, entityUniqueId } from "../../../libs/protocol/index.mjs";

const row = (entityId: string, uniqueId: string, configEntryId: string | null, platform = "synapse"): RegistryEntry => ({
  entityId,
  uniqueId,
  platform,
  configEntryId,
});
const droneRows = (droneId: string, entry: string) =>
  (["application_state", "application_mode", "scheduled_backup", "backup_frequency", "priority", "last_backup"] as const).map(key =>
    row(entityId(droneId, key), entityUniqueId(droneId, key), entry),
  );

describe("finding drones in Home Assistant's registry", () => {
  it("knows a drone by its Application State sensor, even with _ and - in its id", () => {
    expect(droneIdOfUniqueId("backup_drone_laptop_application_state")).toBe("laptop");
    expect(droneIdOfUniqueId("backup_drone_nas_last_application_state")).toBe("nas_last");
    expect(droneIdOfUniqueId("backup_drone_my-pc_application_state")).toBe("my-pc");
    expect(droneIdOfUniqueId("backup_drone_laptop_last_backup")).toBeUndefined();
    expect(droneIdOfUniqueId("backup_drone_Bad Id_application_state")).toBeUndefined();
    expect(droneIdOfUniqueId("something_application_state")).toBeUndefined();
  });

  it("finds each drone's entities by exact unique id (renamed ones too) and its app's online sensor", () => {
    const rows = [
      ...droneRows("laptop", "entry_laptop"),
      ...droneRows("my-pc", "entry_pc"),
      row("button.renamed", entityUniqueId("laptop", "offsite_backup"), "entry_laptop"),
      row("binary_sensor.laptop_drone_online", "laptop-app-online", "entry_laptop"),
      row("sensor.other_online", "x-online", "entry_laptop"),
      row("binary_sensor.someone_else_online", "y-online", "entry_other"),
      row("sensor.foreign_application_state", "backup_drone_foreign_application_state", "entry_z", "template"),
    ];
    const drones = discoverDrones(rows);
    expect(drones.map(drone => drone.droneId)).toEqual(["laptop", "my-pc"]);
    expect(drones[0]).toEqual({
      droneId: "laptop",
      entities: {
        application_state: "sensor.laptop_application_state",
        application_mode: "select.laptop_application_mode",
        scheduled_backup: "button.laptop_scheduled_backup",
        backup_frequency: "number.laptop_backup_frequency",
        priority: "number.laptop_priority",
        last_backup: "sensor.laptop_last_backup",
        offsite_backup: "button.renamed",
      },
      onlineSensor: "binary_sensor.laptop_drone_online",
    });
    expect(drones[1]?.entities.scheduled_backup).toBe("button.my_pc_scheduled_backup");
    expect(drones[1]?.onlineSensor).toBeUndefined();
  });

  it("skips registry rows of another shape", () => {
    const parsed = parseRegistry([
      { entity_id: "sensor.a", unique_id: 42, platform: "synapse", config_entry_id: null },
      { entity_id: "", unique_id: "x" },
      "garbage",
      null,
      { unique_id: "no entity id" },
    ]);
    expect(parsed).toEqual([{ entityId: "sensor.a", uniqueId: "42", platform: "synapse", configEntryId: null }]);
  });
});

describe("restoring a drone from HA's entity states", () => {
  const [drone] = discoverDrones(droneRows("laptop", "entry"));

  it("reads state, mode, frequency, priority and last backup as HA shows them", () => {
    const states: Record<string, string> = {
      "sensor.laptop_application_state": "creating",
      "select.laptop_application_mode": "coordinated",
      "number.laptop_backup_frequency": "360.0",
      "number.laptop_priority": "-5",
      "sensor.laptop_last_backup": "2026-11-21T02:00:00+00:00",
    };
    expect(restoredFacts(drone!, id => states[id])).toEqual({
      droneId: "laptop",
      state: "creating",
      mode: "coordinated",
      frequencyMinutes: 360,
      priority: -5,
      lastBackup: new Date("2026-11-21T02:00:00Z"),
    });
  });

  it("leaves out what HA does not know (unknown, unavailable, nonsense)", () => {
    const states: Record<string, string> = {
      "sensor.laptop_application_state": "unavailable",
      "select.laptop_application_mode": "sometimes",
      "number.laptop_backup_frequency": "0",
      "number.laptop_priority": "",
      "sensor.laptop_last_backup": "unknown",
    };
    expect(restoredFacts(drone!, id => states[id])).toEqual({ droneId: "laptop" });
  });

  it("busy is any known Application State but idle", () => {
    expect(busyState("creating")).toBe("creating");
    expect(busyState("offsite_pruning")).toBe("offsite_pruning");
    for (const notBusy of ["idle", "unavailable", "unknown", undefined, "on"]) expect(busyState(notBusy)).toBeUndefined();
  });
});
