/**
 * The coordinator's configuration: one table whose entries each carry a key's DA declaration,
 * schema and config field; the declarations, the schema, the defaults and the config type are
 * derived from it (libs/config/keys.mts). Every problem is reported at once with its key.
 */
import { z } from "zod";

import { ConfigError, configKeys, defineKeys } from "../../libs/config/index.mjs";
import { DRONE_ID_PATTERN } from "../../libs/protocol/index.mjs";
import { type FleetSettings } from "./core/fleet.mjs";

/** `HH:MM-HH:MM`, 24-hour clock. */
const WINDOW_PATTERN = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$/;

/** A backup window as minutes after local midnight. */
export interface BackupWindow {
  startMinute: number;
  endMinute: number;
}

/** Parse `HH:MM-HH:MM` (or empty: no window). Returns undefined for no window, null when invalid. */
export function parseWindow(text: string): BackupWindow | undefined | null {
  const trimmed = text.trim();
  if (trimmed.length === 0) return undefined;
  const match = WINDOW_PATTERN.exec(trimmed);
  if (!match) return null;
  const [, startHour, startMinute, endHour, endMinute] = match.map(Number) as [number, number, number, number, number];
  const window = { startMinute: startHour * 60 + startMinute, endMinute: endHour * 60 + endMinute };
  return window.startMinute === window.endMinute ? null : window;
}

/** The DA application name: config files are /etc/backup_coordinator_app, ./.backup_coordinator_app, ~/.config/backup_coordinator_app. */
export const COORDINATOR_APP_NAME = "backup_coordinator_app";

const int = (min: number, max: number) => z.number().int().min(min).max(max);

/**
 * Every configuration key of the coordinator (DA module `backup_coordinator`): its DA
 * declaration, its schema and the config field it is copied to. Set in the config file's
 * `[backup_coordinator]` section, as env `BACKUP_COORDINATOR_<KEY>` (the command reads no
 * unprefixed variable, see libs/config/sources.mts), or as `--<KEY>=` on the command line.
 */
export const COORDINATOR_KEYS = defineKeys({
  PER_HOST_LIMIT: {
    type: "number",
    default: 1,
    description: "Backups at once per repository host (1–10). Only the first value: afterwards the Concurrency Limit entity holds it.",
    schema: int(1, 10),
  },
  GLOBAL_LIMIT: { type: "number", default: 4, description: "Backups at once in the whole home, whatever their hosts (1–100).", schema: int(1, 100) },
  OFFSITE_LIMIT: { type: "number", default: 1, description: "Offsite uploads at once in the whole home (0 = the coordinator starts none).", schema: int(0, 10) },
  BACKUP_WINDOW: {
    type: "string",
    default: "",
    description: "Local time window in which new runs may start, `HH:MM-HH:MM` (may wrap midnight, e.g. `22:00-06:00`); empty for any time.",
    schema: z.string().refine(value => parseWindow(value) !== null, {
      message: "must be empty or HH:MM-HH:MM (24-hour clock, start and end different), e.g. 22:00-06:00",
    }),
  },
  OFFLINE_AFTER_SECONDS: {
    type: "number",
    default: 180,
    description: "A drone with no event for this long is offline (keep it above 2× the drones' STATUS_INTERVAL_SECONDS).",
    schema: int(10, 86_400),
    field: "offlineAfterSeconds",
  },
  START_TIMEOUT_SECONDS: {
    type: "number",
    default: 60,
    description: "A pressed drone that has not started within this long did not start.",
    schema: int(5, 3_600),
    field: "startTimeoutSeconds",
  },
  STALL_MINUTES: { type: "number", default: 15, description: "A run with no progress for this long has stalled.", schema: int(1, 1_440), field: "stallMinutes" },
  OVERDUE_FACTOR: {
    type: "number",
    default: 2,
    description: "A drone with no successful backup for this many times its Backup Frequency is overdue.",
    schema: z.number().min(1).max(100),
    field: "overdueFactor",
  },
  RETRY_ATTEMPTS: {
    type: "number",
    default: 3,
    description: "Failed attempts in a row before a drone waits for its next due time.",
    schema: int(1, 100),
    field: "retryAttempts",
  },
  RETRY_BASE_MINUTES: {
    type: "number",
    default: 5,
    description: "Wait before the first retry after a failure; doubled after each further failure.",
    schema: z.number().positive().max(1_440),
    field: "retryBaseMinutes",
  },
  TICK_SECONDS: {
    type: "number",
    default: 30,
    description: "How often the coordinator looks at the fleet on its own (it also looks at once after every drone event).",
    schema: int(1, 86_400),
    field: "tickSeconds",
  },
  NOTIFY: {
    type: "boolean",
    default: false,
    description: "Show a Home Assistant persistent notification when a drone has a problem and when it recovers.",
    schema: z.boolean(),
    field: "notify",
  },
  COORDINATOR_ID: {
    type: "string",
    default: "backup_coordinator",
    description: "Id of this coordinator: its entity ids and unique ids derive from it, and its events carry it.",
    schema: z.string().trim().regex(DRONE_ID_PATTERN, {
      message: "must be lowercase letters, digits, _ or -, starting with a letter or digit (at most 63)",
    }),
    field: "coordinatorId",
  },
  CALL_TIMEOUT_SECONDS: {
    type: "number",
    default: 10,
    description: "A Home Assistant call (button press, event, notification) not answered within this long has failed.",
    schema: z.number().positive().max(300),
  },
});

