/**
 * What each drone entity looks like in Home Assistant: icon, device class, unit, category,
 * limits, and what it is bound to (the operation a button starts, the setting a number,
 * select or text changes). Pure data; the Home Assistant service builds entities from it.
 * The category is the intent: synapse 25.10.19-beta.5 cannot apply it, so it is not sent
 * (see `UNSENT_FIELDS` in libs/ha/entities.mts).
 */
import { KEEP_WITHIN_SYNTAX } from "../../../libs/borg/index.mjs";
import {
  APPLICATION_STATES,
  DRONE_ENTITIES,
  type DroneEntityKey,
  MAX_STATE_LENGTH,
  MODES,
  type Operation,
  OUTCOMES,
} from "../../../libs/protocol/index.mjs";
import { type ButtonFields, type NumberFields, type SelectFields, type SensorFields, type TextFields } from "../../../libs/ha/entities.mjs";
import { SETTING_RANGES } from "../config.mjs";
import { type Settings } from "../core/settings.mjs";

/** Settings a number entity changes. */
export type NumberSetting =
  | "frequencyMinutes"
  | "offsiteFrequencyMinutes"
  | "priority"
  | "keepDaily"
  | "keepWeekly"
  | "keepMonthly"
  | "keepYearly";

/** What a button does that is not an operation: release a prune held by the guard, cancel what runs. */
export const BUTTON_ACTIONS = ["release_prune_hold", "cancel"] as const;

/** A button: starts one operation, or does one of the {@link BUTTON_ACTIONS}. */
export interface ButtonSpec extends ButtonFields {
  operation: Operation | (typeof BUTTON_ACTIONS)[number];
}

/** A read-only sensor. */
export interface SensorSpec extends SensorFields {
  device_class?: "enum" | "timestamp" | "data_size" | "duration";
  unit_of_measurement?: "B" | "s" | "%";
  state_class?: "measurement";
  entity_category?: "diagnostic";
}

/** A number bound to a setting (category config: meant for the device's configuration). */
export interface NumberSpec extends NumberFields {
  setting: NumberSetting;
  unit_of_measurement?: "min";
  device_class?: "duration";
  entity_category: "config";
}

/** A select bound to a setting: fixed options, or this drone's recent archives. */
export interface SelectSpec extends Omit<SelectFields, "options"> {
  setting: "mode" | "restoreArchive";
  /** The choices; `archives`: `latest` and this drone's newest archives, kept up to date. */
  options: readonly string[] | "archives";
  entity_category?: "config";
}

/** A text bound to a setting; HA validates the value against `pattern` before sending it (the drone validates again). */
export interface TextSpec extends TextFields {
  setting: "keepWithin" | "restoreTarget";
  entity_category?: "config";
}

/** The spec of one entity. */
export type EntitySpec = ButtonSpec | SensorSpec | NumberSpec | SelectSpec | TextSpec;

type SpecOf<D> = D extends "button"
  ? ButtonSpec
  : D extends "sensor"
    ? SensorSpec
    : D extends "number"
      ? NumberSpec
      : D extends "select"
        ? SelectSpec
        : D extends "text"
          ? TextSpec
          : never;

/** The states of the Prune Hold sensor. */
export const PRUNE_HOLD_STATES = ["clear", "held"] as const;

/** The state of Last Result before any operation ended. */
export const UNKNOWN_RESULT = "unknown";

const size = (icon: string): SensorSpec => ({
  domain: "sensor",
  icon,
  device_class: "data_size",
  unit_of_measurement: "B",
  state_class: "measurement",
  entity_category: "diagnostic",
  suggested_display_precision: 0,
});

const timestamp = (icon: string): SensorSpec => ({ domain: "sensor", icon, device_class: "timestamp" });

const minutes = (icon: string, setting: NumberSetting): NumberSpec => ({
  domain: "number",
  icon,
  setting,
  native_min_value: SETTING_RANGES.minutes.min,
  native_max_value: SETTING_RANGES.minutes.max,
  step: 1,
  mode: "box",
  unit_of_measurement: "min",
  device_class: "duration",
  entity_category: "config",
});

const keep = (icon: string, setting: NumberSetting): NumberSpec => ({
  domain: "number",
  icon,
  setting,
  native_min_value: SETTING_RANGES.keep.min,
  native_max_value: SETTING_RANGES.keep.max,
  step: 1,
  mode: "box",
  entity_category: "config",
});

