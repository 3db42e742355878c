/**
 * The coordinator's own Home Assistant entities: one table of what each looks like, and the
 * ids derived from the coordinator id (so that two coordinators never collide).
 */
import { type ButtonFields, type NumberFields, type SensorFields, type SwitchFields } from "../../../libs/ha/entities.mjs";

/** A sensor of the coordinator. */
export interface CoordinatorSensorSpec extends SensorFields {
  name: string;
  device_class?: "timestamp" | "data_size" | "duration";
  unit_of_measurement?: "B" | "s" | "%";
  state_class?: "measurement" | "total";
}

/** The pause switch. */
export interface CoordinatorSwitchSpec extends SwitchFields {
  name: string;
}

/** The run-now button. */
export interface CoordinatorButtonSpec extends ButtonFields {
  name: string;
}

/** The concurrency number. */
export interface CoordinatorNumberSpec extends NumberFields {
  name: string;
  mode: "box";
  entity_category: "config";
}

/** One of the coordinator's entities. */
export type CoordinatorEntitySpec = CoordinatorSensorSpec | CoordinatorSwitchSpec | CoordinatorButtonSpec | CoordinatorNumberSpec;

/** The smallest and largest per-host limit the Concurrency Limit entity accepts. */
export const CONCURRENCY_RANGE = { min: 1, max: 10 } as const;

/**
 * Every entity of the coordinator's device, by key. Only Failing Drones keeps long-term
 * statistics (`state_class`): those of a run's Progress, ETA, bytes or files mean nothing and
 * would cost Home Assistant a row per sensor every 5 minutes, run or not.
 */
export const COORDINATOR_ENTITIES = {
  running_now: { domain: "sensor", name: "Running Now", icon: "mdi:backup-restore" },
  progress: { domain: "sensor", name: "Progress", icon: "mdi:progress-upload", unit_of_measurement: "%", suggested_display_precision: 0 },
  eta: { domain: "sensor", name: "ETA", icon: "mdi:timer-sand", device_class: "duration", unit_of_measurement: "s", suggested_display_precision: 0 },
  bytes_processed: {
    domain: "sensor",
    name: "Bytes Processed",
    icon: "mdi:harddisk",
    device_class: "data_size",
    unit_of_measurement: "B",
    suggested_display_precision: 0,
  },
  files_processed: { domain: "sensor", name: "Files Processed", icon: "mdi:file-multiple-outline" },
  queue: { domain: "sensor", name: "Queue", icon: "mdi:format-list-numbered" },
  last_round_completed: { domain: "sensor", name: "Last Round Completed", icon: "mdi:calendar-check", device_class: "timestamp" },
  failing_drones: { domain: "sensor", name: "Failing Drones", icon: "mdi:alert-circle-outline", state_class: "measurement" },
  pause: { domain: "switch", name: "Pause", icon: "mdi:pause-circle-outline" },
  run_now: { domain: "button", name: "Run Now", icon: "mdi:play-circle-outline" },
  concurrency_limit: {
    domain: "number",
    name: "Concurrency Limit",
    icon: "mdi:format-list-group",
    native_min_value: CONCURRENCY_RANGE.min,
    native_max_value: CONCURRENCY_RANGE.max,
    step: 1,
    mode: "box",
    entity_category: "config",
  },
} as const satisfies Record<string, CoordinatorEntitySpec>;

/** A key of {@link COORDINATOR_ENTITIES}. */
export type CoordinatorEntityKey = keyof typeof COORDINATOR_ENTITIES;

/** The sensor keys. */
export type CoordinatorSensorKey = {
  [K in CoordinatorEntityKey]: (typeof COORDINATOR_ENTITIES)[K]["domain"] extends "sensor" ? K : never;
}[CoordinatorEntityKey];

/** `-` is not allowed in an object id. */
export const objectIdOf = (id: string) => id.replaceAll("-", "_");

/** The device identifier of the coordinator. */
export const coordinatorDeviceId = (coordinatorId: string) => `${coordinatorId}_device`;

/** The unique id of a coordinator entity. */
export const coordinatorUniqueId = (coordinatorId: string, key: CoordinatorEntityKey) => `${coordinatorId}_${key}`;

/** The object id of a coordinator entity (`sensor.<object id>`). */
export const coordinatorObjectId = (coordinatorId: string, key: CoordinatorEntityKey) => `${objectIdOf(coordinatorId)}_${key}`;

/** The unique id of a drone's problem sensor on the coordinator's device. */
export const problemUniqueId = (coordinatorId: string, droneId: string) => `${coordinatorId}_${droneId}_backup_problem`;

/** The object id of a drone's problem sensor: `binary_sensor.<drone>_backup_problem`. */
export const problemObjectId = (droneId: string) => `${objectIdOf(droneId)}_backup_problem`;