/** A key of the coordinator's configuration. */
export type CoordinatorConfigKey = keyof typeof COORDINATOR_KEYS;

const keys = configKeys("backup_coordinator", COORDINATOR_KEYS);

/** The DA declaration of every key (defaults widened: `""` is a string, not the literal). */
export const coordinatorDeclarations = keys.declarations;

/** Every configuration key as Digital Alchemy declares it (type, default, description). */
export const COORDINATOR_CONFIGURATION = coordinatorDeclarations();

/** The zod schema of the loaded configuration values (SCREAMING_SNAKE keys, as DA holds them). */
export const coordinatorConfigSchema = keys.schema;

/** The defaults of every key, as DA would load them with nothing configured. */
export const defaultCoordinatorValues = keys.defaults;

export { ConfigError };

/** The coordinator's configuration in the shape the code uses, from values the schema accepted. */
function coordinatorConfigOf(v: z.output<typeof coordinatorConfigSchema>) {
  const window = parseWindow(v.BACKUP_WINDOW) ?? undefined;
  return {
    ...keys.copiedFields(v),
    /** The coordinator id as it appears in object ids (`-` → `_`). */
    objectId: v.COORDINATOR_ID.replaceAll("-", "_"),
    limits: { perHost: v.PER_HOST_LIMIT, global: v.GLOBAL_LIMIT, offsite: v.OFFSITE_LIMIT } satisfies FleetSettings["limits"],
    ...(window ? { window } : {}),
    /** The configured window as written (empty for none). */
    windowText: v.BACKUP_WINDOW.trim(),
    callTimeoutMs: Math.round(v.CALL_TIMEOUT_SECONDS * 1000),
  };
}

/** The validated coordinator configuration: its type is what the schema's values map to. */
export type CoordinatorConfig = ReturnType<typeof coordinatorConfigOf>;

/**
 * Validate loaded values. Throws a {@link ConfigError} listing every problem,
 * each with its key (`backup_coordinator.TICK_SECONDS: …`).
 */
export function parseCoordinatorConfig(values: Record<string, unknown>): CoordinatorConfig {
  return coordinatorConfigOf(keys.parse(values));
}

/** The fleet model's settings from the validated configuration. */
export function fleetSettings(config: CoordinatorConfig): FleetSettings {
  return {
    limits: { ...config.limits },
    offlineAfterMs: config.offlineAfterSeconds * 1000,
    startTimeoutMs: config.startTimeoutSeconds * 1000,
    stallMs: config.stallMinutes * 60_000,
    overdueFactor: config.overdueFactor,
    retryAttempts: config.retryAttempts,
    retryBaseMs: config.retryBaseMinutes * 60_000,
    ...(config.window ? { window: { ...config.window } } : {}),
  };
}