/** Every drone entity's Home Assistant metadata, by key; the domain always matches DRONE_ENTITIES. */
export const ENTITY_SPECS: { [K in DroneEntityKey]: SpecOf<(typeof DRONE_ENTITIES)[K]["domain"]> } = {
  create_backup: { domain: "button", icon: "mdi:archive-arrow-up-outline", operation: "create" },
  prune_backups: { domain: "button", icon: "mdi:delete-sweep-outline", operation: "prune" },
  update_stats: { domain: "button", icon: "mdi:refresh", operation: "stats" },
  scheduled_backup: { domain: "button", icon: "mdi:calendar-sync-outline", operation: "scheduled" },
  check_repository: { domain: "button", icon: "mdi:shield-search", operation: "check" },
  restore: { domain: "button", icon: "mdi:restore", operation: "restore" },
  offsite_backup: { domain: "button", icon: "mdi:cloud-upload-outline", operation: "offsite" },
  release_prune_hold: { domain: "button", icon: "mdi:lock-open-check-outline", operation: "release_prune_hold" },
  cancel: { domain: "button", icon: "mdi:cancel", operation: "cancel" },
  application_state: { domain: "sensor", icon: "mdi:state-machine", device_class: "enum", options: APPLICATION_STATES },
  application_mode: {
    domain: "select",
    icon: "mdi:tune-variant",
    setting: "mode",
    options: MODES,
    entity_category: "config",
  },
  restore_archive: { domain: "select", icon: "mdi:archive-search-outline", setting: "restoreArchive", options: "archives" },
  restore_target: {
    domain: "text",
    icon: "mdi:folder-download-outline",
    setting: "restoreTarget",
    // an absolute path, or empty (unset); the drone checks it again
    pattern: "^(/.*)?$",
    native_min: 0,
    native_max: MAX_STATE_LENGTH,
  },
  backup_frequency: minutes("mdi:calendar-clock", "frequencyMinutes"),
  offsite_frequency: minutes("mdi:cloud-clock-outline", "offsiteFrequencyMinutes"),
  priority: {
    domain: "number",
    icon: "mdi:sort-numeric-descending",
    setting: "priority",
    native_min_value: SETTING_RANGES.priority.min,
    native_max_value: SETTING_RANGES.priority.max,
    step: 1,
    mode: "box",
    entity_category: "config",
  },
  keep_daily: keep("mdi:calendar-today", "keepDaily"),
  keep_weekly: keep("mdi:calendar-week", "keepWeekly"),
  keep_monthly: keep("mdi:calendar-month", "keepMonthly"),
  keep_yearly: keep("mdi:calendar-blank-multiple", "keepYearly"),
  keep_within: {
    domain: "text",
    icon: "mdi:calendar-range",
    setting: "keepWithin",
    pattern: `^(${KEEP_WITHIN_SYNTAX})?$`,
    native_min: 0,
    native_max: 12,
    entity_category: "config",
  },
  last_backup: timestamp("mdi:backup-restore"),
  next_backup: timestamp("mdi:calendar-arrow-right"),
  last_prune: timestamp("mdi:delete-clock-outline"),
  last_check: timestamp("mdi:shield-check-outline"),
  last_check_result: {
    domain: "sensor",
    icon: "mdi:shield-alert-outline",
    device_class: "enum",
    options: ["success", "failed", UNKNOWN_RESULT],
  },
  last_offsite_backup: timestamp("mdi:cloud-check-outline"),
  last_result: {
    domain: "sensor",
    icon: "mdi:clipboard-check-outline",
    device_class: "enum",
    options: [...OUTCOMES, UNKNOWN_RESULT],
  },
  last_error: { domain: "sensor", icon: "mdi:alert-circle-outline", entity_category: "diagnostic" },
  prune_hold: { domain: "sensor", icon: "mdi:shield-lock-outline", device_class: "enum", options: PRUNE_HOLD_STATES },
  last_duration: {
    domain: "sensor",
    icon: "mdi:timer-outline",
    device_class: "duration",
    unit_of_measurement: "s",
    // HA keeps long-term statistics of it: how long runs take, over months
    state_class: "measurement",
    entity_category: "diagnostic",
    suggested_display_precision: 0,
  },
  last_added: {
    domain: "sensor",
    icon: "mdi:database-plus-outline",
    device_class: "data_size",
    unit_of_measurement: "B",
    state_class: "measurement",
    suggested_display_precision: 0,
  },
  progress: {
    domain: "sensor",
    icon: "mdi:progress-upload",
    unit_of_measurement: "%",
    // no state_class: long-term statistics of a run's percentage mean nothing, and cost a row every 5 minutes
    suggested_display_precision: 0,
  },
  eta: {
    domain: "sensor",
    icon: "mdi:timer-sand",
    device_class: "duration",
    unit_of_measurement: "s",
    suggested_display_precision: 0,
  },
  archive_count: {
    domain: "sensor",
    icon: "mdi:archive-outline",
    state_class: "measurement",
    entity_category: "diagnostic",
  },
  archive_total_size: size("mdi:harddisk"),
  archive_compressed_size: size("mdi:zip-box-outline"),
  archive_deduplicated_size: size("mdi:database-outline"),
  offsite_size: size("mdi:cloud-outline"),
};

/** The entity keys a drone has: the offsite ones only with an offsite repository. */
export function droneEntityKeys(hasOffsite: boolean): DroneEntityKey[] {
  return (Object.keys(DRONE_ENTITIES) as DroneEntityKey[]).filter(
    key => hasOffsite || !("offsite" in DRONE_ENTITIES[key] && DRONE_ENTITIES[key].offsite),
  );
}

/** `latest` and this drone's recent archives (the current choice kept at the end when it is older). */
export function archiveOptions(recent: readonly string[], current: string): string[] {
  const options = ["latest", ...recent];
  return options.includes(current) ? options : [...options, current];
}

/** The setting a number, select or text entity shows, as the entity's value. */
export function settingValue(spec: NumberSpec | SelectSpec | TextSpec, settings: Settings): number | string {
  return settings[spec.setting];
}
