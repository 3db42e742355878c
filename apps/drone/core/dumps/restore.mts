/**
 * Restoring a dump from an archive: find it (the archive named, or this drone's newest that
 * holds it), read its manifest (`borg extract --stdout`), plan the tool (restore-commands.mts),
 * and stream `borg extract --stdout` of its data straight into the tool's stdin, or into a new
 * file. Nothing of the dump lands on disk on the way.
 *
 * What a failure leaves: the tool gets the end of its input only after borg exited 0, so a
 * borg that fails (a wrong passphrase, damaged data, a cancel) stops the tool before it sees
 * a cut dump as whole. pg_restore (in one transaction by default) and a sqlite restore (built
 * in a new file that replaces the old one only at the end) change nothing then; psql of a
 * pg_dumpall script and mariadb keep what they ran until then, as they would by hand.
 */
import { access, chmod, chown, constants, link, lstat, readFile, rename, rm, stat, unlink } from "node:fs/promises";
import { createWriteStream } from "node:fs";
import { basename, delimiter, dirname, join } from "node:path";
import { Transform, type Writable } from "node:stream";
import { finished } from "node:stream/promises";

import { inheritedEnv } from "../../../../libs/borg/environment.mjs";
import { type ArchiveItem, type ArchiveListEntry, type BorgClient, type CallOptions, Secret } from "../../../../libs/borg/index.mjs";
import { errorText } from "../../../../libs/config/index.mjs";
import { type ProcessRun, runProcess } from "../../../../libs/process/index.mjs";
import { secretConfigVariables } from "../../config.mjs";
import { DroneError } from "../errors.mjs";
import { archiveProblem, LATEST } from "../restore.mjs";
import { DUMP_NAME_PATTERN, type NamedDump } from "./config.mjs";
import { type DumpManifest, dumpManifestPath, dumpManifestSchema, DUMPS_DIR } from "./manifest.mjs";
import { mariadbOptionFile, passwordOf, SECRET_FD } from "./commands.mjs";
import { MARIADB_RESTORE_SCRIPT, planRestore, RestorePlanError, type RestoreDestination, type RestorePlan, type RestoreTool } from "./restore-commands.mjs";
import { scriptEndProblem, SQLITE_DUMP_END, TAIL_BYTES } from "./script-end.mjs";

/** What to restore: a dump by name, from which archive, to where. */
export interface DumpRestoreRequest {
  name: string;
  /** One of this drone's archives, or `latest`; default: this drone's newest archive holding the dump. */
  archive?: string;
  destination: RestoreDestination;
  /** Replace what is there (a live database, an existing sqlite file): a person confirmed it, or said --yes. */
  replace: boolean;
}

/** A dump as an archive holds it: its manifest's presence, and its data file with the size borg lists. */
export interface DumpEntry {
  name: string;
  /** The data's file name inside the dumps folder, `<name>.<ext>`; null when only the manifest is there. */
  file: string | null;
  /** The data's size in bytes, when borg listed it. */
  size: number | null;
}

/** The dumps a listing of the dumps folder shows: one per manifest (`<name>.json`), with its data file. Pure. */
export function dumpsInItems(items: readonly ArchiveItem[]): DumpEntry[] {
  const files = items.filter(item => item.type === "-" && item.path.startsWith(`${DUMPS_DIR}/`)).map(item => ({ name: item.path.slice(DUMPS_DIR.length + 1), size: item.size ?? null }));
  const names = files.flatMap(file => {
    const match = /^([a-z0-9][a-z0-9_-]{0,62})\.json$/.exec(file.name);
    return match?.[1] === undefined ? [] : [match[1]];
  });
  return names.sort().map(name => {
    const data = files.find(file => file.name !== `${name}.json` && file.name.startsWith(`${name}.`) && /^[A-Za-z0-9]{1,16}$/.test(file.name.slice(name.length + 1)));
    return { name, file: data?.name ?? null, size: data?.size ?? null };
  });
}

