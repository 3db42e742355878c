/**
 * The database tools as data: for each kind of dump, the program, its arguments and the
 * variables it gets, and how its password reaches it. Pure: nothing here reads a file or
 * starts a process (stream.mts does both). A password is never part of `args` nor `env`:
 * it rides in `secret`, which only the process runner opens.
 *
 * - postgresql: `pg_dump -Fc` for one database, `pg_dumpall` for `all`; the password as
 *   PGPASSWORD in that child's environment only.
 * - mariadb: `mariadb-dump` (or `mysqldump` where that is the installed one), one database
 *   by its name alone (no CREATE DATABASE/USE in the dump), `all` with `--all-databases`; with
 *   `--defaults-extra-file=/dev/fd/0`: an option file read from a pipe. Node's child "pipes"
 *   are socket pairs, which `/dev/fd/N` cannot open ("Could not open required defaults file"),
 *   so `sh` turns the descriptor into a real pipe with `cat`; the password passes through the
 *   kernel only, never a file, argv or an environment.
 * - sqlite: `sqlite3 -bail PATH .dump`: the shell dumps inside one read transaction, a
 *   consistent snapshot of a database in WAL mode that another process writes to. Of a
 *   damaged database it exits 0 with a script that ends in ROLLBACK: only a last line
 *   `COMMIT;` makes the dump whole.
 * - command: `sh -c COMMAND`; its standard output is the data.
 */
import { Secret } from "../../../../libs/borg/index.mjs";
import { type NamedDump } from "./config.mjs";
import { type DumpFormat } from "./manifest.mjs";
import { SQLITE_DUMP_END } from "./script-end.mjs";

/** The descriptor a child reads a secret from (an option file), after stdin, stdout and stderr. */
export const SECRET_FD = 3;

/** How long sqlite3 waits for a lock another connection holds (a write in rollback-journal mode), in ms. */
export const SQLITE_BUSY_TIMEOUT_MS = 60_000;

/** A secret handed to one child: a variable of its environment, or text at a descriptor. */
export type ChildSecret = { kind: "env"; name: string; value: Secret } | { kind: "fd"; fd: number; text: Secret };

/** One run of a dump tool, as data. */
export interface DumpInvocation {
  /** The program (a name on PATH). */
  file: string;
  /** Its arguments; never a password. */
  args: string[];
  /** Variables added to the child's inherited (secret-free) environment; never a password. */
  env: Record<string, string>;
  /** The password, for this child alone. */
  secret?: ChildSecret;
  /** The data file's extension inside the archive. */
  ext: string;
  /** How the data is written: decides the restore tool. */
  format: DumpFormat;
  /** The last line of whole data, where the tool's exit status does not tell (see script-end.mts). */
  lastLine?: string;
}

/** Which programs are installed, where a kind has a choice. */
export interface DumpTools {
  /** `mariadb-dump`, or `mysqldump` where only that is installed. */
  mariadbDump: string;
}

/** Push `flag value` when the value is set. */
function option(args: string[], flag: string, value: string | number | undefined): void {
  if (value !== undefined) args.push(flag, String(value));
}

/** A value in a MariaDB option file: double-quoted, with `\` and `"` escaped (a `#` inside is then no comment). */
export const optionFileValue = (value: string) => `"${value.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;

/** The MariaDB option file that carries a password. */
export const mariadbOptionFile = (password: string) => `[client]\npassword=${optionFileValue(password)}\n`;

type Kind<K extends NamedDump["kind"]> = Extract<NamedDump, { kind: K }>;

function postgresqlDump(dump: Kind<"postgresql">, password: Secret | undefined): DumpInvocation {
  const all = dump.database === "all";
  // -Fc: compressed, and pg_restore can restore it selectively; pg_dumpall has only plain SQL
  const args = all ? [] : ["--format=custom"];
  option(args, "--host", dump.host);
  option(args, "--port", dump.port);
  option(args, "--username", dump.user);
  // never ask: there is no terminal, and a prompt would only wait for the timeout
  args.push("--no-password", ...dump.options);
  if (!all) args.push(dump.database);
  const invocation: DumpInvocation = { file: all ? "pg_dumpall" : "pg_dump", args, env: {}, ext: all ? "sql" : "pgdump", format: all ? "sql" : "pg_custom" };
  if (password) invocation.secret = { kind: "env", name: "PGPASSWORD", value: password };
  return invocation;
}

function mariadbDump(dump: Kind<"mariadb">, password: Secret | undefined, tools: DumpTools): DumpInvocation {
  // one consistent InnoDB snapshot without locking the tables, and the database's code too
  const args = ["--single-transaction", "--routines", "--events", "--triggers"];
  option(args, "--host", dump.host);
  option(args, "--port", dump.port);
  option(args, "--socket", dump.socket);
  option(args, "--user", dump.user);
  args.push(...dump.options);
  // one database: its name last, without --databases, so that the dump holds no CREATE
  // DATABASE nor USE and restores into whichever database the restore names (`--database`)
  if (dump.database === "all") args.push("--all-databases");
  else args.push(dump.database);
  const base = { env: {}, ext: "sql", format: "sql" as const };
  if (!password) return { file: tools.mariadbDump, args, ...base };
  // --defaults-extra-file must come first; `$0` is the tool, `$@` its arguments
  return {
    file: "sh",
    args: ["-c", `cat <&${SECRET_FD} | exec "$0" "$@"`, tools.mariadbDump, "--defaults-extra-file=/dev/fd/0", ...args],
    ...base,
    secret: { kind: "fd", fd: SECRET_FD, text: new Secret(mariadbOptionFile(password.reveal())) },
  };
}

function sqliteDump(dump: Kind<"sqlite">): DumpInvocation {
  return {
    file: "sqlite3",
    args: ["-bail", "-cmd", `.timeout ${SQLITE_BUSY_TIMEOUT_MS}`, dump.path, ".dump"],
    env: {},
    ext: "sql",
    format: "sql",
    // a damaged database: exit 0, and the script ends in ROLLBACK
    lastLine: SQLITE_DUMP_END,
  };
}

function commandDump(dump: Kind<"command">): DumpInvocation {
  return { file: "sh", args: ["-c", dump.command], env: {}, ext: dump.extension, format: "raw" };
}

/** The data file's extension and format of a dump, without building its command. */
export function dumpFileOf(dump: NamedDump): { ext: string; format: DumpFormat } {
  switch (dump.kind) {
    case "postgresql":
      return dump.database === "all" ? { ext: "sql", format: "sql" } : { ext: "pgdump", format: "pg_custom" };
    case "mariadb":
    case "sqlite":
      return { ext: "sql", format: "sql" };
    case "command":
      return { ext: dump.extension, format: "raw" };
  }
}

/** The tool that writes a dump to its standard output, with its password (read from `password_file`) for it alone. */
export function dumpInvocation(dump: NamedDump, password: Secret | undefined, tools: DumpTools): DumpInvocation {
  switch (dump.kind) {
    case "postgresql":
      return postgresqlDump(dump, password);
    case "mariadb":
      return mariadbDump(dump, password, tools);
    case "sqlite":
      return sqliteDump(dump);
    case "command":
      return commandDump(dump);
  }
}

/** The password in a `password_file`'s text: its first line, without the line end. */
export const passwordOf = (text: string) => text.split(/\r?\n/, 1)[0] ?? "";

