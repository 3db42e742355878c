/**
 * The command line as data: every command, its options, its exit codes and the words of its help (rendered by ./help.mts).
 * Kept free of heavy imports so that `--help` answers without loading the drone.
 */

/** Exit codes of every command (also documented in `--help` and docs/cli.md). */
export const EXIT_CODES = {
  success: 0,
  warning: 1,
  failed: 2,
  interrupted: 3,
  refused: 4,
  not_empty: 5,
  no_match: 6,
  held: 7,
} as const;
/** One exit code. */
export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

/** What each exit code means, for help texts. */
export const EXIT_CODE_HELP: readonly (readonly [ExitCode, string])[] = [
  [EXIT_CODES.success, "success"],
  [EXIT_CODES.warning, "finished with warnings (e.g. a source file vanished); the archive is usable"],
  [EXIT_CODES.failed, "failed, or invalid usage or configuration (the message says what to do)"],
  [EXIT_CODES.interrupted, "interrupted (Ctrl-C, SIGTERM, run timeout); an interrupted create keeps a checkpoint, a hook is stopped with its processes"],
  [EXIT_CODES.refused, "refused: another backup-drone process is running an operation for this drone"],
  [EXIT_CODES.not_empty, "refused: the restore target is not empty and --overwrite was not given (restore-dump: it would replace a live database and --yes was not given, or --to-file names an existing file); nothing was written"],
  [EXIT_CODES.no_match, "no archive of this drone holds a matching path"],
  [EXIT_CODES.held, "the backup was made, but the prune guard found it suspicious and held prune (every archive kept); see `release`"],
];

/** Names of the commands. */
export const COMMAND_NAMES = ["daemon", "init", "backup", "create", "prune", "stats", "check", "list", "find", "restore", "restore-dump", "status", "history", "release", "cancel", "config"] as const;
/** One command. */
export type CommandName = (typeof COMMAND_NAMES)[number];

/** An option of the command line itself (configuration keys are options too, see below). */
export interface OptionSpec {
  name: string;
  type: "boolean" | "string";
  short?: string;
  /** Placeholder of the value in help texts. */
  value?: string;
  description: string;
}

/** The positional arguments a command takes. */
export interface ArgumentsSpec {
  /** As shown in the usage line, e.g. `ARCHIVE [PATH...]`. */
  usage: string;
  min: number;
  /** Omitted: any number. */
  max?: number;
}

/** One command. */
export interface CommandSpec {
  summary: string;
  /** Positional arguments after the command name; none when omitted. */
  arguments?: ArgumentsSpec;
  /** Paragraphs printed under the usage line. */
  description: readonly string[];
  /** Names of the options this command takes, beyond the common ones. */
  options: readonly string[];
  /** What `--json` prints, if the command takes it. */
  json?: string;
  examples: readonly string[];
  /** Exit codes this command can end with. */
  exitCodes: readonly ExitCode[];
  /**
   * Whether the command changes the repository or the machine (or runs backups, as the
   * daemon does): an unknown key in a configuration file stops it, where a read-only
   * command only warns.
   */
  writes: boolean;
}