/** What a dump restore will do, found out before anything is written: the `--dry-run` answer. */
export interface PreparedDumpRestore {
  name: string;
  archive: string;
  manifest: DumpManifest;
  /** The data's path inside the archive. */
  dataPath: string;
  /** The data's size in bytes, as borg lists it. */
  size: number | null;
  plan: RestorePlan;
  /** The tool's path, as found on PATH (a file restore has none). */
  programPath: string | null;
  /** It replaces what is there: a live database, an existing sqlite file, whatever a restore_command writes. */
  replaces: boolean;
}

/** What preparing a restore reads through. */
export interface DumpReader {
  client: BorgClient;
  /** Options of each borg call (a run's abort and recorded pid; none for a plain read). */
  call: () => CallOptions;
  /** This drone's archives, newest first. */
  archives: () => Promise<ArchiveListEntry[]>;
  archivePrefix: string;
  droneId: string;
  dumps: readonly NamedDump[];
}

/** The dumps one archive holds. */
export async function dumpsOfArchive(client: BorgClient, archive: string, call: CallOptions = {}): Promise<DumpEntry[]> {
  return dumpsInItems((await client.listItems(archive, [DUMPS_DIR], call)).value);
}

/** Where a program is on PATH (or whether a path to it is executable); undefined when it is not there. */
export async function findProgram(program: string, path = process.env.PATH ?? ""): Promise<string | undefined> {
  const candidates = program.includes("/") ? [program] : path.split(delimiter).filter(dir => dir.length > 0).map(dir => join(dir, program));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

const exists = async (path: string) =>
  lstat(path).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return false;
      throw error;
    },
  );

/** The archive and the dump in it: the one named, or this drone's newest that holds the dump. */
async function locate(reader: DumpReader, name: string, archive: string | undefined): Promise<{ archive: string; entry: DumpEntry }> {
  const call = reader.call();
  const missing = (where: string, held: readonly DumpEntry[]) =>
    new DroneError("dump_missing", `${where} holds no dump named ${name}${held.length > 0 ? ` (it holds ${held.map(dump => dump.name).join(", ")})` : ""}; see \`backup-drone list --dumps\``);
  if (archive !== undefined && archive !== LATEST) {
    const problem = archiveProblem(archive, reader.archivePrefix);
    if (problem) throw new DroneError("archive_not_ours", problem);
    const held = await dumpsOfArchive(reader.client, archive, call);
    const entry = held.find(dump => dump.name === name);
    if (!entry) throw missing(`archive ${archive}`, held);
    return { archive, entry };
  }
  const archives = await reader.archives();
  if (archives.length === 0) throw new DroneError("no_archives", `${reader.droneId} has no archives yet: nothing to restore`);
  // `latest` is the newest archive, whatever it holds; without --archive, the newest that holds the dump
  const candidates = archive === LATEST ? archives.slice(0, 1) : archives;
  for (const candidate of candidates) {
    const held = await dumpsOfArchive(reader.client, candidate.name, call);
    const entry = held.find(dump => dump.name === name);
    if (entry) return { archive: candidate.name, entry };
    if (archive === LATEST) throw missing(`the newest archive ${candidate.name}`, held);
  }
  throw new DroneError("dump_missing", `no archive of ${reader.droneId} holds a dump named ${name}; see \`backup-drone list --dumps\``);
}

/** Read and check a dump's manifest. */
async function readManifest(reader: DumpReader, archive: string, name: string): Promise<DumpManifest> {
  const run = await reader.client.extractStdout({ archive, path: dumpManifestPath(name) }, reader.call());
  let json: unknown;
  try {
    json = JSON.parse(run.value);
  } catch {
    json = undefined;
  }
  const parsed = dumpManifestSchema.safeParse(json);
  if (!parsed.success || parsed.data.name !== name) {
    throw new DroneError("dump_missing", `the manifest of ${name} in ${archive} (${dumpManifestPath(name)}) is not one this drone reads; take the data with borg extract --stdout`);
  }
  return parsed.data;
}

/**
 * Find out what a dump restore would do, reading only: the archive, the manifest, the data's
 * size, the tool and whether it is installed, whether the target would be replaced. Throws a
 * {@link DroneError} saying what is wrong.
 */
