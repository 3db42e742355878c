/**
 * Dumps streamed into `borg create`, without landing on disk. Each run gets a private run
 * folder (mode 0700) under STATE_DIR holding `backup-drone-dumps/<name>.<ext>` — a FIFO — and
 * `<name>.json`, the manifest; borg runs with that folder as its working directory, the
 * relative source `backup-drone-dumps` and `--read-special`, so it reads each FIFO as a file.
 *
 * A dump's tool starts when borg opens its FIFO (borg reads them one after the other): no
 * database transaction is held open while borg reads something else, and the timeout counts
 * the dump's own time. The drone relays the tool's output into the FIFO, counting it, and
 * closes the FIFO only after the tool exited 0: borg can never see the end of a dump that was
 * cut short. A tool that fails or outlives its timeout is stopped with its process group, and
 * borg is stopped with SIGTERM while it still waits for the rest (no archive, not even a
 * checkpoint at that moment); the caller decides by the dump's policy what follows.
 */
import { constants, openSync } from "node:fs";
import { access, chmod, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { Socket } from "node:net";
import { delimiter, join } from "node:path";
import { Transform } from "node:stream";
import { finished } from "node:stream/promises";

import { Secret } from "../../../../libs/borg/index.mjs";
import { errorText } from "../../../../libs/config/index.mjs";
import { type ProcessRun, runProcess, SHELL_STOP } from "../../../../libs/process/index.mjs";
import { DroneError } from "../errors.mjs";
import { type NamedDump } from "./config.mjs";
import { dumpFileOf, type DumpInvocation, dumpInvocation, passwordOf } from "./commands.mjs";
import { type DumpManifest, dumpManifestSchema, DUMPS_DIR } from "./manifest.mjs";
import { scriptEndProblem, TAIL_BYTES } from "./script-end.mjs";
import { excludeFileText, findSpecialFiles } from "./special-files.mjs";

/** How one dump of a run ended: `not_run` when borg failed before it reached the dump. */
export type DumpOutcome = "success" | "failed" | "not_run";

/** One dump's part of a run: what the result, the history and the command line show. */
export interface DumpResult {
  name: string;
  kind: NamedDump["kind"];
  outcome: DumpOutcome;
  /** Bytes the tool wrote (all of them went into the archive when it succeeded). */
  bytes: number;
  /** From the tool's start to its end. */
  durationSeconds: number;
  /** What went wrong, redacted; null when it succeeded. */
  error: string | null;
}

/** A run's dumps failed: the run stops (policy `break`), or makes the archive again without them (`continue`). */
export class DumpsFailed extends DroneError {
  constructor(
    /** The dumps that failed, with their errors. */
    readonly failed: readonly (DumpResult & { policy: NamedDump["policy"] })[],
    /** Every dump of the attempt, for the result. */
    readonly results: readonly DumpResult[],
    /** An archive borg made although a dump was not in it (borg never read its FIFO): to be deleted. */
    readonly archive?: string,
  ) {
    super("dump_failed", failed.map(dump => dump.error ?? `dump ${dump.name} failed`).join("; "));
  }
}

/** The run folder of a drone (one run at a time holds the drone's run lock). */
export const runFolderOf = (stateDir: string, droneId: string) => join(stateDir, `${droneId}.dump-run`);

/** How often an unopened FIFO is tried again while borg runs (borg opens it when it reaches it). */
const OPEN_POLL_MS = 50;
/** The longest stderr line a message carries. */
const MAX_LINE = 300;

/** A dump ready to run: its tool, and the secret its tool alone gets. */
export interface ReadyDump {
  dump: NamedDump;
  invocation: DumpInvocation;
  /** The password, for redacting what the tool says. */
  password?: Secret;
}

const isExecutable = async (path: string) =>
  access(path, constants.X_OK).then(
    () => true,
    () => false,
  );

/** The first of `names` found on PATH. */
export async function findOnPath(names: readonly string[], path = process.env.PATH ?? ""): Promise<string | undefined> {
  for (const name of names) {
    for (const dir of path.split(delimiter)) if (dir && (await isExecutable(join(dir, name)))) return name;
  }
  return undefined;
}

const failure = (dump: NamedDump, error: string): DumpResult & { policy: NamedDump["policy"] } => ({
  name: dump.name,
  kind: dump.kind,
  outcome: "failed",
  bytes: 0,
  durationSeconds: 0,
  error,
  policy: dump.policy,
});

/**
 * Check what each dump needs before borg starts, and build its tool: its password read from
 * `password_file` (at each run: a changed password needs no restart), the MariaDB tool that
 * is installed, an SQLite database that exists (sqlite3 would make an empty one).
 */
export async function readyDumps(dumps: readonly NamedDump[]): Promise<{ ready: ReadyDump[]; failed: (DumpResult & { policy: NamedDump["policy"] })[] }> {
  const ready: ReadyDump[] = [];
  const failed: (DumpResult & { policy: NamedDump["policy"] })[] = [];
  const mariadbDump = dumps.some(dump => dump.kind === "mariadb") ? await findOnPath(["mariadb-dump", "mysqldump"]) : "mariadb-dump";
  for (const dump of dumps) {
    let password: Secret | undefined;
    if ((dump.kind === "postgresql" || dump.kind === "mariadb") && dump.password_file !== undefined) {
      try {
        password = new Secret(passwordOf(await readFile(dump.password_file, "utf8")));
      } catch (error) {
        failed.push(failure(dump, `dump ${dump.name}: its password_file ${dump.password_file} cannot be read (${errorText(error)}); fix the path or the file's permissions`));
        continue;
      }
    }
    if (dump.kind === "mariadb" && mariadbDump === undefined) {
      failed.push(failure(dump, `dump ${dump.name}: neither mariadb-dump nor mysqldump is installed; install the MariaDB client (Debian: mariadb-client)`));
      continue;
    }
    if (dump.kind === "sqlite") {
      const file = await stat(dump.path).catch(() => undefined);
      if (!file?.isFile()) {
        failed.push(failure(dump, `dump ${dump.name}: no SQLite database file at ${dump.path}; check its path`));
        continue;
      }
    }
    ready.push({ dump, invocation: dumpInvocation(dump, password, { mariadbDump: mariadbDump ?? "mariadb-dump" }), ...(password ? { password } : {}) });
  }
  return { ready, failed };
}

/** The manifest stored beside a dump. */
export function manifestOf(dump: NamedDump, createdAt: Date): DumpManifest {
  const { ext, format } = dumpFileOf(dump);
  return dumpManifestSchema.parse({
    version: 1,
    name: dump.name,
    kind: dump.kind,
    format,
    ...(dump.kind === "postgresql" || dump.kind === "mariadb" ? { database: dump.database, selects_database: dump.database === "all" } : {}),
    ...(dump.kind === "sqlite" ? { path: dump.path } : {}),
    file: `${dump.name}.${ext}`,
    created_at: createdAt.toISOString(),
  });
}

/** What `borg create` gets for the dumps of a run. */
export interface DumpSources {
  /** borg's working directory. */
  cwd: string;
  /** The relative source. */
  path: typeof DUMPS_DIR;
  /** Include patterns that no exclude can undo. */
  includes: string[];
  /** The exclude file of the sources' special files and of the run folder itself. */
  excludeFrom: string;
  /** Special files found in the sources (excluded). */
  specialFiles: number;
}

/** Where the sources are and what borg excludes, for the special-file walk. */
export interface SourceWalk {
  sources: readonly string[];
  excludes: readonly string[];
  excludeIfPresent: readonly string[];
  oneFileSystem: boolean;
}

/**
 * A fresh run folder: a leftover one (a crash) is removed first; then the FIFOs, the manifests
 * and the exclude file.
 */
export async function prepareRunFolder(dir: string, dumps: readonly NamedDump[], walk: SourceWalk, signal?: AbortSignal): Promise<DumpSources> {
  await removeRunFolder(dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode passes through the umask; the folder holds what borg reads and nobody else may
  await chmod(dir, 0o700);
  const dumpsDir = join(dir, DUMPS_DIR);
  await mkdir(dumpsDir, { mode: 0o700 });
  const now = new Date();
  for (const dump of dumps) {
    await writeFile(join(dumpsDir, `${dump.name}.json`), `${JSON.stringify(manifestOf(dump, now), null, 2)}\n`, { mode: 0o600 });
  }
  const fifos = dumps.map(dump => join(dumpsDir, `${dump.name}.${dumpFileOf(dump).ext}`));
  const made = await runProcess("mkfifo", ["-m", "600", "--", ...fifos], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, stop: SHELL_STOP, keep: { stderr: 2000 } });
  if (made.end.kind !== "exited" || made.end.code !== 0) throw new Error(`making the dumps' FIFOs in ${dumpsDir} failed: ${made.stderr.trim() || made.end.kind}`);
  const special = await findSpecialFiles({ ...walk, signal });
  const text = excludeFileText(special.paths);
  const excludeFrom = join(dir, "special-files.exclude");
  // the run folder itself, for sources that hold STATE_DIR: borg reads the FIFOs through the relative path only
  await writeFile(excludeFrom, `pp:${dir}\n${text}`, { mode: 0o600 });
  return { cwd: dir, path: DUMPS_DIR, includes: [`pp:${DUMPS_DIR}`], excludeFrom, specialFiles: special.paths.length };
}

/** Remove a run folder and all it holds (the FIFOs hold no data on disk). */
export const removeRunFolder = (dir: string) => rm(dir, { recursive: true, force: true });

/** A dump whose FIFO borg closed before the dump's end. */
const brokenFifo = (dump: NamedDump, bytes: number) => `dump ${dump.name} (${dump.kind}) was cut short: borg closed its FIFO before the dump's end (the tool had written ${bytes} B)`;

/** Why a tool's data that it ended with exit 0 is not whole (a sqlite3 .dump of a damaged database), or undefined. */
export function incompleteData(dump: NamedDump, invocation: Pick<DumpInvocation, "file" | "lastLine">, tail: string): string | undefined {
  if (invocation.lastLine === undefined) return undefined;
  const problem = scriptEndProblem(tail, invocation.lastLine);
  if (problem === undefined) return undefined;
  const check = dump.kind === "sqlite" ? `; is the database damaged? \`sqlite3 ${dump.path} "PRAGMA integrity_check"\` tells` : "";
  return `dump ${dump.name} (${dump.kind}) is not whole although ${invocation.file} exited 0: ${problem}${check}`;
}

/** The first line a tool wrote to stderr, redacted and cut. */
export function firstLine(stderr: string, password?: Secret): string | undefined {
  const line = stderr
    .split(/\r?\n/)
    .map(text => text.trim())
    .find(text => text.length > 0);
  if (line === undefined) return undefined;
  const redacted = password ? password.redact(line) : line;
  return redacted.length > MAX_LINE ? `${redacted.slice(0, MAX_LINE - 1)}…` : redacted;
}

/** Why a dump's tool failed, in one line for the result (or undefined when it succeeded). */
export function dumpError(dump: NamedDump, run: Pick<ProcessRun, "end" | "stopped" | "stderr">, password?: Secret): string | undefined {
  const said = firstLine(run.stderr, password);
  const tail = said === undefined ? "" : `: ${said}`;
  const stopped = run.stopped?.groupGone === false ? "some of its processes could not be stopped" : "its processes were stopped";
  const { end } = run;
  switch (end.kind) {
    case "exited":
      if (end.code === 0) return undefined;
      return end.code === null
        ? `dump ${dump.name} (${dump.kind}) was killed by ${end.signal ?? "a signal"}${tail}`
        : `dump ${dump.name} (${dump.kind}) exited with ${end.code}${tail}`;
    case "timed_out":
      return `dump ${dump.name} (${dump.kind}) took longer than its timeout_seconds (${dump.timeout_seconds} s) and was stopped; ${stopped}${tail}`;
    case "aborted":
      return `dump ${dump.name} (${dump.kind}) was stopped: the run was interrupted`;
    case "not_started":
      return `dump ${dump.name} (${dump.kind}) could not start (${end.code}): is its tool installed?`;
  }
}

/** What a run of borg with dumps needs. */
export interface StreamOptions {
  dir: string;
  dumps: readonly ReadyDump[];
  /** The environment every dump tool inherits (the drone's, without its secrets). */
  env: Record<string, string>;
  /** The run's abort (a cancel, the run timeout): stops the tools too. */
  signal: AbortSignal;
  log: { debug(message: string): void; info(message: string): void };
  /** Every dump's result, once borg has ended, whichever way it ended (borg's own failure too). */
  onResults?: (results: DumpResult[]) => void;
}

/** One dump's relay: polls its FIFO open, runs its tool into it, closes it when the tool exited 0. */
interface Relay {
  done: Promise<void>;
  result: () => DumpResult | undefined;
  /** Borg ended: stop waiting for its FIFO, stop the tool, close what is open. */
  stop: () => void;
}

/** Open a FIFO for writing once its reader (borg) has opened it; undefined when `stopped` says to give up. */
async function openWhenRead(path: string, stopped: () => boolean): Promise<number | undefined> {
  while (!stopped()) {
    try {
      // never blocks: fails with ENXIO until a reader has the FIFO open
      return openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENXIO") throw error;
    }
    await new Promise(resolve => setTimeout(resolve, OPEN_POLL_MS));
  }
  return undefined;
}

function startRelay(ready: ReadyDump, options: StreamOptions, onFailure: (result: DumpResult) => void): Relay {
  const { dump, invocation, password } = ready;
  const fifo = join(options.dir, DUMPS_DIR, `${dump.name}.${invocation.ext}`);
  let borgEnded = false;
  const tool = new AbortController();
  let result: DumpResult | undefined;
  let sink: Socket | undefined;
  const run = async () => {
    const fd = await openWhenRead(fifo, () => borgEnded || options.signal.aborted);
    if (fd === undefined) return;
    // a socket over the FIFO: non-blocking writes on the event loop, with backpressure
    const fifoSink = new Socket({ fd, readable: false, writable: true });
    sink = fifoSink;
    let fifoBroken = false;
    fifoSink.on("error", () => {
      // borg closed the FIFO before the dump's end (it died, or went on without it): the tool,
      // which would block on a full pipe, is stopped; borg's own error, or the archive's
      // deletion (it lacks the dump), follows in streamDumps
      fifoBroken = true;
      tool.abort(new Error("borg closed the dump's FIFO"));
    });
    let bytes = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, next) {
        bytes += chunk.length;
        next(null, chunk);
      },
    });
    counter.pipe(fifoSink);
    const env = { ...options.env, ...invocation.env };
    const secret = invocation.secret;
    if (secret?.kind === "env") env[secret.name] = secret.value.reveal();
    const started = Date.now();
    options.log.debug(`dump ${dump.name}: borg opened its FIFO, starting ${invocation.file}`);
    const toolRun = await runProcess(invocation.file, invocation.args, {
      env,
      group: true,
      stop: SHELL_STOP,
      timeoutMs: dump.timeout_seconds * 1000,
      signal: AbortSignal.any([options.signal, tool.signal]),
      stdoutTo: counter,
      keep: { stderr: 64 * 1024, ...(invocation.lastLine === undefined ? {} : { stdout: TAIL_BYTES }) },
      ...(secret?.kind === "fd" ? { input: { fd: secret.fd, text: secret.text.reveal() } } : {}),
    });
    const durationSeconds = (Date.now() - started) / 1000;
    let error = fifoBroken ? brokenFifo(dump, bytes) : (dumpError(dump, toolRun, password) ?? incompleteData(dump, invocation, toolRun.stdout));
    if (error === undefined) {
      // all of the tool's output into the FIFO, then its end: borg reads a whole dump
      counter.end();
      // a FIFO that breaks now (borg went away) is never a success: finished() also settles on a socket destroyed before
      error = await finished(fifoSink).then(
        () => undefined,
        () => brokenFifo(dump, bytes),
      );
    }
    if (error === undefined) {
      result = { name: dump.name, kind: dump.kind, outcome: "success", bytes, durationSeconds, error: null };
      options.log.info(`dump ${dump.name}: ${bytes} B in ${durationSeconds.toFixed(1)} s`);
      return;
    }
    result = { name: dump.name, kind: dump.kind, outcome: "failed", bytes, durationSeconds, error };
    // stopped because borg ended, or its FIFO broke (borg died, or goes on without the dump and
    // its archive is deleted as lacking it): borg's outcome decides what follows
    if (!borgEnded && !fifoBroken && toolRun.end.kind !== "aborted") onFailure(result);
  };
  const done = run().catch((error: unknown) => {
    result = { name: dump.name, kind: dump.kind, outcome: "failed", bytes: 0, durationSeconds: 0, error: `dump ${dump.name}: ${errorText(error)}` };
    if (!borgEnded) onFailure(result);
  });
  return {
    done,
    result: () => result,
    stop: () => {
      borgEnded = true;
      tool.abort(new Error("borg ended"));
      // closed only once borg is gone: what it read stays what it read
      void done.finally(() => sink?.destroy());
    },
  };
}

