/**
 * The drone's configuration in the shape the code uses: the keys (each with its declaration,
 * schema and copied field) are in config-keys.mts, re-exported here; this file composes the
 * nested parts of {@link DroneConfig} and checks what no single key can. Every problem is
 * reported at once, with its key.
 */
import { homedir, hostname } from "node:os";
import { isAbsolute, join } from "node:path";

import { type z } from "zod";

import { Secret } from "../../libs/borg/index.mjs";
import { ConfigError } from "../../libs/config/index.mjs";
import { type droneConfigSchema, droneKeys } from "./config-keys.mjs";
import { namedDumps } from "./core/dumps/config.mjs";
import { type GuardSettings } from "./core/guard.mjs";

export * from "./config-keys.mjs";

/** A drone id from a hostname: lowercase, other characters folded to `-`. */
export function defaultDroneId(name = hostname()): string {
  const id = name
    .toLowerCase()
    .split(".")[0]!
    .replace(/[^a-z0-9_-]+/g, "-")
    .replace(/^[-_]+/, "")
    .slice(0, 63);
  return id.length > 0 ? id : "drone";
}

/** Where the drone keeps its state by default (a relative XDG_STATE_HOME is ignored, as the XDG spec says). */
export function defaultStateDir(): string {
  const xdg = process.env.XDG_STATE_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(homedir(), ".local", "state");
  return join(base, "backup-drone");
}

/** The configuration values as the schema returns them (before they are mapped to {@link DroneConfig}). */
export type DroneConfigValues = z.output<typeof droneConfigSchema>;

/** Where a passphrase comes from, as the borg client takes it. */
export type PassphraseSetting =
  | { kind: "passphrase"; value: Secret }
  | { kind: "file"; path: string }
  | { kind: "command"; command: string };

/** Retention rules. */
export interface KeepSettings {
  within?: string;
  daily: number;
  weekly: number;
  monthly: number;
  yearly: number;
}

/** A hook and what to do when it fails. */
export interface HookSetting {
  command: string;
  policy: DroneConfigValues["HOOK_BEFORE_POLICY"];
}

export { ConfigError };

/** Where a passphrase comes from: the one of PASSPHRASE, PASSPHRASE_FILE, PASSCOMMAND that is set (with a prefix). */
function passphraseOf(values: { passphrase: string; file?: string; command?: string }): PassphraseSetting | undefined {
  if (values.passphrase.length > 0) return { kind: "passphrase", value: new Secret(values.passphrase) };
  if (values.file) return { kind: "file", path: values.file };
  if (values.command) return { kind: "command", command: values.command };
  return undefined;
}

/** The primary's or the offsite's passphrase keys, as {@link passphraseOf} reads them. */
const passphraseKeys = (v: DroneConfigValues, prefix: "" | "OFFSITE_") =>
  prefix === ""
    ? { passphrase: v.PASSPHRASE, file: v.PASSPHRASE_FILE, command: v.PASSCOMMAND }
    : { passphrase: v.OFFSITE_PASSPHRASE, file: v.OFFSITE_PASSPHRASE_FILE, command: v.OFFSITE_PASSCOMMAND };

/** The keep rules of the primary or of the offsite repository. */
const keepOf = (v: DroneConfigValues, prefix: "" | "OFFSITE_"): KeepSettings =>
  prefix === ""
    ? { within: v.KEEP_WITHIN, daily: v.KEEP_DAILY, weekly: v.KEEP_WEEKLY, monthly: v.KEEP_MONTHLY, yearly: v.KEEP_YEARLY }
    : {
        within: v.OFFSITE_KEEP_WITHIN,
        daily: v.OFFSITE_KEEP_DAILY,
        weekly: v.OFFSITE_KEEP_WEEKLY,
        monthly: v.OFFSITE_KEEP_MONTHLY,
        yearly: v.OFFSITE_KEEP_YEARLY,
      };

/** True when at least one rule keeps archives. */
export const hasKeepRule = (keep: KeepSettings) =>
  keep.within !== undefined || keep.daily + keep.weekly + keep.monthly + keep.yearly > 0;

/** What no single key's schema can see: keys that exclude each other, keep rules that keep nothing. */
function crossCheck(v: DroneConfigValues): string[] {
  const problems: string[] = [];
  for (const prefix of ["", "OFFSITE_"] as const) {
    const values = passphraseKeys(v, prefix);
    const given = [
      values.passphrase.length > 0 ? `${prefix}PASSPHRASE` : undefined,
      values.file ? `${prefix}PASSPHRASE_FILE` : undefined,
      values.command ? `${prefix}PASSCOMMAND` : undefined,
    ].filter(key => key !== undefined);
    if (given.length > 1) problems.push(`drone.${given.join(", drone.")}: set only one of these`);
  }
  if (v.SOURCES.length === 0 && Object.keys(v.DUMPS).length === 0) {
    problems.push("drone.SOURCES: needs at least one folder, or drone.DUMPS at least one dump (a drone that backs up databases only)");
  }
  if (!hasKeepRule(keepOf(v, ""))) problems.push("drone.KEEP_*: at least one keep rule must keep archives (all are 0 and KEEP_WITHIN is empty)");
  if (v.OFFSITE_REPOSITORY && !hasKeepRule(keepOf(v, "OFFSITE_"))) problems.push("drone.OFFSITE_KEEP_*: at least one offsite keep rule must keep archives");
  if (v.OFFSITE_REPOSITORY && v.OFFSITE_REPOSITORY === v.REPOSITORY) {
    problems.push("drone.OFFSITE_REPOSITORY: must differ from drone.REPOSITORY");
  }
  return problems;
}

