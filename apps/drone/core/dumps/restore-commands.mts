/**
 * The restore side of a dump, as data: which tool reads a dump's data back (chosen from the
 * manifest's kind and format), its argv and environment, what it writes into, and whether
 * that replaces something that is there. Pure: nothing here reads a file or starts a process
 * (dumps/restore.mts does), so the exact argv is tested without a database.
 *
 * Passwords: never in argv. PostgreSQL's tools get PGPASSWORD in their own environment
 * (added at run time, for that one child); MariaDB's client gets an option file
 * (`[client] password=…`, `--defaults-extra-file`) through a pipe, as on the dump side
 * (commands.mts): the password is in no environment and never on disk. The client's stdin
 * carries the dump, so the option file comes on another descriptor: see
 * {@link MARIADB_RESTORE_SCRIPT}.
 */
import { basename, dirname, isAbsolute, join } from "node:path";

import { SECRET_FD } from "./commands.mjs";
import { type DumpKind, type DumpSetting } from "./config.mjs";
import { type DumpFormat, type DumpManifest, selectsOwnDatabase } from "./manifest.mjs";

/** The descriptor the MariaDB client opens its option file at, inside {@link MARIADB_RESTORE_SCRIPT}. */
export const OPTION_FILE_FD = 5;

/** The MariaDB client's option file: a pipe at {@link OPTION_FILE_FD} (see {@link MARIADB_RESTORE_SCRIPT}). */
export const OPTION_FILE = `/dev/fd/${OPTION_FILE_FD}`;

/**
 * How the MariaDB client gets its option file on a pipe while its stdin carries the dump
 * (`sh -c SCRIPT mariadb ARGS…`, the option file written to descriptor SECRET_FD): the
 * shell keeps the dump at descriptor 4, `cat` turns the secret's descriptor into a real pipe
 * (Node's child "pipes" are socket pairs, which /dev/fd/N cannot open), and the client gets
 * that pipe at descriptor 5 and the dump back on stdin.
 */
export const MARIADB_RESTORE_SCRIPT = `exec 4<&0; cat <&${SECRET_FD} | exec "$0" "$@" ${OPTION_FILE_FD}<&0 0<&4 4<&-`;

/** Where a dump is restored to: its database (the configured one, or `--to-database`), or a file. */
export type RestoreDestination = { kind: "database"; database?: string } | { kind: "file"; path: string };

/** How a password reaches the tool, from the dump's `password_file`. */
export type PasswordDelivery = { file: string; via: "PGPASSWORD" } | { file: string; via: "option_file" };

/** A tool that reads the dump on its stdin. */
export interface RestoreTool {
  kind: "tool";
  /** The program (looked up on PATH). */
  program: string;
  args: string[];
  /** Variables for this tool alone, never a secret (the password is added at run time, see {@link PasswordDelivery}). */
  env: Record<string, string>;
  password?: PasswordDelivery;
  /** What it writes into, for people: `database shop on 127.0.0.1:5432 as backup`. */
  target: string;
  /** It replaces what is there (a live database, an existing file): needs a confirmation. */
  replaces: boolean;
  /**
   * sqlite: the tool builds a new database in `buildFile` (next to `file`), which replaces
   * `file` only once the tool succeeded; a failed restore leaves `file` untouched.
   */
  sqlite?: { file: string; buildFile: string };
  /** The tool's ERROR lines are warnings, not a failure (psql of a pg_dumpall into a live server: its roles exist already). */
  errorsAreWarnings: boolean;
}

/** The dump's bytes into a new file, as they are. */
export interface RestoreFile {
  kind: "file";
  path: string;
  target: string;
  replaces: false;
}

/** What a dump restore runs: a tool, or a copy into a file. */
export type RestorePlan = RestoreTool | RestoreFile;

/** Why a restore cannot be planned: the drone error kind and a message that says what to do. */
export class RestorePlanError extends Error {
  override readonly name = "RestorePlanError";
  constructor(
    readonly kind: "dump_not_configured" | "target_invalid",
    message: string,
  ) {
    super(message);
  }
}

/** A PostgreSQL connection's options, as its tools take them (no host: the local socket). */
function postgresConnection(setting: Extract<DumpSetting, { kind: "postgresql" }>): string[] {
  const args: string[] = [];
  if (setting.host !== undefined) args.push("--host", setting.host);
  if (setting.port !== undefined) args.push("--port", String(setting.port));
  if (setting.user !== undefined) args.push("--username", setting.user);
  return args;
}

/** Where a PostgreSQL or MariaDB connection goes, for people. */
function serverText(setting: { host?: string; port?: number; user?: string; socket?: string }): string {
  const place = setting.host !== undefined ? `${setting.host}${setting.port === undefined ? "" : `:${setting.port}`}` : (setting.socket ?? "the local socket");
  return `${place}${setting.user === undefined ? "" : ` as ${setting.user}`}`;
}

