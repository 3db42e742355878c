/**
 * Every configuration key of the drone, written once: its Digital Alchemy declaration (type,
 * default, description, allowed values), the schema of its value and the `DroneConfig` field
 * it is copied to; the ranges of the settings a person also changes at run time; and what
 * follows from the table alone (the DA declarations, the schema, the defaults, the variables
 * that carry a secret). Keys composed into a nested part of `DroneConfig` (keep rules,
 * offsite, hooks, checks, the guard, the passphrase) are mapped in config.mts.
 */
import { isAbsolute } from "node:path";

import { z } from "zod";

import { KEEP_WITHIN_PATTERN, parseLocation, SSH_HOST_KEY_POLICIES } from "../../libs/borg/index.mjs";
import { configKeys, defineKeys } from "../../libs/config/index.mjs";
import { DRONE_ID_PATTERN, MODES } from "../../libs/protocol/index.mjs";
import { dumpsSchema } from "./core/dumps/config.mjs";

/** Failure policies of a hook: ignore it, note it as a warning and go on, or stop the run. */
export const HOOK_POLICIES = ["ignore", "continue", "break"] as const;
/** I/O priority classes. */
export const IONICE_CLASSES = ["none", "best-effort", "idle"] as const;
/** How the passphrase reaches borg. */
const PASSPHRASE_TRANSPORTS = ["fd", "env"] as const;

/**
 * The ranges of the numbers a person may also change at run time (from Home Assistant or the
 * CLI): the configuration schema, the run-time settings and the HA entities all read them here.
 */
export const SETTING_RANGES = {
  /** Backup and offsite frequencies: five minutes to a year. */
  minutes: { min: 5, max: 525_600 },
  /** Archives a keep rule keeps (0 = rule off). */
  keep: { min: 0, max: 10_000 },
  /** Among drones that are due, a higher priority goes first. */
  priority: { min: -100, max: 100 },
} as const;

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

/**
 * Every configuration key of the drone (DA module `drone`). Set in the config file's
 * `[drone]` section, as env `DRONE_<KEY>` (the command line reads no unprefixed variable, see
 * libs/config/sources.mts), or as `--<KEY>=` on the command line.
 */