export async function prepareDumpRestore(reader: DumpReader, request: DumpRestoreRequest): Promise<PreparedDumpRestore> {
  const { name } = request;
  if (!DUMP_NAME_PATTERN.test(name)) throw new DroneError("dump_missing", `${JSON.stringify(name)} is not a dump name (lowercase letters, digits, - or _); see \`backup-drone list --dumps\``);
  const { archive, entry } = await locate(reader, name, request.archive);
  const manifest = await readManifest(reader, archive, name);
  if (entry.file !== manifest.file) {
    throw new DroneError("dump_missing", `archive ${archive} holds the manifest of ${name} but not its data (${DUMPS_DIR}/${manifest.file})`);
  }
  let plan: RestorePlan;
  try {
    plan = planRestore(manifest, reader.dumps.find(dump => dump.name === name), request.destination);
  } catch (error) {
    if (error instanceof RestorePlanError) throw new DroneError(error.kind, error.message);
    throw error;
  }
  const dataPath = `${DUMPS_DIR}/${manifest.file}`;
  const prepared = { name, archive, manifest, dataPath, size: entry.size };
  if (plan.kind === "file") {
    if (await exists(plan.path)) throw new DroneError("target_not_empty", `${plan.path} exists; restore-dump --to-file never replaces a file: name a new one`);
    if (!(await exists(dirname(plan.path)))) throw new DroneError("target_invalid", `the folder of ${plan.path} does not exist`);
    return { ...prepared, plan, programPath: null, replaces: false };
  }
  const programPath = await findProgram(plan.program);
  if (programPath === undefined) throw new DroneError("tool_missing", `${plan.program} is not installed (not found on PATH): install it to restore ${name} (${manifest.kind}), or take the data with --to-file PATH`);
  let replaces = plan.replaces;
  if (plan.sqlite) {
    const { file } = plan.sqlite;
    if (!(await exists(dirname(file)))) throw new DroneError("target_invalid", `the folder of ${file} does not exist`);
    for (const companion of [`${file}-wal`, `${file}-shm`, `${file}-journal`]) {
      if (await exists(companion)) {
        throw new DroneError("target_invalid", `${basename(companion)} exists beside ${file}: a program has the database open (or crashed with it open); stop it (e.g. Home Assistant) before restoring over it, or restore to a new file with --to-database`);
      }
    }
    replaces = await exists(file);
  }
  return { ...prepared, plan, programPath, replaces };
}

/** What a dump restore did. */
export interface DumpRestoreOutcome {
  bytes: number;
  /** The tool's errors it went past (psql of a pg_dumpall), redacted. */
  warnings: string[];
}

/** How a dump restore runs. */
export interface DumpRestoreRun {
  client: BorgClient;
  call: CallOptions;
  /** The run's abort. */
  signal: AbortSignal;
  /** The bytes streamed so far (called often: throttle it). */
  onBytes: (bytes: number) => void;
  log: { info(message: string): void; warn(message: string): void };
}

/** The first line of what a tool said that is not blank, redacted. */
const firstLine = (text: string, redact: (text: string) => string) =>
  redact(text)
    .split("\n")
    .map(line => line.trim())
    .find(line => line.length > 0);

/** The password of a dump: the first line of its file, as on the dump side. */
async function passwordFrom(name: string, file: string): Promise<Secret> {
  const text = await readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
    throw new DroneError("dump_not_configured", `cannot read DUMPS.${name}.password_file ${file}: ${error.code ?? "error"}`);
  });
  return new Secret(passwordOf(text));
}

/** A statement that makes a table, at a line's start: sqlite3 .dump writes one per table. */
const CREATE_TABLE = /\nCREATE TABLE /;

/** A stream that counts the bytes going through it, and keeps their end and whether they make a table (a sqlite script). */
function byteCounter(onBytes: (bytes: number) => void): { stream: Transform; bytes: () => number; tail: () => string; createsTable: () => boolean } {
  let bytes = 0;
  // the stream's start counts as a line's start
  let tail = Buffer.from("\n");
  let createsTable = false;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      onBytes(bytes);
      // the end of the chunk before, so that a statement cut between two chunks is seen
      const seen = Buffer.concat([tail, chunk]);
      if (!createsTable) createsTable = CREATE_TABLE.test(seen.toString("latin1"));
      tail = seen.subarray(Math.max(0, seen.length - TAIL_BYTES));
      done(null, chunk);
    },
  });
  return { stream, bytes: () => bytes, tail: () => tail.toString("utf8"), createsTable: () => createsTable };
}