/** Every option of the command line by name. */
export const OPTIONS = {
  help: { name: "help", type: "boolean", short: "h", description: "show this help and exit" },
  version: { name: "version", type: "boolean", description: "print the version and exit" },
  json: {
    name: "json",
    type: "boolean",
    description: "print JSON lines on stdout instead of a progress bar and a summary",
  },
  verbose: { name: "verbose", type: "boolean", short: "v", description: "log what the drone does (info level) on stderr" },
  config: {
    name: "config",
    type: "string",
    value: "FILE",
    description: "read the configuration from FILE instead of the default locations",
  },
  "env-file": { name: "env-file", type: "string", value: "FILE", description: "read environment variables (DRONE_<KEY>, HASS_TOKEN…) from FILE; exported ones win (./.env is not read)" },
  token: {
    name: "token",
    type: "string",
    value: "TOKEN",
    description: "Home Assistant long-lived access token (prefer HASS_TOKEN or the config file: argv is visible to other users)",
  },
  checkpoints: { name: "checkpoints", type: "boolean", description: "include .checkpoint archives left by interrupted backups" },
  all: { name: "all", type: "boolean", description: "list every archive of the repository, not only this drone's" },
  versions: { name: "versions", type: "string", value: "N", description: "show at most the N newest versions" },
  "older-than": {
    name: "older-than",
    type: "string",
    value: "AGE",
    description: "only archives older than AGE: a number and H (hours), d, w, m (months) or y, e.g. 7d, 2w, 1m",
  },
  target: { name: "target", type: "string", value: "DIR", description: "the folder to restore into (absolute or relative; created when missing)" },
  overwrite: {
    name: "overwrite",
    type: "boolean",
    description: "restore into a folder that is not empty: files of the same paths are replaced, nothing else is touched",
  },
  limit: { name: "limit", type: "string", value: "N", description: "show at most the N newest runs (default 20, or every run since --since)" },
  since: {
    name: "since",
    type: "string",
    value: "WHEN",
    description: "only runs started since WHEN: an ISO date or date/time (2026-11-20, 2026-11-20T08:00) or an age (24h, 7d, 2w)",
  },
  archive: { name: "archive", type: "string", value: "ARCHIVE", description: "restore from this archive of the drone (or latest); default: the newest archive that holds the dump" },
  "to-database": {
    name: "to-database",
    type: "string",
    value: "DB",
    description: "restore into this database instead of the dump's own (for a sqlite dump: a database file, absolute path)",
  },
  "to-file": { name: "to-file", type: "string", value: "PATH", description: "write the dump's data as it is into a new file PATH (an existing file is never replaced)" },
  "dry-run": { name: "dry-run", type: "boolean", description: "say what would run (tool, target, archive, size) and run nothing" },
  yes: { name: "yes", type: "boolean", short: "y", description: "replace a live database without asking (needed when not on a terminal)" },
  dumps: { name: "dumps", type: "boolean", description: "also list the dumps each archive holds, with their kind and size (one borg list per archive)" },
  dump: { name: "dump", type: "string", value: "NAME", description: "find the versions of the dump NAME instead of a file" },
  "verify-data": {
    name: "verify-data",
    type: "boolean",
    description: "also read and authenticate every data chunk (borg check --verify-data; slow)",
  },
  "show-commands": {
    name: "show-commands",
    type: "boolean",
    description: "show command lines (hooks, passcommands, BORG_RSH) whole: they can hold a password (mysqldump -pSECRET)",
  },
} as const satisfies Record<string, OptionSpec>;
/** An option name. */
export type OptionName = keyof typeof OPTIONS;

/** Options every command takes. */
export const COMMON_OPTIONS: readonly OptionName[] = ["help", "config", "env-file"];

const ONE_SHOT_EXITS: readonly ExitCode[] = [0, 1, 2, 3, 4];
/** Commands that prune can end held. */
const PRUNING_EXITS: readonly ExitCode[] = [...ONE_SHOT_EXITS, 7];

