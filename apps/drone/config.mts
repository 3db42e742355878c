/**
 * The drone's configuration: the one zod schema that validates the loaded values (every
 * error reported at once, with its key), and the mapping whose result type is
 * {@link DroneConfig}. The keys themselves (type, default, description) are declared in
 * config-keys.mts, re-exported here.
 */
import { homedir, hostname } from "node:os";
import { isAbsolute, join } from "node:path";

import { z } from "zod";

import { KEEP_WITHIN_PATTERN, parseLocation, Secret, SSH_HOST_KEY_POLICIES } from "../../libs/borg/index.mjs";
import { ConfigError, numbersFromText } from "../../libs/config/index.mjs";
import { DRONE_ID_PATTERN, MODES } from "../../libs/protocol/index.mjs";
import { type ConfigEntry, DRONE_CONFIGURATION, type DroneConfigKey, HOOK_POLICIES, IONICE_CLASSES, SETTING_RANGES } from "./config-keys.mjs";
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


const text = z.string();
const optionalText = z.string().transform(value => (value.trim().length === 0 ? undefined : value.trim()));
/** A host name as the coordinator compares it: lowercase, no spaces. */
const hostText = optionalText
  .transform(value => value?.toLowerCase())
  .refine(value => value === undefined || /^[a-z0-9][a-z0-9._:-]{0,252}$/.test(value), {
    message: "must be a host name (letters, digits, `.`, `_`, `-` or `:`), e.g. nas",
  });
/** A repository location borg reads (see parseLocation); an empty one is left to the key's own rule. */
const checkLocation = (value: string | undefined, context: z.RefinementCtx) => {
  const reading = value ? parseLocation(value) : undefined;
  if (reading && !reading.ok) context.addIssue({ code: "custom", message: `is not a repository location borg reads: ${reading.reason}` });
};
const keepCount = z.number().int().min(SETTING_RANGES.keep.min).max(SETTING_RANGES.keep.max);
const keepWithin = optionalText.refine(value => value === undefined || KEEP_WITHIN_PATTERN.test(value), {
  message: "must be a number and a unit: H (hours), d, w, m or y, e.g. 14d",
});
const minutes = z.number().int().min(SETTING_RANGES.minutes.min).max(SETTING_RANGES.minutes.max);