/** The tables of a SQLite database file, counted by sqlite3; undefined when it cannot tell. */
async function tableCount(programPath: string, file: string, env: Record<string, string>): Promise<number | undefined> {
  const ran = await runProcess(programPath, ["-batch", "-readonly", file, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"], {
    env,
    stop: { signals: ["SIGTERM", "SIGKILL"], graceMs: 5000 },
    timeoutMs: 60_000,
    keep: { stdout: 100 },
  });
  const count = Number(ran.stdout.trim());
  return ran.end.kind === "exited" && ran.end.code === 0 && Number.isInteger(count) ? count : undefined;
}

/**
 * Why a sqlite database built from a dump must not replace the file: a script that ends in
 * ROLLBACK (sqlite3 .dump of a damaged database, stored by a drone that did not check), or a
 * database with no table built from a script that makes some. Undefined when it may.
 */
async function sqliteBuildProblem(programPath: string, buildFile: string, counter: ReturnType<typeof byteCounter>, env: Record<string, string>): Promise<string | undefined> {
  const end = scriptEndProblem(counter.tail(), SQLITE_DUMP_END);
  if (end !== undefined) return `the dump is not a whole sqlite3 script (${end}): it was made of a database sqlite3 could not read whole`;
  if (!counter.createsTable()) return undefined;
  const tables = await tableCount(programPath, buildFile, env);
  if (tables === undefined) return "sqlite3 cannot read the database built from the dump";
  return tables === 0 ? "the database built from the dump holds no table, though the dump makes some" : undefined;
}

/** `borg extract --stdout` of the data into `to`, stoppable by `stop` as well as by the run. */
function extractInto(run: DumpRestoreRun, prepared: PreparedDumpRestore, to: Writable, stop: AbortSignal) {
  return run.client.extractStdout({ archive: prepared.archive, path: prepared.dataPath, to }, { ...run.call, signal: AbortSignal.any([run.signal, stop]) });
}

/** Stream the data into a new file: written under a temporary name, linked to its name only when whole. */
async function restoreToFile(run: DumpRestoreRun, prepared: PreparedDumpRestore, path: string): Promise<DumpRestoreOutcome> {
  const partial = join(dirname(path), `.${basename(path)}.partial-${process.pid}`);
  const counter = byteCounter(run.onBytes);
  const file = createWriteStream(partial, { flags: "wx", mode: 0o600 });
  const stopBorg = new AbortController();
  let fileError: Error | undefined;
  file.on("error", error => {
    fileError = error;
    stopBorg.abort(error);
  });
  counter.stream.pipe(file);
  try {
    try {
      await extractInto(run, prepared, counter.stream, stopBorg.signal);
    } catch (error) {
      if (fileError) throw new DroneError("target_invalid", `writing ${path} failed: ${errorText(fileError)}`);
      throw error;
    }
    counter.stream.end();
    await finished(file);
    // a link fails when the name appeared meanwhile: nothing is ever replaced
    await link(partial, path).catch((error: NodeJS.ErrnoException) => {
      throw new DroneError(error.code === "EEXIST" ? "target_not_empty" : "target_invalid", `cannot create ${path}: ${error.code ?? errorText(error)}`);
    });
    return { bytes: counter.bytes(), warnings: [] };
  } finally {
    counter.stream.destroy();
    file.destroy();
    await unlink(partial).catch(() => undefined);
  }
}

/** The environment of a tool: ours without secrets, its own variables, and PGPASSWORD for PostgreSQL's tools when a password file is set. */
function toolEnv(tool: RestoreTool, password: Secret | undefined): Record<string, string> {
  const env = inheritedEnv(process.env, { drop: secretConfigVariables() });
  Object.assign(env, tool.env);
  if (tool.program === "pg_restore" || tool.program === "psql") env.PGCONNECT_TIMEOUT ??= "30";
  if (password && tool.password?.via === "PGPASSWORD") env.PGPASSWORD = password.reveal();
  return env;
}