/** Every command. */
export const COMMANDS: Record<CommandName, CommandSpec> = {
  daemon: {
    summary: "run the drone: its own schedule, and Home Assistant when a token is configured (default)",
    description: [
      "Runs until stopped. With a Home Assistant token (HASS_TOKEN or SUPERVISOR_TOKEN in the environment, HASS_TOKEN in the --env-file, --token, or TOKEN in the [hass] section of the config file) the drone registers its device in Home Assistant and answers its buttons; without one it runs alone and logs progress and results.",
      "In MODE=standalone the drone backs itself up every FREQUENCY_MINUTES (a drone that never backed up is due at once). In MODE=coordinated the coordinator decides; MODE=paused runs nothing on its own.",
      "SIGTERM or Ctrl-C stops it cleanly: a running borg is interrupted, keeps a checkpoint archive, and the process exits 0.",
    ],
    options: ["token", "verbose"],
    examples: [
      "backup-drone",
      "DRONE_MODE=standalone DRONE_REPOSITORY=/srv/borg DRONE_PASSPHRASE_FILE=/etc/backup-drone.pass backup-drone daemon",
      "HASS_TOKEN=… HASS_URL=http://homeassistant.local:8123 backup-drone daemon",
    ],
    exitCodes: [0, 1, 2],
    writes: true,
  },
  init: {
    summary: "create the repository (borg init) with the configured ENCRYPTION",
    description: [
      "Creates REPOSITORY with the encryption mode ENCRYPTION (default repokey-blake2) and the configured passphrase. Export the key afterwards (borg key export) and keep it with the passphrase: without both, the backups cannot be read.",
    ],
    options: ["json", "verbose"],
    json: 'one object: {"outcome", "repository", "encryption", "error_kind", "error"}',
    examples: ["DRONE_REPOSITORY=/srv/borg DRONE_PASSPHRASE_FILE=~/.config/borg.pass backup-drone init"],
    exitCodes: [0, 2],
    writes: true,
  },
  backup: {
    summary: "the full scheduled run: before hook, create, prune, compact, stats, after hook",
    description: [
      "What the Scheduled Backup button and the standalone schedule run. Suits cron and systemd timers.",
    ],
    options: ["json", "verbose"],
    json: "progress events while it runs, then one result event (libs/protocol schemas; see docs/events.md)",
    examples: ["backup-drone backup", "backup-drone backup --json | jq -c 'select(.outcome)'"],
    exitCodes: PRUNING_EXITS,
    writes: true,
  },
  create: {
    summary: "create an archive of SOURCES now (borg create)",
    description: [
      "The archive is named <DRONE_ID>@<local time>. Progress shows a percentage and an ETA once an estimate exists (from the previous archive, or a scan of the sources before the first one).",
      "When no source has anything to back up (every one missing, an empty folder or unreadable) nothing is created and the command fails; an archive that ends up holding no file is deleted and the command fails. Either way nothing is pruned.",
    ],
    options: ["json", "verbose"],
    json: "progress events while it runs, then one result event (libs/protocol schemas; see docs/events.md)",
    examples: ["backup-drone create", "backup-drone create --REPOSITORY=/mnt/usb/borg", "backup-drone create --json"],
    exitCodes: ONE_SHOT_EXITS,
    writes: true,
  },
  prune: {
    summary: "remove archives by the keep rules, then compact and refresh the statistics",
    description: [
      "Only this drone's archives (names starting with <DRONE_ID>@) are considered. Rules: KEEP_WITHIN, KEEP_DAILY, KEEP_WEEKLY, KEEP_MONTHLY, KEEP_YEARLY (or what was set at run time from Home Assistant).",
      "While the prune guard holds prune (after a suspicious backup, see `release`), nothing is pruned and the command exits 7.",
    ],
    options: ["json", "verbose"],
    json: "progress events, then one result event whose `pruned` lists the removed archives (the first 20; `pruned_count` says how many)",
    examples: ["backup-drone prune", "backup-drone prune --KEEP_DAILY=3"],
    exitCodes: PRUNING_EXITS,
    writes: true,
  },
  stats: {
    summary: "refresh and print the repository statistics (borg info)",
    description: ["Prints the number of this drone's archives and the repository sizes: original, compressed, and on disk after deduplication."],
    options: ["json", "verbose"],
    json: "progress events, one `{\"statistics\": …}` line (archive_count; primary and offsite sizes in bytes), then one result event",
    examples: ["backup-drone stats"],
    exitCodes: ONE_SHOT_EXITS,
    writes: false,
  },
  check: {
    summary: "verify the repository's consistency (borg check)",
    description: [
      "Reads every segment of the repository and the archive metadata; it can take long on a large repository. With --verify-data it also reads and authenticates every data chunk, which finds tampered or silently changed data that the plain check cannot see.",
      "Damage found is a failed result with error kind `integrity` (exit 2); Last Check Result becomes failed. See docs/restore.md for what to do. A scheduled run also ends with a check when CHECK_FREQUENCY_DAYS or VERIFY_DATA_FREQUENCY_DAYS say one is due.",
    ],
    options: ["json", "verify-data", "verbose"],
    json: "progress events, then one result event whose `checks` says what each check found",
    examples: ["backup-drone check", "backup-drone check --verify-data --json | jq -c 'select(.outcome)'"],
    exitCodes: ONE_SHOT_EXITS,
    writes: false,
  },
  list: {
    summary: "list this drone's archives",
    description: [
      "Newest last. Archives of other drones sharing the repository are left out unless --all is given.",
      "With --dumps, each archive's database and command dumps are listed under it by name, with their kind (from DUMPS; a dump no longer configured shows its file only) and size. borg lists one archive at a time: on a repository of many archives this takes a while.",
    ],
    options: ["json", "checkpoints", "all", "dumps", "verbose"],
    json: 'one line per archive: {"name", "id", "start"}; with --dumps also "dumps": [{"name", "kind", "file", "size"}]',
    examples: ["backup-drone list", "backup-drone list --json | jq -r .name", "backup-drone list --checkpoints"],
    exitCodes: [0, 2],
    writes: false,
  },
  find: {
    summary: "find which archives hold a file (or a dump), newest version first",
    arguments: { usage: "PATTERN", min: 0, max: 1 },
    description: [
      "PATTERN is a file name (matched in any folder: notes.txt), a path (home/me/notes.txt; a leading / is optional), a shell pattern (home/*/docs/*.pdf, ** for any depth), or a borg pattern with its style (sh:, fm:, re:, pp:, pf:).",
      "Archives whose matching files are identical (same paths, sizes and modification times) are one version; each version names the newest archive holding it, the one to restore from. Only this drone's archives are searched; borg lists one archive at a time, so --versions makes a search of many archives stop early.",
      "--dump NAME (instead of PATTERN) finds the archives that hold the database or command dump NAME; dumps show by name with their size. Restore one with `backup-drone restore-dump NAME --archive ARCHIVE`.",
    ],
    options: ["json", "versions", "older-than", "dump", "verbose"],
    json: 'one line per version, newest first: {"archive", "start", "archives": [names, newest first], "items": [{"path", "type", "size", "mtime"}]}',
    examples: [
      "backup-drone find notes.txt",
      "backup-drone find 'home/me/projects/**/*.md' --versions 3",
      "backup-drone find /etc/hosts --older-than 2w --json | jq -r .archive",
      "backup-drone find --dump nextcloud --versions 5",
    ],
    exitCodes: [0, 2, 6],
    writes: false,
  },
  restore: {
    summary: "restore an archive, or some of its paths, into a folder",
    arguments: { usage: "ARCHIVE [PATH...]", min: 1 },
    description: [
      "ARCHIVE is one of this drone's archives (see `backup-drone list` or `find`), or `latest` for the newest. Another drone's archive is restored by running as that drone: --DRONE_ID=<its id>. PATHs (as `find` prints them; a leading / is optional) restore only those files or folders; without them the whole archive is restored.",
      "Files are restored under --target with their full stored paths (home/me/notes.txt lands in DIR/home/me/notes.txt), with their permissions and times, and their owners when run as root. --target is created when missing. A folder that is not empty is refused and left as it is, unless --overwrite: then borg replaces the files of the same paths and leaves every other file alone.",
      "Runs as an operation like a backup: it waits for (or is refused by) an operation already running for this drone, and shows a progress bar.",
    ],
    options: ["target", "overwrite", "json", "verbose"],
    json: "progress events while it runs, then one result event whose `restore` names the archive, the target and the paths",
    examples: [
      "backup-drone restore latest --target /srv/restore",
      "backup-drone restore laptop@2026-11-20T02:00:00.000 home/me/notes.txt --target ~/restored",
      "backup-drone restore latest etc --target /tmp/etc-back --overwrite --json | jq -c 'select(.outcome)'",
    ],
    exitCodes: [0, 1, 2, 3, 4, 5],
    writes: true,
  },
  "restore-dump": {
    summary: "restore a database or command dump from an archive: streamed into its tool, or into a file",
    arguments: { usage: "NAME", min: 1, max: 1 },
    description: [
      "NAME is a dump of DUMPS (see `backup-drone list --dumps`). Its data is streamed from the archive (borg extract --stdout, nothing lands on disk) into the tool its kind restores with: pg_restore (a PostgreSQL database; by default --clean --if-exists --single-transaction, or the dump's restore_options), psql (a pg_dumpall of every database), mariadb (SQL), sqlite3 (a new database file that replaces the old one only once it is whole), or the dump's restore_command (kind command, data on stdin). The connection (host, port, user, password_file) is the dump's DUMPS entry; --to-database restores into another database (a sqlite file path for a sqlite dump). --to-file PATH writes the data as it is into a new file instead.",
      "Restoring into a live database replaces what it holds: on a terminal the command asks first; otherwise it needs --yes, and without it refuses (exit 5) having changed nothing. --dry-run says what would run (tool, target, archive, size) and runs nothing. The tool gets the end of its input only after borg read the whole dump: when borg fails the tool is stopped (pg_restore and sqlite then change nothing; psql and mariadb keep what they ran).",
      "Runs as an operation like `restore`: it waits for (or is refused by) an operation already running for this drone, and shows the bytes streamed. A database password is read from password_file and handed to the tool alone (PGPASSWORD in its environment; MariaDB: an option file on a pipe), never on a command line or in a message.",
    ],
    options: ["archive", "to-database", "to-file", "dry-run", "yes", "json", "verbose"],
    json: "with --dry-run one object: {\"dry_run\": true, \"name\", \"archive\", \"kind\", \"format\", \"path\", \"size\", \"tool\", \"command\", \"target\", \"replaces\"}; else progress events, then one result event whose `restore` names the archive, the target and the dump's path",
    examples: [
      "backup-drone restore-dump nextcloud --dry-run",
      "backup-drone restore-dump paperless --archive nas@2026-11-20T02:00:00.000 --to-database paperless_check --yes",
      "backup-drone restore-dump homeassistant --to-database /srv/restore/home-assistant_v2.db",
      "backup-drone restore-dump nextcloud --to-file /srv/restore/nextcloud.sql",
    ],
    exitCodes: [0, 1, 2, 3, 4, 5],
    writes: true,
  },
  release: {
    summary: "release a prune held by the prune guard, once you have looked at the newest archive",
    description: [
      "After a suspicious backup (a source that had files is missing or empty, the file count or size fell by more than GUARD_SHRINK_PERCENT, or more than GUARD_CHANGE_PERCENT of the archive is new data) the prune guard holds prune: every archive is kept, results end `held` (exit 7), and `status` says why.",
      "Look at the newest archive first (`backup-drone list`, `backup-drone find`, or a restore into a spare folder). If it is right, `release` lets the next run prune again, and later archives are compared with the newest one. If it is not, fix the cause (mount the disk, fix SOURCES, restore the lost files) and back up again before releasing.",
    ],
    options: ["json", "verbose"],
    json: 'one object: {"released": true|false, "hold": {"since", "archive", "reasons"} | null}',
    examples: ["backup-drone status", "backup-drone release"],
    exitCodes: [0, 2],
    // it changes the drone's state, not the repository: a typo in the file is a warning
    writes: false,
  },
  history: {
    summary: "list this drone's past runs, newest first: when, what, how it ended, what it added",
    description: [
      "Every operation of this drone (backups, prunes, checks, restores…, whoever started them: the schedule, Home Assistant, the coordinator, a command) is recorded when it starts and when it ends, in <STATE_DIR>/<DRONE_ID>.history.db. A run whose process died (a crash, kill -9, a power cut) shows as interrupted with error kind crashed, without a duration (when it died is not known).",
      "Added is what the run's archive added to the repository (borg's deduplicated size of the new archive). The history keeps HISTORY_RUNS runs and HISTORY_DAYS days. Reads the history only: it does not touch the repository.",
    ],
    options: ["json", "limit", "since", "verbose"],
    json:
      'one line per run, newest first: {"run_id", "operation", "repository", "trigger", "requested_by", "started_at", "finished_at", "outcome", "error_kind", "error", "cancelled_by", "archive": {"name", "nfiles", "original_size", "compressed_size", "deduplicated_size"} | null, "added_bytes", "duration_seconds", "warnings", "pruned", "pid"}',
    examples: ["backup-drone history", "backup-drone history --since 7d", "backup-drone history --json --limit 100 | jq -c 'select(.outcome != \"success\")'"],
    exitCodes: [0, 2],
    writes: false,
  },
  cancel: {
    summary: "cancel the operation running for this drone, in the daemon or in another terminal",
    description: [
      "Finds the process that runs an operation for DRONE_ID (the daemon, or a one-shot command such as `backup-drone create` in another shell) through the drone's run lock, and asks it to cancel: borg is stopped (a create gets SIGINT and keeps a checkpoint archive that the next run reuses; a check or compact, which borg 1.2 runs on after a SIGINT, gets SIGTERM), a hook is stopped with its processes, operations waiting in the queue are dropped, and nothing after the cancelled step runs (a cancelled scheduled run never prunes). The result is `interrupted`, error kind `cancelled`, cancelled by `cli (user@host)`; no on_error hook runs.",
      "The command waits up to 60 s for the run to end and prints how it ended. When nothing runs it says so and exits 0. Only the user the drone runs as (or root) can cancel its run. A cancelled restore leaves the target partly restored; a cancelled backup waits for its next regular time in standalone mode.",
    ],
    options: ["json", "verbose"],
    json: 'one object: {"drone_id", "cancelled": true|false, "pid", "run_id", "operation", "outcome", "message"}',
    examples: ["backup-drone cancel", "sudo -u backup backup-drone cancel --DRONE_ID=nas", "backup-drone cancel --json | jq -r .message"],
    exitCodes: [0, 2],
    // it changes no configuration: a typo in the file is a warning
    writes: false,
  },
  config: {
    summary: "print every configuration key: its value in force and where it came from (secrets hidden)",
    description: [
      "Shows each drone key with its value and its source: default, file (with its section), env file (--env-file), env (the variable), switch (--KEY=VALUE), or state: a setting changed at run time from Home Assistant or a command (mode, frequencies, priority, keep rules), which wins over the configuration; the configured value is shown beside it. Secrets (passphrases) show as (set, hidden).",
      "Command lines (HOOK_BEFORE, HOOK_AFTER, HOOK_ON_ERROR, PASSCOMMAND, OFFSITE_PASSCOMMAND, BORG_RSH) can hold a password (mysqldump -pSECRET, sshpass -p …): they show only their program (mysqldump … (arguments hidden …)) unless --show-commands. After the drone's keys come hass.BASE_URL, hass.TOKEN (set or not, never its value) and synapse.DATABASE_URL (a password in it hidden), with their sources.",
      "Also names the configuration files read, the env file, the state file, where the Home Assistant token comes from, and unprefixed variables that are ignored (REPOSITORY for DRONE_REPOSITORY). It starts nothing and also answers when the configuration is invalid: the problems follow the table and the command exits 2.",
    ],
    options: ["json", "show-commands"],
    json: 'one object: {"drone_id", "files", "env_file", "state_file", "keys": [{"module", "key", "value", "source", "source_kind", "secret", "command", "configured"}], "home_assistant": [the same, for hass.BASE_URL, hass.TOKEN, synapse.DATABASE_URL], "ignored_variables", "home_assistant_token", "problems", "warnings"}',
    examples: ["backup-drone config", "backup-drone config --env-file /etc/backup-drone.env", "backup-drone config --json | jq -r '.keys[] | select(.source_kind != \"default\") | .key'"],
    exitCodes: [0, 2],
    writes: false,
  },
  status: {
    summary: "print the settings, what the drone last did, and whether an operation runs now",
    description: ["Reads the drone's state file; it does not touch the repository."],
    options: ["json", "verbose"],
    json: 'one object: {"drone_id", "repository", "offsite_repository", "settings", "persisted", "live", "due"}',
    examples: ["backup-drone status", "backup-drone status --json | jq .persisted.lastBackup"],
    exitCodes: [0, 2],
    writes: false,
  },
};