/** The zod schema of the loaded configuration values (SCREAMING_SNAKE keys, as DA holds them). */
export const droneConfigSchema = z.object({
  DRONE_ID: optionalText.refine(value => value === undefined || DRONE_ID_PATTERN.test(value), {
    message: "must be lowercase letters, digits, _ or -, starting with a letter or digit",
  }),
  REPOSITORY: z.string().trim().min(1, { message: "is required: a local path or ssh://user@host/path" }).superRefine(checkLocation),
  PASSPHRASE: text,
  PASSPHRASE_FILE: optionalText,
  PASSCOMMAND: optionalText,
  PASSCOMMAND_TIMEOUT_SECONDS: z.number().int().min(1).max(3600),
  PASSPHRASE_TRANSPORT: z.enum(["fd", "env"]),
  ENCRYPTION: z.enum(["none", "authenticated", "authenticated-blake2", "repokey", "keyfile", "repokey-blake2", "keyfile-blake2"]),
  SOURCES: z
    .array(z.string().min(1))
    .min(1, { message: "needs at least one folder" })
    .superRefine((sources, context) => {
      const relative = sources.filter(source => !isAbsolute(source));
      if (relative.length > 0) {
        context.addIssue({
          code: "custom",
          message: `must be absolute paths, e.g. /home (a relative one would mean another folder for each place a command runs from): ${relative.join(", ")}`,
        });
      }
    }),
  EXCLUDES: z.array(z.string()),
  EXCLUDE_IF_PRESENT: z.array(z.string().min(1)),
  ONE_FILE_SYSTEM: z.boolean(),
  COMPRESSION: z.string().regex(/^(auto,|obfuscate,\d+,)?(none|lz4|zstd|zlib|lzma)(,\d+)?$/, {
    message: "must be a borg compression spec such as lz4, zstd,3 or auto,zstd,6",
  }),
  KEEP_WITHIN: keepWithin,
  KEEP_DAILY: keepCount,
  KEEP_WEEKLY: keepCount,
  KEEP_MONTHLY: keepCount,
  KEEP_YEARLY: keepCount,
  FREQUENCY_MINUTES: minutes,
  MODE: z.enum(MODES),
  PRIORITY: z.number().int().min(SETTING_RANGES.priority.min).max(SETTING_RANGES.priority.max),
  REPOSITORY_HOST: hostText,
  OFFSITE_REPOSITORY: optionalText.superRefine(checkLocation),
  OFFSITE_PASSPHRASE: text,
  OFFSITE_PASSPHRASE_FILE: optionalText,
  OFFSITE_PASSCOMMAND: optionalText,
  OFFSITE_FREQUENCY_MINUTES: minutes,
  OFFSITE_KEEP_WITHIN: keepWithin,
  OFFSITE_KEEP_DAILY: keepCount,
  OFFSITE_KEEP_WEEKLY: keepCount,
  OFFSITE_KEEP_MONTHLY: keepCount,
  OFFSITE_KEEP_YEARLY: keepCount,
  OFFSITE_REPOSITORY_HOST: hostText,
  OFFSITE_UPLOAD_RATELIMIT_KIB: z.number().int().min(0),
  HOOK_BEFORE: optionalText,
  HOOK_BEFORE_POLICY: z.enum(HOOK_POLICIES),
  HOOK_AFTER: optionalText,
  HOOK_AFTER_POLICY: z.enum(HOOK_POLICIES),
  HOOK_ON_ERROR: optionalText,
  HOOK_ON_ERROR_POLICY: z.enum(HOOK_POLICIES),
  HOOK_TIMEOUT_SECONDS: z.number().int().min(1).max(86_400),
  HOOK_ENV_PASSTHROUGH: z.array(
    z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: "must list environment variable names (letters, digits, _), e.g. PGPASSWORD" }),
  ),
  NICE: z.number().int().min(0).max(19),
  IONICE_CLASS: z.enum(IONICE_CLASSES),
  IONICE_LEVEL: z.number().int().min(0).max(7),
  UPLOAD_RATELIMIT_KIB: z.number().int().min(0),
  CHECKPOINT_INTERVAL_SECONDS: z.number().int().min(10),
  LOCK_WAIT_SECONDS: z.number().int().min(0).max(86_400),
  RUN_TIMEOUT_MINUTES: z.number().int().min(1),
  INACTIVITY_TIMEOUT_MINUTES: z.number().int().min(1),
  BORG_BINARY: z.string().min(1),
  BORG_RSH: optionalText,
  SSH_HOST_KEY_POLICY: z.enum(SSH_HOST_KEY_POLICIES, { message: "must be `known` or `accept-new`" }),
  BORG_REMOTE_PATH: optionalText,
  BORG_BASE_DIR: optionalText,
  ALLOW_RELOCATED_REPOSITORY: z.boolean(),
  ALLOW_UNKNOWN_UNENCRYPTED: z.boolean(),
  STATE_DIR: optionalText.refine(value => value === undefined || isAbsolute(value), {
    message:
      "must be an absolute path, e.g. /var/lib/backup-drone: with a relative one, a command run from another folder would not share the daemon's state and lock",
  }),
  PROGRESS_INTERVAL_MS: z.number().int().min(0),
  STATUS_INTERVAL_SECONDS: z.number().int().min(5),
  PRESCAN: z.boolean(),
  QUEUE_LIMIT: z.number().int().min(0).max(100),
  CHECK_FREQUENCY_DAYS: z.number().int().min(0).max(3650),
  VERIFY_DATA_FREQUENCY_DAYS: z.number().int().min(0).max(3650),
  VERIFY_AFTER_BACKUP: z.boolean(),
  SPOT_CHECK_AFTER_BACKUP: z.boolean(),
  PRUNE_GUARD: z.boolean(),
  GUARD_SHRINK_PERCENT: z.number().int().min(1).max(100),
  GUARD_CHANGE_PERCENT: z.number().int().min(1).max(100),
  GUARD_CHANGE_MIN_MB: z.number().min(0),
});

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
    droneId: v.DRONE_ID ?? defaultDroneId(),
    repository: v.REPOSITORY,
    passphrase,
    passphraseTransport: v.PASSPHRASE_TRANSPORT,
    /** How long a passcommand may run. */
    passcommandTimeoutSeconds: v.PASSCOMMAND_TIMEOUT_SECONDS,
    encryption: v.ENCRYPTION,
    sources: v.SOURCES,
    excludes: v.EXCLUDES,
    excludeIfPresent: v.EXCLUDE_IF_PRESENT,
    oneFileSystem: v.ONE_FILE_SYSTEM,
    compression: v.COMPRESSION,
    keep: keepOf(v, ""),
    frequencyMinutes: v.FREQUENCY_MINUTES,
    mode: v.MODE,
    priority: v.PRIORITY,
    /** REPOSITORY_HOST when set; otherwise the coordinator derives the host from the repository. */
    repositoryHost: v.REPOSITORY_HOST,
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
    nice: v.NICE,
    ionice: v.IONICE_CLASS === "none" ? undefined : { class: v.IONICE_CLASS, level: v.IONICE_LEVEL },
    uploadRateLimitKiB: v.UPLOAD_RATELIMIT_KIB,
    checkpointIntervalSeconds: v.CHECKPOINT_INTERVAL_SECONDS,
    lockWaitSeconds: v.LOCK_WAIT_SECONDS,
    runTimeoutMinutes: v.RUN_TIMEOUT_MINUTES,
    inactivityTimeoutMinutes: v.INACTIVITY_TIMEOUT_MINUTES,
    borgBinary: v.BORG_BINARY,
    rsh: v.BORG_RSH,
    sshHostKeyPolicy: v.SSH_HOST_KEY_POLICY,
    remotePath: v.BORG_REMOTE_PATH,
    borgBaseDir: v.BORG_BASE_DIR,
    allowRelocated: v.ALLOW_RELOCATED_REPOSITORY,
    allowUnknownUnencrypted: v.ALLOW_UNKNOWN_UNENCRYPTED,
    stateDir: v.STATE_DIR ?? defaultStateDir(),
    progressIntervalMs: v.PROGRESS_INTERVAL_MS,
    statusIntervalSeconds: v.STATUS_INTERVAL_SECONDS,
    prescan: v.PRESCAN,
    queueLimit: v.QUEUE_LIMIT,
    /** Integrity checks: their schedule (days; 0 = never) and the checks after each backup. */
    checks: {
      frequencyDays: v.CHECK_FREQUENCY_DAYS,
      verifyDataFrequencyDays: v.VERIFY_DATA_FREQUENCY_DAYS,
      verifyAfterBackup: v.VERIFY_AFTER_BACKUP,
      spotCheckAfterBackup: v.SPOT_CHECK_AFTER_BACKUP,
    },
    /** The prune guard (see core/guard.mts). */
    guard,
  };
}

/** The validated drone configuration: its type is what the schema's values map to. */
export type DroneConfig = ReturnType<typeof droneConfigOf>;

/**
 * Validate loaded values. Throws a {@link ConfigError} listing every problem, each with its
 * key (`drone.KEEP_DAILY: …`); never echoes a secret's value.
 */
export function parseDroneConfig(values: Record<string, unknown>): DroneConfig {
  const parsed = droneConfigSchema.safeParse(numbersFromText(values, DRONE_CONFIGURATION));
  if (!parsed.success) {
    const problems = parsed.error.issues.map(issue => {
      const key = issue.path.map(String).join(".");
      const entry = DRONE_CONFIGURATION[key as DroneConfigKey] as ConfigEntry | undefined;
      const got = entry && "secret" in entry ? "" : ` (got ${JSON.stringify(values[key])})`;
      return `drone.${key}: ${issue.message}${got}`;
    });
    throw new ConfigError(problems);
  }
  const problems = crossCheck(parsed.data);
  if (problems.length > 0) throw new ConfigError(problems);
  return droneConfigOf(parsed.data);
}