/** Why a tool's failure reads as a login failure, for the hint. */
const LOGIN_FAILED = /password authentication failed|no password supplied|Access denied for user|authentication failed/i;
/** Why a tool's failure reads as a missing database (restores go into an existing one), for the hint. */
const NO_DATABASE = /database "[^"]*" does not exist|Unknown database/;

/** What to do about a tool's first line, when it says something we recognise. */
function hintFor(said: string | undefined, name: string): string {
  if (said === undefined) return "";
  if (LOGIN_FAILED.test(said)) return `; check the user and DUMPS.${name}.password_file (or the tool's own password configuration)`;
  if (NO_DATABASE.test(said)) return "; create the database first (PostgreSQL: createdb NAME; MariaDB: CREATE DATABASE NAME), then restore again";
  return "";
}

/** Read the tool's password, hand it over, and stream the data into the tool. */
async function restoreWithTool(run: DumpRestoreRun, prepared: PreparedDumpRestore, tool: RestoreTool, programPath: string): Promise<DumpRestoreOutcome> {
  const passwordFile = tool.password?.file;
  const password = passwordFile === undefined ? undefined : await passwordFrom(prepared.name, passwordFile);
  if (tool.sqlite) await rm(tool.sqlite.buildFile, { force: true });
  if (password && tool.password?.via === "option_file") {
    // MariaDB's password: an option file on a pipe, never on disk (MARIADB_RESTORE_SCRIPT)
    const args = ["-c", MARIADB_RESTORE_SCRIPT, programPath, ...tool.args];
    return await streamIntoTool(run, prepared, tool, "sh", args, password, { fd: SECRET_FD, text: mariadbOptionFile(password.reveal()) });
  }
  return await streamIntoTool(run, prepared, tool, programPath, tool.args, password);
}

/**
 * Give the new sqlite file the owner and mode of the one it replaces: a drone that runs as
 * root restores Home Assistant's database, which Home Assistant's own user must still write.
 */
async function keepOwnerAndMode(build: string, file: string, log: DumpRestoreRun["log"]): Promise<void> {
  const old = await stat(file).catch(() => undefined);
  if (!old) return;
  await chmod(build, old.mode & 0o7777);
  const made = await stat(build);
  if (made.uid === old.uid && made.gid === old.gid) return;
  await chown(build, old.uid, old.gid).catch((error: NodeJS.ErrnoException) => {
    log.warn(`${file} was owned by uid ${old.uid} gid ${old.gid}; the restored file is the drone's user's (${error.code ?? errorText(error)}): give it back with chown`);
  });
}