/**
 * Run `borg create` (given) with the dumps relayed into their FIFOs. Resolves with borg's value
 * and every dump's result; throws {@link DumpsFailed} when a dump failed (borg then stopped
 * without an archive), or borg's own error.
 */
export async function streamDumps<T>(
  options: StreamOptions,
  create: (terminate: AbortSignal) => Promise<T>,
  archiveOf: (value: T) => string,
): Promise<{ value: T; results: DumpResult[] }> {
  const terminate = new AbortController();
  const failures: DumpResult[] = [];
  const relays = options.dumps.map(ready =>
    startRelay(ready, options, result => {
      failures.push(result);
      // the FIFO stays open: borg still waits for the rest, and is stopped before it could store a cut dump
      if (!terminate.signal.aborted) terminate.abort(new Error(result.error ?? `dump ${result.name} failed`));
    }),
  );
  let value: T | undefined;
  let borgError: unknown;
  try {
    value = await create(terminate.signal);
  } catch (error) {
    borgError = error;
  } finally {
    for (const relay of relays) relay.stop();
    await Promise.all(relays.map(relay => relay.done));
  }
  const policyOf = (name: string) => options.dumps.find(ready => ready.dump.name === name)?.dump.policy ?? "break";
  const results = options.dumps.map(
    (ready, index): DumpResult =>
      relays[index]?.result() ??
      (borgError === undefined
        ? { name: ready.dump.name, kind: ready.dump.kind, outcome: "failed", bytes: 0, durationSeconds: 0, error: `dump ${ready.dump.name} was not run: borg did not read its FIFO` }
        : { name: ready.dump.name, kind: ready.dump.kind, outcome: "not_run", bytes: 0, durationSeconds: 0, error: null }),
  );
  options.onResults?.(results);
  if (failures.length > 0) throw new DumpsFailed(failures.map(result => ({ ...result, policy: policyOf(result.name) })), results);
  if (borgError !== undefined) throw borgError instanceof Error ? borgError : new Error(errorText(borgError));
  const made = value as T;
  const unread = results.filter(result => result.outcome === "failed");
  // borg made an archive without reading every FIFO: it is not whole
  if (unread.length > 0) throw new DumpsFailed(unread.map(result => ({ ...result, policy: policyOf(result.name) })), results, archiveOf(made));
  return { value: made, results };
}