/** The drone's configuration in the shape the code uses, from values the schema and {@link crossCheck} accepted. */
function droneConfigOf(v: DroneConfigValues) {
  const passphrase = passphraseOf(passphraseKeys(v, ""));
  const hook = (command: string | undefined, policy: HookSetting["policy"]): HookSetting | undefined => (command ? { command, policy } : undefined);
  const guard: GuardSettings = {
    enabled: v.PRUNE_GUARD,
    shrinkPercent: v.GUARD_SHRINK_PERCENT,
    changePercent: v.GUARD_CHANGE_PERCENT,
    changeMinBytes: Math.round(v.GUARD_CHANGE_MIN_MB * 1024 * 1024),
  };
  return {
    ...droneKeys.copiedFields(v),
    droneId: v.DRONE_ID ?? defaultDroneId(),
    passphrase,
    keep: keepOf(v, ""),
    offsite: v.OFFSITE_REPOSITORY
      ? {
          repository: v.OFFSITE_REPOSITORY,
          /** OFFSITE_REPOSITORY_HOST when set. */
          host: v.OFFSITE_REPOSITORY_HOST,
          passphrase: passphraseOf(passphraseKeys(v, "OFFSITE_")) ?? passphrase,
          frequencyMinutes: v.OFFSITE_FREQUENCY_MINUTES,
          keep: keepOf(v, "OFFSITE_"),
          uploadRateLimitKiB: v.OFFSITE_UPLOAD_RATELIMIT_KIB,
        }
      : undefined,
    hooks: {
      before: hook(v.HOOK_BEFORE, v.HOOK_BEFORE_POLICY),
      after: hook(v.HOOK_AFTER, v.HOOK_AFTER_POLICY),
      onError: hook(v.HOOK_ON_ERROR, v.HOOK_ON_ERROR_POLICY),
      timeoutSeconds: v.HOOK_TIMEOUT_SECONDS,
      /** Variables a hook inherits although they look secret (HOOK_ENV_PASSTHROUGH). */
      envPassthrough: v.HOOK_ENV_PASSTHROUGH,
    },
    ionice: v.IONICE_CLASS === "none" ? undefined : { class: v.IONICE_CLASS, level: v.IONICE_LEVEL },
    stateDir: v.STATE_DIR ?? defaultStateDir(),
    /** Integrity checks: their schedule (days; 0 = never) and the checks after each backup. */
    checks: {
      frequencyDays: v.CHECK_FREQUENCY_DAYS,
      verifyDataFrequencyDays: v.VERIFY_DATA_FREQUENCY_DAYS,
      verifyAfterBackup: v.VERIFY_AFTER_BACKUP,
      spotCheckAfterBackup: v.SPOT_CHECK_AFTER_BACKUP,
    },
    /** The prune guard (see core/guard.mts). */
    guard,
    /** The dumps streamed into each archive (DUMPS), in the order they were written. */
    dumps: namedDumps(v.DUMPS),
  };
}

/**
 * Why a command that opens the repository cannot run: no passphrase is configured for an
 * encrypted repository. Checked with the configuration, so the person reads the keys to set
 * instead of borg's prompt failure; undefined when a passphrase is set or ENCRYPTION=none.
 */
export function passphraseProblem(config: DroneConfig): string | undefined {
  if (config.passphrase !== undefined || config.encryption === "none") return undefined;
  return `drone.PASSPHRASE_FILE, drone.PASSCOMMAND, drone.PASSPHRASE: none is set, and the repository is encrypted (ENCRYPTION=${config.encryption}): set one (PASSPHRASE_FILE, a file of mode 0600, keeps it out of the environment), or ENCRYPTION=none for an unencrypted repository`;
}

/** The validated drone configuration: its type is what the schema's values map to. */
export type DroneConfig = ReturnType<typeof droneConfigOf>;

/**
 * Validate loaded values. Throws a {@link ConfigError} listing every problem, each with its
 * key (`drone.KEEP_DAILY: …`); never echoes a secret's value.
 */
export function parseDroneConfig(values: Record<string, unknown>): DroneConfig {
  const parsed = droneKeys.parse(values);
  const problems = crossCheck(parsed);
  if (problems.length > 0) throw new ConfigError(problems);
  return droneConfigOf(parsed);
}