/** Stream the data into the tool (argv with its option file), then judge what each side did. */
async function streamIntoTool(
  run: DumpRestoreRun,
  prepared: PreparedDumpRestore,
  tool: RestoreTool,
  programPath: string,
  args: readonly string[],
  password: Secret | undefined,
  input?: { fd: number; text: string },
): Promise<DumpRestoreOutcome> {
  const redact = (text: string) => (password ? password.redact(text) : text);
  const counter = byteCounter(run.onBytes);
  const stopBorg = new AbortController();
  const stopTool = new AbortController();

  let borgDone = false;
  const toolRun: Promise<ProcessRun> = runProcess(programPath, args, {
    env: toolEnv(tool, password),
    stdin: counter.stream,
    ...(input === undefined ? {} : { input }),
    // a restore_command's children go with it
    group: true,
    stop: { signals: ["SIGTERM", "SIGKILL"], graceMs: 5000 },
    signal: AbortSignal.any([run.signal, stopTool.signal]),
    keep: { stderr: 64 * 1024 },
  }).then(result => {
    if (!borgDone) {
      // pg_restore ends at its archive's last entry, before borg has exited: a tool that
      // succeeded lets borg finish, the rest of the stream drained; one that failed stops borg,
      // which would otherwise block on a full pipe
      if (result.end.kind === "exited" && result.end.code === 0) counter.stream.resume();
      else stopBorg.abort(new Error("the tool ended"));
    }
    return result;
  });
  const borgRun = extractInto(run, prepared, counter.stream, stopBorg.signal).then(
    result => {
      borgDone = true;
      // the whole dump came: only now does the tool see the end of its input
      counter.stream.end();
      return result;
    },
    (error: unknown) => {
      borgDone = true;
      // never an end of input after a failed extract: the tool is stopped instead
      stopTool.abort(error);
      throw error;
    },
  );
  const [borgOutcome, toolOutcome] = await Promise.allSettled([borgRun, toolRun]);
  counter.stream.destroy();
  const cleanup = async () => {
    if (tool.sqlite) for (const file of [tool.sqlite.buildFile, `${tool.sqlite.buildFile}-journal`]) await rm(file, { force: true });
  };
  if (toolOutcome.status === "rejected") {
    await cleanup();
    throw toolOutcome.reason;
  }
  const ran = toolOutcome.value;
  if (ran.end.kind === "not_started") {
    await cleanup();
    throw new DroneError("tool_missing", `${tool.program} could not start (${ran.end.code}): install it to restore ${prepared.name}, or take the data with --to-file PATH`);
  }
  const said = firstLine(ran.stderr, redact);
  const toolFailed = ran.end.kind === "exited" && ran.end.code !== 0;
  // the tool's own failure is the story, also when borg was stopped for it
  if (toolFailed && !(borgOutcome.status === "rejected" && !stopBorg.signal.aborted)) {
    await cleanup();
    const code = ran.end.kind === "exited" ? (ran.end.code ?? ran.end.signal ?? "?") : "?";
    const hint = hintFor(said, prepared.name);
    throw new DroneError("dump_restore_failed", `restoring ${prepared.name} into ${tool.target}: ${tool.program} failed (exit ${code})${said === undefined ? "" : `: ${said}`}${hint}`);
  }
  if (borgOutcome.status === "rejected") {
    await cleanup();
    throw borgOutcome.reason;
  }
  if (ran.end.kind !== "exited") {
    await cleanup();
    throw new DroneError("interrupted", `${tool.program} was stopped before it finished restoring ${prepared.name}`);
  }
  if (tool.sqlite) {
    const problem = await sqliteBuildProblem(programPath, tool.sqlite.buildFile, counter, toolEnv(tool, undefined));
    if (problem !== undefined) {
      await cleanup();
      throw new DroneError("dump_restore_failed", `restoring ${prepared.name} into ${tool.target}: ${problem}; ${tool.sqlite.file} was left as it was. Take the data with --to-file PATH to look at it, or restore from an older archive`);
    }
    await keepOwnerAndMode(tool.sqlite.buildFile, tool.sqlite.file, run.log);
    await rename(tool.sqlite.buildFile, tool.sqlite.file);
  }
  const errors = redact(ran.stderr)
    .split("\n")
    .filter(line => /\bERROR:/.test(line))
    .map(line => line.trim());
  if (!tool.errorsAreWarnings && ran.stderr.trim().length > 0) run.log.info(`${tool.program}: ${redact(ran.stderr).trim()}`);
  return { bytes: counter.bytes(), warnings: tool.errorsAreWarnings ? errors.map(line => `${tool.program}: ${line}`) : [] };
}

/**
 * Restore a prepared dump: refuses to replace what is there unless the request says so, then
 * streams the data from borg into the tool or the new file.
 */
export async function runDumpRestore(run: DumpRestoreRun, prepared: PreparedDumpRestore, replace: boolean): Promise<DumpRestoreOutcome> {
  if (prepared.replaces && !replace) {
    throw new DroneError(
      "target_not_empty",
      `restoring ${prepared.name} would replace ${prepared.plan.target}; nothing was changed. Confirm on a terminal, or give --yes (or restore into another database with --to-database, or to a file with --to-file)`,
    );
  }
  run.log.info(`restoring dump ${prepared.name} from ${prepared.archive} into ${prepared.plan.target}`);
  if (prepared.plan.kind === "file") return await restoreToFile(run, prepared, prepared.plan.path);
  if (prepared.programPath === null) throw new DroneError("tool_missing", `${prepared.plan.program} is not installed`);
  return await restoreWithTool(run, prepared, prepared.plan, prepared.programPath);
}