/** The default options of pg_restore: drop what the dump recreates, all in one transaction (a failure changes nothing). */
export const PG_RESTORE_DEFAULTS = ["--clean", "--if-exists", "--single-transaction"] as const;

type ToolInput = { manifest: DumpManifest; setting: DumpSetting | undefined; database?: string };
type ToolBuilder = (input: ToolInput) => RestoreTool;

/** The configured setting of a dump, of the kind its manifest names. */
function settingOf<K extends DumpKind>(input: ToolInput, kind: K): Extract<DumpSetting, { kind: K }> {
  const { setting, manifest } = input;
  if (setting === undefined) {
    throw new RestorePlanError(
      "dump_not_configured",
      `DUMPS has no entry ${manifest.name}: the ${kind} connection to restore into (host, port, user, password_file) is unknown; add the entry back, or take the data with --to-file PATH`,
    );
  }
  if (setting.kind !== kind) {
    throw new RestorePlanError(
      "dump_not_configured",
      `DUMPS.${manifest.name} is now of kind ${setting.kind}, but the archive's dump is of kind ${kind}: restore it with --to-file PATH, or set the entry back to ${kind}`,
    );
  }
  return setting as Extract<DumpSetting, { kind: K }>;
}

const postgresCustom: ToolBuilder = input => {
  const setting = settingOf(input, "postgresql");
  const database = input.database ?? (input.manifest.database !== undefined && input.manifest.database !== "all" ? input.manifest.database : setting.database);
  if (database === "all") throw new RestorePlanError("target_invalid", "a pg_restore needs one database: name it with --to-database NAME");
  const options = setting.restore_options.length > 0 ? setting.restore_options : [...PG_RESTORE_DEFAULTS];
  return {
    kind: "tool",
    program: "pg_restore",
    // no file: pg_restore reads the archive on stdin; --no-password: never a prompt on a terminal
    args: ["--no-password", ...postgresConnection(setting), "--dbname", database, ...options],
    env: {},
    ...(setting.password_file === undefined ? {} : { password: { file: setting.password_file, via: "PGPASSWORD" as const } }),
    target: `PostgreSQL database ${database} on ${serverText(setting)}`,
    replaces: true,
    errorsAreWarnings: false,
  };
};

const postgresSql: ToolBuilder = input => {
  const setting = settingOf(input, "postgresql");
  const all = input.manifest.database === "all";
  // a pg_dumpall script connects to each database itself; psql starts in the maintenance database
  const database = input.database ?? (all ? "postgres" : (input.manifest.database ?? setting.database));
  const stopOnError = all ? [] : ["--set", "ON_ERROR_STOP=1", "--single-transaction"];
  return {
    kind: "tool",
    program: "psql",
    args: ["--no-psqlrc", "--no-password", "--quiet", ...postgresConnection(setting), "--dbname", database, ...stopOnError, ...setting.restore_options],
    env: {},
    ...(setting.password_file === undefined ? {} : { password: { file: setting.password_file, via: "PGPASSWORD" as const } }),
    target: all ? `every database of the PostgreSQL server ${serverText(setting)} (pg_dumpall)` : `PostgreSQL database ${database} on ${serverText(setting)}`,
    replaces: true,
    // a pg_dumpall script creates the roles and databases it holds: those that exist are
    // errors psql reports and goes past, as PostgreSQL's documentation expects
    errorsAreWarnings: all,
  };
};

const mariadbSql: ToolBuilder = input => {
  const setting = settingOf(input, "mariadb");
  const all = input.manifest.database === "all";
  const database = input.database ?? (all ? undefined : (input.manifest.database ?? setting.database));
  const args: string[] = [];
  // must come first: the client reads its option files before anything else
  if (setting.password_file !== undefined) args.push(`--defaults-extra-file=${OPTION_FILE}`);
  if (setting.host !== undefined) args.push("--host", setting.host);
  if (setting.port !== undefined) args.push("--port", String(setting.port));
  if (setting.socket !== undefined) args.push("--socket", setting.socket);
  if (setting.user !== undefined) args.push("--user", setting.user);
  args.push("--batch", ...setting.restore_options);
  if (database !== undefined && database !== "all") args.push("--database", database);
  return {
    kind: "tool",
    program: "mariadb",
    args,
    env: {},
    ...(setting.password_file === undefined ? {} : { password: { file: setting.password_file, via: "option_file" as const } }),
    target: database === undefined || database === "all" ? `every database of the MariaDB server ${serverText(setting)}` : `MariaDB database ${database} on ${serverText(setting)}`,
    replaces: true,
    errorsAreWarnings: false,
  };
};