export const DRONE_KEYS = defineKeys({
  DRONE_ID: {
    type: "string",
    default: "",
    description: "Id of this drone: entity ids, the HA device and archive names derive from it. Default: the hostname, lowercased.",
    schema: optionalText.refine(value => value === undefined || DRONE_ID_PATTERN.test(value), {
      message: "must be lowercase letters, digits, _ or -, starting with a letter or digit",
    }),
  },
  REPOSITORY: {
    type: "string",
    default: "",
    description: "The borg repository: a local path, ssh://user@host[:port]/path or user@host:path (borg's forms). Required.",
    schema: z.string().trim().min(1, { message: "is required: a local path or ssh://user@host/path" }).superRefine(checkLocation),
    field: "repository",
  },
  PASSPHRASE: { type: "string", default: "", description: "The repository passphrase. Prefer PASSPHRASE_FILE or PASSCOMMAND; set at most one of the three.", secret: true, schema: text },
  PASSPHRASE_FILE: { type: "string", default: "", description: "A file holding the passphrase (mode 0600).", schema: optionalText },
  PASSCOMMAND: {
    type: "string",
    default: "",
    description: "A command that prints the passphrase, e.g. `pass show borg`. The drone runs it (through `sh -c`, before each borg command, stopped after PASSCOMMAND_TIMEOUT_SECONDS) and hands the passphrase to borg like the others: borg never sees the command.",
    command: true,
    schema: optionalText,
  },
  PASSCOMMAND_TIMEOUT_SECONDS: {
    type: "number",
    default: 60,
    description: "A passcommand (PASSCOMMAND, OFFSITE_PASSCOMMAND) still running after this long is stopped with every process it started; the run fails with `passcommand_failed`.",
    schema: z.number().int().min(1).max(3600),
    field: "passcommandTimeoutSeconds",
  },
  PASSPHRASE_TRANSPORT: {
    type: "string",
    default: "fd",
    enum: PASSPHRASE_TRANSPORTS,
    description: "How the passphrase reaches borg: `fd` (a pipe, invisible in /proc) or `env` (BORG_PASSPHRASE).",
    schema: z.enum(PASSPHRASE_TRANSPORTS),
    field: "passphraseTransport",
  },
  ENCRYPTION: {
    type: "string",
    default: "repokey-blake2",
    description: "Encryption mode of the repository: the one `backup-drone init` creates it with, and whether a passphrase is needed (every mode but `none` needs PASSPHRASE_FILE, PASSCOMMAND or PASSPHRASE).",
    schema: z.enum(["none", "authenticated", "authenticated-blake2", "repokey", "keyfile", "repokey-blake2", "keyfile-blake2"]),
    field: "encryption",
  },
  SOURCES: {
    type: "string[]",
    default: ["/home"],
    description: "Folders to back up: absolute paths. May be empty (`[]`) when DUMPS is set: a drone that backs up databases only.",
    // empty is allowed for a drone that backs up DUMPS only (config.mts checks that one of both is set)
    schema: z
      .array(z.string().min(1))
      .superRefine((sources, context) => {
        const relative = sources.filter(source => !isAbsolute(source));
        if (relative.length > 0) {
          context.addIssue({
            code: "custom",
            message: `must be absolute paths, e.g. /home (a relative one would mean another folder for each place a command runs from): ${relative.join(", ")}`,
          });
        }
      }),
    field: "sources",
  },
  DUMPS: {
    type: "record",
    default: {},
    description:
      "Databases and command output streamed into each archive, under `backup-drone-dumps/<name>.<ext>`: a mapping from a dump's name to its settings (`kind`: `postgresql`, `mariadb`/`mysql`, `sqlite` or `command`, and that kind's fields). In a file a nested mapping; in the environment JSON, e.g. `DRONE_DUMPS='{\"homeassistant\":{\"kind\":\"sqlite\",\"path\":\"/config/home-assistant_v2.db\"}}'`. See docs/dumps.md.",
    schema: dumpsSchema,
  },
  EXCLUDES: { type: "string[]", default: [], description: "borg exclude patterns (`--exclude`), e.g. `*/.cache`.", schema: z.array(z.string()), field: "excludes" },
  EXCLUDE_IF_PRESENT: { type: "string[]", default: [".nobackup"], description: "Marker files: a folder that holds one is skipped.", schema: z.array(z.string().min(1)), field: "excludeIfPresent" },
  ONE_FILE_SYSTEM: { type: "boolean", default: false, description: "Stay on the file system of each source (`--one-file-system`).", schema: z.boolean(), field: "oneFileSystem" },
  COMPRESSION: {
    type: "string",
    default: "lz4",
    description: "borg compression spec: `lz4`, `zstd,3`, `auto,zstd,6`, `none`.",
    schema: z.string().regex(/^(auto,|obfuscate,\d+,)?(none|lz4|zstd|zlib|lzma)(,\d+)?$/, {
      message: "must be a borg compression spec such as lz4, zstd,3 or auto,zstd,6",
    }),
    field: "compression",
  },
  KEEP_WITHIN: { type: "string", default: "", description: "Keep every archive within this interval (`14d`, `6m`, `1y`); empty for none.", schema: keepWithin },
  KEEP_DAILY: { type: "number", default: 7, description: "Daily archives to keep (0 = rule off).", schema: keepCount },
  KEEP_WEEKLY: { type: "number", default: 4, description: "Weekly archives to keep (0 = rule off).", schema: keepCount },
  KEEP_MONTHLY: { type: "number", default: 6, description: "Monthly archives to keep (0 = rule off).", schema: keepCount },
  KEEP_YEARLY: { type: "number", default: 1, description: "Yearly archives to keep (0 = rule off).", schema: keepCount },
  FREQUENCY_MINUTES: { type: "number", default: 1440, description: "How often this drone is backed up, in minutes (Backup Frequency).", schema: minutes, field: "frequencyMinutes" },
  MODE: {
    type: "string",
    default: "coordinated",
    enum: MODES,
    description: "`coordinated` (the coordinator decides), `standalone` (the drone schedules itself), `paused`.",
    schema: z.enum(MODES),
    field: "mode",
  },
  PRIORITY: {
    type: "number",
    default: 0,
    description: "Among drones that are due, a higher priority goes first.",
    schema: z.number().int().min(SETTING_RANGES.priority.min).max(SETTING_RANGES.priority.max),
    field: "priority",
  },
  REPOSITORY_HOST: {
    type: "string",
    default: "",
    description:
      "The repository host the coordinator counts this drone's runs against (its per-host limit). Empty: the host of a remote REPOSITORY (ssh://user@host/… or user@host:…), or this drone alone for a local path. Set it when a local path is a mount of a shared disk, e.g. `nas` for an NFS share of the NAS.",
    schema: hostText,
    field: "repositoryHost",
  },
  OFFSITE_REPOSITORY: { type: "string", default: "", description: "A second (offsite) repository; empty for none.", schema: optionalText.superRefine(checkLocation) },
  OFFSITE_PASSPHRASE: { type: "string", default: "", description: "Passphrase of the offsite repository; default: the primary's passphrase settings.", secret: true, schema: text },
  OFFSITE_PASSPHRASE_FILE: { type: "string", default: "", description: "A file holding the offsite passphrase.", schema: optionalText },
  OFFSITE_PASSCOMMAND: { type: "string", default: "", description: "A command that prints the offsite passphrase.", command: true, schema: optionalText },
  OFFSITE_FREQUENCY_MINUTES: { type: "number", default: 10080, description: "How often the offsite copy runs, in minutes.", schema: minutes },
  OFFSITE_KEEP_WITHIN: { type: "string", default: "", description: "Offsite keep-within interval.", schema: keepWithin },
  OFFSITE_KEEP_DAILY: { type: "number", default: 7, description: "Offsite daily archives to keep.", schema: keepCount },
  OFFSITE_KEEP_WEEKLY: { type: "number", default: 4, description: "Offsite weekly archives to keep.", schema: keepCount },
  OFFSITE_KEEP_MONTHLY: { type: "number", default: 12, description: "Offsite monthly archives to keep.", schema: keepCount },
  OFFSITE_KEEP_YEARLY: { type: "number", default: 2, description: "Offsite yearly archives to keep.", schema: keepCount },
  OFFSITE_REPOSITORY_HOST: { type: "string", default: "", description: "Like REPOSITORY_HOST, for the offsite repository.", schema: hostText },
  OFFSITE_UPLOAD_RATELIMIT_KIB: { type: "number", default: 0, description: "Upload limit for the offsite repository in KiB/s (0 = none; remote repositories only).", schema: z.number().int().min(0) },
  HOOK_BEFORE: { type: "string", default: "", description: "Shell command run before a backup (e.g. a database dump).", command: true, schema: optionalText },
  HOOK_BEFORE_POLICY: {
    type: "string",
    default: "break",
    enum: HOOK_POLICIES,
    description: "If the before hook fails: `ignore`, `continue` (warning), `break` (the run fails).",
    schema: z.enum(HOOK_POLICIES),
  },
  HOOK_AFTER: { type: "string", default: "", description: "Shell command run after a successful backup.", command: true, schema: optionalText },
  HOOK_AFTER_POLICY: { type: "string", default: "continue", enum: HOOK_POLICIES, description: "If the after hook fails.", schema: z.enum(HOOK_POLICIES) },
  HOOK_ON_ERROR: { type: "string", default: "", description: "Shell command run when a backup fails.", command: true, schema: optionalText },
  HOOK_ON_ERROR_POLICY: { type: "string", default: "ignore", enum: HOOK_POLICIES, description: "If the on-error hook fails.", schema: z.enum(HOOK_POLICIES) },
  HOOK_TIMEOUT_SECONDS: {
    type: "number",
    default: 600,
    description: "A hook running longer is stopped with every process it started (its process group) and counts as failed.",
    schema: z.number().int().min(1).max(86_400),
  },
  HOOK_ENV_PASSTHROUGH: {
    type: "string[]",
    default: [],
    description:
      "Environment variables a hook gets although they look secret, e.g. `PGPASSWORD` for a database dump. Without this, a hook never gets a variable whose name contains PASSPHRASE, PASSWORD, PASSWD, PASSCOMMAND, TOKEN, SECRET, API_KEY or PRIVATE_KEY, nor one that sets the drone's passphrase, Home Assistant token or synapse DATABASE_URL.",
    schema: z.array(
      z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: "must list environment variable names (letters, digits, _), e.g. PGPASSWORD" }),
    ),
  },
  NICE: { type: "number", default: 0, description: "CPU niceness of borg, 0–19 (0 = unchanged).", schema: z.number().int().min(0).max(19), field: "nice" },
  IONICE_CLASS: { type: "string", default: "none", enum: IONICE_CLASSES, description: "I/O class of borg: `none`, `best-effort`, `idle`.", schema: z.enum(IONICE_CLASSES) },
  IONICE_LEVEL: { type: "number", default: 4, description: "I/O priority within best-effort, 0 (high) – 7 (low).", schema: z.number().int().min(0).max(7) },
  UPLOAD_RATELIMIT_KIB: { type: "number", default: 0, description: "Upload limit in KiB/s (0 = none; remote repositories only).", schema: z.number().int().min(0), field: "uploadRateLimitKiB" },
  CHECKPOINT_INTERVAL_SECONDS: {
    type: "number",
    default: 300,
    description:
      "borg commits a checkpoint archive this often during a create. A create that fails (a lost connection, a stopped run) keeps what was uploaded until its last checkpoint, and the next run reuses it; the rest is uploaded again. 300 s loses at most five minutes of upload on a slow uplink, for a few seconds of extra commits per hour.",
    schema: z.number().int().min(10),
    field: "checkpointIntervalSeconds",
  },
  LOCK_WAIT_SECONDS: {
    type: "number",
    default: 60,
    description: "How long borg waits for a repository lock held by someone else.",
    schema: z.number().int().min(0).max(86_400),
    field: "lockWaitSeconds",
  },
  RUN_TIMEOUT_MINUTES: {
    type: "number",
    default: 720,
    description: "A run still going after this long is interrupted cleanly: a create keeps a checkpoint, a hook or passcommand is stopped with its processes.",
    schema: z.number().int().min(1),
    field: "runTimeoutMinutes",
  },
  INACTIVITY_TIMEOUT_MINUTES: { type: "number", default: 30, description: "borg writing nothing for this long is interrupted.", schema: z.number().int().min(1), field: "inactivityTimeoutMinutes" },
  BORG_BINARY: { type: "string", default: "borg", description: "The borg binary: a name on PATH or a path.", schema: z.string().min(1), field: "borgBinary" },
  BORG_RSH: {
    type: "string",
    default: "",
    description:
      "ssh command for ssh:// repositories (BORG_RSH), e.g. `ssh -i /root/.ssh/borg`; default `ssh`. The drone appends `-o BatchMode=yes -o StrictHostKeyChecking=… -o ServerAliveInterval=10 -o ServerAliveCountMax=3 -o ConnectTimeout=20` (ssh never asks, a dead link is noticed within about 40 s) and `-E` with a log file of its own; an option set here wins, as ssh keeps the first value it reads.",
    command: true,
    schema: optionalText,
    field: "rsh",
  },
  SSH_HOST_KEY_POLICY: {
    type: "string",
    default: "known",
    enum: SSH_HOST_KEY_POLICIES,
    description:
      "How ssh treats a repository host whose key is not in known_hosts: `known` (it must be there already: an unknown host fails at once with `ssh_host_unknown`) or `accept-new` (the first connection records the key). A changed key is always refused (`ssh_host_key_changed`).",
    schema: z.enum(SSH_HOST_KEY_POLICIES, { message: "must be `known` or `accept-new`" }),
    field: "sshHostKeyPolicy",
  },
  BORG_REMOTE_PATH: { type: "string", default: "", description: "The borg binary on the repository host (`--remote-path`).", schema: optionalText, field: "remotePath" },
  BORG_BASE_DIR: { type: "string", default: "", description: "Where borg keeps its cache and keys (BORG_BASE_DIR); default: borg's own.", schema: optionalText, field: "borgBaseDir" },
  ALLOW_RELOCATED_REPOSITORY: { type: "boolean", default: false, description: "Accept a repository whose location string changed.", schema: z.boolean(), field: "allowRelocated" },
  ALLOW_UNKNOWN_UNENCRYPTED: { type: "boolean", default: false, description: "Accept an unencrypted repository this machine has not seen.", schema: z.boolean(), field: "allowUnknownUnencrypted" },
  STATE_DIR: {
    type: "string",
    default: "",
    description: "Where the drone keeps its state (an absolute path); default $XDG_STATE_HOME/backup-drone or ~/.local/state/backup-drone.",
    schema: optionalText.refine(value => value === undefined || isAbsolute(value), {
      message:
        "must be an absolute path, e.g. /var/lib/backup-drone: with a relative one, a command run from another folder would not share the daemon's state and lock",
    }),
  },
  PROGRESS_INTERVAL_MS: {
    type: "number",
    default: 60_000,
    description:
      "At most one progress event per this many ms (the first and the last of a run are always sent). Home Assistant's recorder stores each one (two rows); the terminal's progress bar does not depend on it.",
    schema: z.number().int().min(0),
    field: "progressIntervalMs",
  },
  STATUS_INTERVAL_SECONDS: { type: "number", default: 60, description: "Heartbeat: a status event this often (and on every change); skipped while progress events show the drone alive.", schema: z.number().int().min(5), field: "statusIntervalSeconds" },
  PRESCAN: { type: "boolean", default: true, description: "Before a first backup, measure the sources as borg walks them (excludes, markers, ONE_FILE_SYSTEM, hard links) for a progress estimate.", schema: z.boolean(), field: "prescan" },
  HISTORY_DAYS: {
    type: "number",
    default: 400,
    description: "Runs older than this many days are dropped from the run history (`backup-drone history`); trimmed after each run.",
    schema: z.number().int().min(1).max(36_500),
    field: "historyDays",
  },
  HISTORY_RUNS: {
    type: "number",
    default: 5000,
    description: "The run history keeps at most this many runs (the newest); trimmed after each run.",
    schema: z.number().int().min(10).max(1_000_000),
    field: "historyRuns",
  },
  QUEUE_LIMIT: { type: "number", default: 5, description: "Operations that may wait behind the running one; more presses are refused.", schema: z.number().int().min(0).max(100), field: "queueLimit" },
  CHECK_FREQUENCY_DAYS: {
    type: "number",
    default: 7,
    description: "A scheduled run ends with `borg check` (repository and archive metadata) when the last check is this many days old; 0 = never. See docs/restore.md.",
    schema: z.number().int().min(0).max(3650),
  },
  VERIFY_DATA_FREQUENCY_DAYS: {
    type: "number",
    default: 30,
    description: "A scheduled run ends with `borg check --verify-data` (reads and authenticates every chunk) when the last one is this many days old; 0 = never.",
    schema: z.number().int().min(0).max(3650),
  },
  VERIFY_AFTER_BACKUP: { type: "boolean", default: false, description: "After each backup, check the new archive's metadata (`borg check --archives-only` of that archive).", schema: z.boolean() },
  SPOT_CHECK_AFTER_BACKUP: {
    type: "boolean",
    default: false,
    description: "After each backup, read the new archive back in full without writing anything (`borg extract --dry-run`).",
    schema: z.boolean(),
  },
  PRUNE_GUARD: {
    type: "boolean",
    default: true,
    description:
      "Hold prune (keep every archive) after a suspicious backup: a source that had files is missing or empty, the file count or size fell by more than GUARD_SHRINK_PERCENT, or more than GUARD_CHANGE_PERCENT of the archive is new data. Released with `backup-drone release` or the Release Prune Hold button. See docs/troubleshooting.md.",
    schema: z.boolean(),
  },
  GUARD_SHRINK_PERCENT: {
    type: "number",
    default: 50,
    description: "The prune guard holds when the file count or the size read fell by more than this percentage since the previous archive (1–100).",
    schema: z.number().int().min(1).max(100),
  },
  GUARD_CHANGE_PERCENT: {
    type: "number",
    default: 50,
    description: "The prune guard holds when new (deduplicated) data is more than this percentage of the archive's compressed size: many files changed at once (1–100).",
    schema: z.number().int().min(1).max(100),
  },
  GUARD_CHANGE_MIN_MB: {
    type: "number",
    default: 100,
    description: "…and the new data is at least this many MiB, so that small archives, whose metadata is new on every run, do not trip it.",
    schema: z.number().min(0),
  },
});

