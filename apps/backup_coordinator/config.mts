/**
 * The coordinator's configuration: one table (what can be set, with defaults and
 * descriptions, from which the DA declarations are made) and the one zod schema that
 * validates the loaded values. Every problem is reported at once with its key.
 */
import { z } from "zod";

import { ConfigError, numbersFromText } from "../../libs/config/index.mjs";
import { DRONE_ID_PATTERN } from "../../libs/protocol/index.mjs";
import { type FleetSettings } from "./core/fleet.mjs";

type ConfigEntry =
  | { type: "string"; default: string; description: string }
  | { type: "number"; default: number; description: string }
  | { type: "boolean"; default: boolean; description: string };

/**
 * Every configuration key of the coordinator (DA module `backup_coordinator`). Set in the
 * config file's `[backup_coordinator]` section, as env `BACKUP_COORDINATOR_<KEY>` or
 * `<KEY>`, or as `--<KEY>=` on the command line.
 */
export const COORDINATOR_CONFIGURATION = {
  PER_HOST_LIMIT: {
    type: "number",
    default: 1,
    description: "Backups at once per repository host (1–10). Only the first value: afterwards the Concurrency Limit entity holds it.",
  },
  GLOBAL_LIMIT: { type: "number", default: 4, description: "Backups at once in the whole home, whatever their hosts (1–100)." },
  OFFSITE_LIMIT: { type: "number", default: 1, description: "Offsite uploads at once in the whole home (0 = the coordinator starts none)." },
  BACKUP_WINDOW: {
    type: "string",
    default: "",
    description: "Local time window in which new runs may start, `HH:MM-HH:MM` (may wrap midnight, e.g. `22:00-06:00`); empty for any time.",
  },
  OFFLINE_AFTER_SECONDS: {
    type: "number",
    default: 180,
    description: "A drone with no event for this long is offline (keep it above 2× the drones' STATUS_INTERVAL_SECONDS).",
  },
  START_TIMEOUT_SECONDS: { type: "number", default: 60, description: "A pressed drone that has not started within this long did not start." },
  STALL_MINUTES: { type: "number", default: 15, description: "A run with no progress for this long has stalled." },
  OVERDUE_FACTOR: { type: "number", default: 2, description: "A drone with no successful backup for this many times its Backup Frequency is overdue." },
  RETRY_ATTEMPTS: { type: "number", default: 3, description: "Failed attempts in a row before a drone waits for its next due time." },
  RETRY_BASE_MINUTES: { type: "number", default: 5, description: "Wait before the first retry after a failure; doubled after each further failure." },
  TICK_SECONDS: {
    type: "number",
    default: 30,
    description: "How often the coordinator looks at the fleet on its own (it also looks at once after every drone event).",
  },
  NOTIFY: { type: "boolean", default: false, description: "Show a Home Assistant persistent notification when a drone has a problem and when it recovers." },
  COORDINATOR_ID: {
    type: "string",
    default: "backup_coordinator",
    description: "Id of this coordinator: its entity ids and unique ids derive from it, and its events carry it.",
  },
  CALL_TIMEOUT_SECONDS: { type: "number", default: 10, description: "A Home Assistant call (button press, event, notification) not answered within this long has failed." },
} as const satisfies Record<string, ConfigEntry>;

/** A key of the coordinator's configuration. */
export type CoordinatorConfigKey = keyof typeof COORDINATOR_CONFIGURATION;

type Declaration<E extends ConfigEntry> = E["type"] extends "number"
  ? { type: "number"; default: number; description: string }
  : E["type"] extends "boolean"
    ? { type: "boolean"; default: boolean; description: string }
    : { type: "string"; default: string; description: string };

/** The DA declaration of every key (defaults widened: `""` is a string, not the literal). */
export function coordinatorDeclarations(): { [K in CoordinatorConfigKey]: Declaration<(typeof COORDINATOR_CONFIGURATION)[K]> } {
  return Object.fromEntries(
    Object.entries(COORDINATOR_CONFIGURATION).map(([key, { type, default: value, description }]) => [key, { type, default: value, description }]),
  ) as { [K in CoordinatorConfigKey]: Declaration<(typeof COORDINATOR_CONFIGURATION)[K]> };
}

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

const int = (min: number, max: number) => z.number().int().min(min).max(max);