const sqliteSql: ToolBuilder = input => {
  const configured = input.setting?.kind === "sqlite" ? input.setting.path : undefined;
  const file = input.database ?? configured ?? input.manifest.path;
  if (file === undefined) throw new RestorePlanError("target_invalid", `the dump ${input.manifest.name} names no database file: give one with --to-database /path/to/new.db`);
  if (!isAbsolute(file)) throw new RestorePlanError("target_invalid", `--to-database for a sqlite dump is a file: an absolute path, got ${JSON.stringify(file)}`);
  // a name that sqlite's shell would not read as a file (`:memory:`, an option) is not one here either
  const buildFile = join(dirname(file), `.${basename(file)}.restoring-${process.pid}`);
  return {
    kind: "tool",
    program: "sqlite3",
    args: ["-batch", "-bail", buildFile],
    env: {},
    target: `SQLite database ${file}`,
    // whether the file exists is known only at run time: the runner decides
    replaces: false,
    sqlite: { file, buildFile },
    errorsAreWarnings: false,
  };
};

const commandRestore: ToolBuilder = input => {
  const setting = settingOf(input, "command");
  if (setting.restore_command === undefined) {
    throw new RestorePlanError(
      "dump_not_configured",
      `DUMPS.${input.manifest.name} has no restore_command: take the data with --to-file PATH, or set restore_command (it reads the data on stdin)`,
    );
  }
  return {
    kind: "tool",
    program: "sh",
    args: ["-c", setting.restore_command],
    env: {},
    target: `the restore_command of ${input.manifest.name}`,
    replaces: true,
    errorsAreWarnings: false,
  };
};

/** The tool of each kind and format a dump can have. */
const TOOLS: Readonly<Record<`${DumpKind}/${DumpFormat}`, ToolBuilder | undefined>> = {
  "postgresql/pg_custom": postgresCustom,
  "postgresql/sql": postgresSql,
  "postgresql/raw": undefined,
  "mariadb/sql": mariadbSql,
  "mariadb/pg_custom": undefined,
  "mariadb/raw": undefined,
  "sqlite/sql": sqliteSql,
  "sqlite/pg_custom": undefined,
  "sqlite/raw": undefined,
  "command/raw": commandRestore,
  "command/sql": commandRestore,
  "command/pg_custom": commandRestore,
};

/**
 * Why a dump whose data selects its own databases cannot go into `elsewhere`: the tool would
 * follow the data's USE (or `\connect`) and write into the original database.
 */
function ownDatabaseRefusal(manifest: DumpManifest, elsewhere: string): string {
  const fallback = "restore it without --to-database, or take the data with --to-file PATH";
  if (manifest.database === "all" || manifest.database === undefined) {
    return `the dump ${manifest.name} holds every database of the server, each restored under its own name: --to-database ${elsewhere} cannot send it elsewhere; ${fallback}`;
  }
  return (
    `the dump ${manifest.name} in this archive selects its database itself (its SQL holds USE \`${manifest.database}\`, as MariaDB dumps of earlier drones do): ` +
    `restored with --to-database ${elsewhere} it would write into ${manifest.database}; ${fallback}`
  );
}

/**
 * What restoring a dump runs: its tool, with the connection of the dump's `DUMPS` entry and
 * the database the manifest names (or `destination.database`), or a copy into a new file.
 * Throws a {@link RestorePlanError} saying what to do when it cannot be planned.
 */
export function planRestore(manifest: DumpManifest, setting: DumpSetting | undefined, destination: RestoreDestination): RestorePlan {
  if (destination.kind === "file") {
    if (!isAbsolute(destination.path)) throw new RestorePlanError("target_invalid", `--to-file needs an absolute path, got ${JSON.stringify(destination.path)}`);
    return { kind: "file", path: destination.path, target: `the file ${destination.path}`, replaces: false };
  }
  const build = TOOLS[`${manifest.kind}/${manifest.format}`];
  if (!build) {
    throw new RestorePlanError("target_invalid", `no tool restores a ${manifest.kind} dump of format ${manifest.format}: take the data with --to-file PATH`);
  }
  if (destination.database !== undefined && destination.database.trim().length === 0) throw new RestorePlanError("target_invalid", "--to-database needs a name");
  const elsewhere = destination.database !== undefined && destination.database !== manifest.database ? destination.database : undefined;
  if (elsewhere !== undefined && selectsOwnDatabase(manifest)) throw new RestorePlanError("target_invalid", ownDatabaseRefusal(manifest, elsewhere));
  return build({ manifest, setting, ...(destination.database === undefined ? {} : { database: destination.database }) });
}

/** The command line of a tool as a person reads it (no secret is ever in it). */
export function toolLine(tool: RestoreTool): string {
  return [tool.program, ...tool.args].map(word => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`)).join(" ");
}