/** A key of the drone's configuration. */
export type DroneConfigKey = keyof typeof DRONE_KEYS;

/** What follows from the drone's key table (libs/config/keys.mts). */
export const droneKeys = configKeys("drone", DRONE_KEYS);

/**
 * Every configuration key of the drone as Digital Alchemy declares it (type, default,
 * description, allowed values): the table without its schemas.
 */
export const DRONE_CONFIGURATION = droneKeys.declarations();

/** The zod schema of the loaded configuration values (SCREAMING_SNAKE keys, as DA holds them). */
export const droneConfigSchema = droneKeys.schema;

/** The defaults of every key, as DA would load them with nothing configured. */
export const defaultConfigValues = droneKeys.defaults;

/** Keys of the libraries the drone runs with whose value is, or can hold, a secret (a database URL may carry a password). */
const LIBRARY_SECRET_KEYS: Readonly<Record<string, readonly string[]>> = { hass: ["TOKEN"], synapse: ["DATABASE_URL"] };

/**
 * The environment variables that set a secret of the drone (`secret: true` keys, and DUMPS) or of its
 * Home Assistant libraries, in each spelling DA reads (`KEY` and `MODULE_KEY`, any case): no
 * child process inherits them.
 */
export function secretConfigVariables(): string[] {
  return [
    ...droneKeys.secretKeys().flatMap(key => [key, `DRONE_${key}`]),
    // not a secret itself, but a `command` dump may carry credentials in its command line
    "DUMPS",
    "DRONE_DUMPS",
    ...Object.entries(LIBRARY_SECRET_KEYS).flatMap(([module, keys]) => keys.flatMap(key => [key, `${module.toUpperCase()}_${key}`])),
  ];
}