/** The zod schema of the loaded configuration values (SCREAMING_SNAKE keys, as DA holds them). */
export const coordinatorConfigSchema = z.object({
  PER_HOST_LIMIT: int(1, 10),
  GLOBAL_LIMIT: int(1, 100),
  OFFSITE_LIMIT: int(0, 10),
  BACKUP_WINDOW: z.string().refine(value => parseWindow(value) !== null, {
    message: "must be empty or HH:MM-HH:MM (24-hour clock, start and end different), e.g. 22:00-06:00",
  }),
  OFFLINE_AFTER_SECONDS: int(10, 86_400),
  START_TIMEOUT_SECONDS: int(5, 3_600),
  STALL_MINUTES: int(1, 1_440),
  OVERDUE_FACTOR: z.number().min(1).max(100),
  RETRY_ATTEMPTS: int(1, 100),
  RETRY_BASE_MINUTES: z.number().positive().max(1_440),
  TICK_SECONDS: int(1, 86_400),
  NOTIFY: z.boolean(),
  COORDINATOR_ID: z.string().trim().regex(DRONE_ID_PATTERN, {
    message: "must be lowercase letters, digits, _ or -, starting with a letter or digit (at most 63)",
  }),
  CALL_TIMEOUT_SECONDS: z.number().positive().max(300),
});

/** The validated coordinator configuration. */
export interface CoordinatorConfig {
  coordinatorId: string;
  /** The coordinator id as it appears in object ids (`-` → `_`). */
  objectId: string;
  limits: FleetSettings["limits"];
  window?: BackupWindow;
  /** The configured window as written (empty for none). */
  windowText: string;
  offlineAfterSeconds: number;
  startTimeoutSeconds: number;
  stallMinutes: number;
  overdueFactor: number;
  retryAttempts: number;
  retryBaseMinutes: number;
  tickSeconds: number;
  notify: boolean;
  callTimeoutMs: number;
}

export { ConfigError };

/** A value as a person wrote it (JSON turns NaN into null and drops undefined). */
const shown = (value: unknown) =>
  value === undefined ? "nothing" : typeof value === "number" && !Number.isFinite(value) ? String(value) : JSON.stringify(value);

/**
 * Validate loaded values. Throws a {@link ConfigError} listing every problem,
 * each with its key (`backup_coordinator.TICK_SECONDS: …`).
 */
export function parseCoordinatorConfig(values: Record<string, unknown>): CoordinatorConfig {
  const parsed = coordinatorConfigSchema.safeParse(numbersFromText(values, COORDINATOR_CONFIGURATION));
  if (!parsed.success) {
    const problems = parsed.error.issues.map(issue => {
      const key = issue.path.map(String).join(".");
      return `backup_coordinator.${key}: ${issue.message} (got ${shown(values[key])})`;
    });
    throw new ConfigError(problems);
  }
  const v = parsed.data;
  const window = parseWindow(v.BACKUP_WINDOW) ?? undefined;
  return {
    coordinatorId: v.COORDINATOR_ID,
    objectId: v.COORDINATOR_ID.replaceAll("-", "_"),
    limits: { perHost: v.PER_HOST_LIMIT, global: v.GLOBAL_LIMIT, offsite: v.OFFSITE_LIMIT },
    ...(window ? { window } : {}),
    windowText: v.BACKUP_WINDOW.trim(),
    offlineAfterSeconds: v.OFFLINE_AFTER_SECONDS,
    startTimeoutSeconds: v.START_TIMEOUT_SECONDS,
    stallMinutes: v.STALL_MINUTES,
    overdueFactor: v.OVERDUE_FACTOR,
    retryAttempts: v.RETRY_ATTEMPTS,
    retryBaseMinutes: v.RETRY_BASE_MINUTES,
    tickSeconds: v.TICK_SECONDS,
    notify: v.NOTIFY,
    callTimeoutMs: Math.round(v.CALL_TIMEOUT_SECONDS * 1000),
  };
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

/** The defaults of every key, as DA would load them with nothing configured. */
export function defaultCoordinatorValues(): Record<CoordinatorConfigKey, unknown> {
  return Object.fromEntries(Object.entries(COORDINATOR_CONFIGURATION).map(([key, entry]) => [key, entry.default])) as Record<
    CoordinatorConfigKey,
    unknown
  >;
}
