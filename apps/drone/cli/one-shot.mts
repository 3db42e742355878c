/**
 * One-shot commands: boot the drone without Home Assistant (core only, the same
 * configuration sources as the daemon, no schedule), do one thing, report it, exit with
 * a code that says how it went.
 */
import { resolve } from "node:path";
import { createInterface } from "node:readline/promises";

import { type TServiceParams } from "@digital-alchemy/core";

import { BorgError } from "../../../libs/borg/index.mjs";
import { type Operation, type ResultEvent } from "../../../libs/protocol/index.mjs";
import { ageCutoff } from "../core/duration.mjs";
import { DroneError, type DroneEngine, type DumpEntry, type DumpRestoreRequest, type PreparedDumpRestore, type RequestOptions } from "../core/engine.mjs";
import { type NamedDump } from "../core/dumps/config.mjs";
import { DUMPS_DIR } from "../core/dumps/manifest.mjs";
import { toolLine } from "../core/dumps/restore-commands.mjs";
import { cancelRequestPath, cliRequester, listenForCancelRequests } from "../core/cancel-request.mjs";
import { historyJson } from "../core/history.mjs";
import { runOwnerAlive } from "../core/run-lock.mjs";
import { nextOwnBackup } from "../core/settings.mjs";
import { type CommandOptions, type ConfigSwitch } from "./args.mjs";
import { envFileVariables, exportEnvFile } from "../../../libs/config/env-file.mjs";
import { createLocalDroneApplication } from "../drone-library.mjs";
import { configFiles, droneStartWarnings, guardService } from "./boot.mjs";
import { runCancel } from "./cancel.mjs";
import { formatBytes, formatWhen } from "./format.mjs";
import { createProgressDisplay } from "./progress.mjs";
import { exitCodeOf, findLines, historyLines, type LiveRun, resultLines, statsJson, statsLines, statusLines } from "./report.mjs";
import { type CommandName, COMMANDS, EXIT_CODES, type ExitCode } from "./spec.mjs";
import { createTerminal, type Terminal } from "./terminal.mjs";
import { errorText } from "../../../libs/config/errors.mjs";
import { warmRelativeTimeFormat } from "../../../libs/process/deferred-intl.mjs";
import { droneErrorText } from "../core/result.mjs";

/** Commands that run an engine operation. */
const OPERATIONS = {
  backup: "scheduled",
  create: "create",
  prune: "prune",
  stats: "stats",
  check: "check",
  restore: "restore",
  "restore-dump": "restore",
} as const satisfies Partial<Record<CommandName, Operation>>;

/** Commands that read only the drone's own state (and may run without a passphrase). */
const LOCAL_COMMANDS: ReadonlySet<OneShotCommand> = new Set(["status", "history", "release", "cancel"]);

/** A one-shot command. */
export type OneShotCommand = Exclude<CommandName, "daemon" | "config">;

interface Context {
  engine: DroneEngine;
  options: CommandOptions;
  terminal: Terminal;
  /** Set once SIGINT or SIGTERM arrived: what fails from then on was interrupted. */
  signalled: () => boolean;
  /** Set the exit code of the command (also the one DA exits with after a signal). */
  settle: (code: ExitCode) => void;
}

/**
 * Log lines on stderr, above the progress bar. The engine's own error and refusal lines are
 * left out unless --verbose: the command reports the same result itself, once.
 */
function logTarget(terminal: Terminal, verbose: boolean) {
  const text = (data: object, key: "level" | "context") => {
    const value: unknown = key in data ? (data as Record<string, unknown>)[key] : undefined;
    return typeof value === "string" ? value : undefined;
  };
  return (message: string, data: object) => {
    const level = text(data, "level");
    const context = text(data, "context");
    if (!verbose && context === "drone:engine" && (level === "error" || / refused: /.test(message))) return;
    // DA's own boot and teardown chatter ("received teardown request") is noise here
    if (!verbose && context?.startsWith("boilerplate") && level !== "error" && level !== "fatal") return;
    const label = level === "warn" ? terminal.paint.yellow("warning:") : level === "error" || level === "fatal" ? terminal.paint.red("error:") : terminal.paint.dim(`${level ?? "log"}:`);
    terminal.line(`${label} ${message}`);
  };
}

/** Print a result (JSON line or words) and return its exit code. */
function report(context: Context, result: ResultEvent): ExitCode {
  const { terminal, options, engine } = context;
  if (options.json) {
    // the statistics are what `stats` is for: one line of them, then the result event as ever
    const succeeded = result.outcome === "success" || result.outcome === "warning";
    if (result.operation === "stats" && succeeded) terminal.data(JSON.stringify(statsJson(engine.config.droneId, engine.persisted())));
    terminal.data(JSON.stringify(result));
  }
  else if (result.outcome === "failed" || result.outcome === "interrupted") {
    for (const line of resultLines(result, terminal.paint, options.verbose)) terminal.line(line);
  } else {
    for (const line of resultLines(result, terminal.paint, options.verbose)) terminal.data(line);
    const showsStats = result.operation === "stats" || result.operation === "prune" || result.operation === "scheduled";
    if (showsStats) for (const line of statsLines(engine.persisted(), terminal.paint)) terminal.data(`  ${line}`);
  }
  return exitCodeOf(result);
}

/** Print a failure that produced no result (and return its exit code). */
function fail(context: Context, what: string, error: unknown): ExitCode {
  const { terminal, options } = context;
  const interrupted = context.signalled();
  const refused = error instanceof DroneError && error.kind === "refused" && !interrupted;
  const message = droneErrorText(error, context.engine.config.repository);
  const kind = error instanceof BorgError || error instanceof DroneError ? error.kind : "unexpected";
  if (options.json) {
    terminal.data(JSON.stringify({ outcome: interrupted ? "interrupted" : "failed", error_kind: refused ? "refused" : kind, error: message }));
  } else {
    const mark = interrupted || refused ? terminal.paint.yellow("■") : terminal.paint.red("✖");
    terminal.line(`${mark} ${terminal.paint.bold(`${what} ${interrupted ? "was interrupted" : refused ? "was refused" : "failed"}`)}: ${message}`);
  }
  return interrupted ? EXIT_CODES.interrupted : refused ? EXIT_CODES.refused : EXIT_CODES.failed;
}

async function runOperation(
  context: Context,
  command: keyof typeof OPERATIONS,
  operation: Operation = OPERATIONS[command],
  request: RequestOptions = {},
): Promise<ExitCode> {
  const { engine, options, terminal } = context;
  const recovered = await engine.recover();
  if (recovered) {
    terminal.line(
      `${terminal.paint.yellow("warning:")} the previous ${recovered.operation} (started ${formatWhen(recovered.started_at)}) did not finish: ${recovered.error ?? ""}`,
    );
  }
  const display = createProgressDisplay(options, terminal, () => engine.live());
  let exitCode: ExitCode | undefined;
  const stopProgress = engine.onProgress(event => display.onProgress(event));
  // reported from the listener, synchronously: on SIGINT/SIGTERM DA exits right after teardown
  const stopResult = engine.onResult(result => {
    display.stop();
    exitCode = report(context, result);
    context.settle(exitCode);
  });
  try {
    await engine.run(operation, "cli", { ...request, requestedBy: cliRequester() });
  } catch (error) {
    display.stop();
    exitCode ??= fail(context, command, error);
  } finally {
    stopProgress();
    stopResult();
  }
  return exitCode ?? EXIT_CODES.failed;
}

async function runInit({ engine, options, terminal }: Context): Promise<ExitCode> {
  const { config } = engine;
  const json = (outcome: string, errorKind: string | null, error: string | null) =>
    terminal.data(JSON.stringify({ outcome, repository: config.repository, encryption: config.encryption, error_kind: errorKind, error }));
  if (config.encryption !== "none" && !config.passphrase) {
    const message = `ENCRYPTION=${config.encryption} needs a passphrase: set PASSPHRASE_FILE (a file with mode 0600), PASSCOMMAND or PASSPHRASE first`;
    if (options.json) json("failed", "passphrase_missing", message);
    else terminal.line(`${terminal.paint.red("✖")} ${terminal.paint.bold("init failed")}: ${message}`);
    return EXIT_CODES.failed;
  }
  try {
    await engine.initRepository({ encryption: config.encryption, makeParentDirs: true });
  } catch (error) {
    const message = errorText(error);
    const exists = /already exists/i.test(message);
    const text = exists ? `a repository already exists at ${config.repository}; nothing was changed` : message;
    if (options.json) json("failed", exists ? "repository_exists" : error instanceof BorgError ? error.kind : "unexpected", text);
    else terminal.line(`${terminal.paint.red("✖")} ${terminal.paint.bold("init failed")}: ${text}`);
    return EXIT_CODES.failed;
  }
  if (options.json) json("success", null, null);
  else {
    terminal.data(`${terminal.paint.green("✔")} ${terminal.paint.bold("repository created")} at ${config.repository} (encryption ${config.encryption})`);
    if (config.encryption.startsWith("repokey") || config.encryption.startsWith("keyfile")) {
      terminal.data(`  Export the key now and keep it with the passphrase; without both the backups cannot be read:`);
      terminal.data(`    borg key export ${config.repository} /somewhere/safe/${config.droneId}.borg-key`);
    }
    terminal.data(`  Next: backup-drone create`);
  }
  return EXIT_CODES.success;
}

/** A dump's kind as the configuration names it, or from its data file's extension (a pg_dump archive); null when unknown. */
function dumpKind(dumps: readonly NamedDump[], entry: DumpEntry): string | null {
  return dumps.find(dump => dump.name === entry.name)?.kind ?? (entry.file?.endsWith(".pgdump") ? "postgresql" : null);
}

/** A dump as list and find show it, for people. */
function dumpLine(dumps: readonly NamedDump[], entry: DumpEntry, width: number): string {
  const kind = dumpKind(dumps, entry) ?? "not in DUMPS";
  const size = entry.size === null ? "no data" : formatBytes(entry.size);
  return `dump ${entry.name.padEnd(width)}  ${kind.padEnd(12)}  ${size}`;
}

async function runList({ engine, options, terminal }: Context): Promise<ExitCode> {
  try {
    const run = await engine.client("primary").list({
      prefix: options.all ? undefined : engine.archivePrefix,
      considerCheckpoints: options.checkpoints,
    });
    const archives = run.value.archives;
    const { dumps } = engine.config;
    // one borg list per archive: only when asked for
    const dumpsOf = (name: string): Promise<DumpEntry[]> => (options.dumps ? engine.dumpsOf(name) : Promise.resolve([]));
    if (options.json) {
      for (const archive of archives) {
        const line = { name: archive.name, id: archive.id, start: archive.start.toISOString() };
        if (!options.dumps) terminal.data(JSON.stringify(line));
        else {
          const held = (await dumpsOf(archive.name)).map(entry => ({ name: entry.name, kind: dumpKind(dumps, entry), file: entry.file, size: entry.size }));
          terminal.data(JSON.stringify({ ...line, dumps: held }));
        }
      }
    } else if (archives.length === 0) {
      terminal.line(`no archives of ${options.all ? "any drone" : engine.config.droneId} in ${engine.config.repository}`);
    } else {
      const width = Math.max(...archives.map(archive => archive.name.length));
      for (const archive of archives) {
        terminal.data(`${archive.name.padEnd(width)}  ${formatWhen(archive.start.toISOString())}`);
        const held = await dumpsOf(archive.name);
        const nameWidth = Math.max(0, ...held.map(entry => entry.name.length));
        for (const entry of held) terminal.data(`  ${dumpLine(dumps, entry, nameWidth)}`);
      }
      terminal.line(terminal.paint.dim(`${archives.length} archive${archives.length === 1 ? "" : "s"}`));
    }
    return EXIT_CODES.success;
  } catch (error) {
    const message = droneErrorText(error, engine.config.repository);
    if (options.json) terminal.data(JSON.stringify({ outcome: "failed", error_kind: error instanceof BorgError ? error.kind : "unexpected", error: message }));
    else terminal.line(`${terminal.paint.red("✖")} ${terminal.paint.bold("list failed")}: ${message}`);
    return EXIT_CODES.failed;
  }
}

/** Report a failure of a read command (list, find) and return its exit code. */
function readFailed({ engine, options, terminal }: Context, command: string, error: unknown): ExitCode {
  const message = droneErrorText(error, engine.config.repository);
  const kind = error instanceof BorgError || error instanceof DroneError ? error.kind : "unexpected";
  if (options.json) terminal.data(JSON.stringify({ outcome: "failed", error_kind: kind, error: message }));
  else terminal.line(`${terminal.paint.red("✖")} ${terminal.paint.bold(`${command} failed`)}: ${message}`);
  return EXIT_CODES.failed;
}

async function runFind(context: Context): Promise<ExitCode> {
  const { engine, options, terminal } = context;
  // a dump's manifest and data file, and nothing else (`shop` is not `shop2`)
  const pattern = options.dump === undefined ? (options.arguments[0] ?? "") : `re:^${DUMPS_DIR}/${options.dump.replace(/[^a-z0-9_-]/g, "\\$&")}\\.[A-Za-z0-9]+$`;
  let versions;
  try {
    const olderThan = options.olderThan === undefined ? undefined : ageCutoff(options.olderThan);
    versions = await engine.find({ pattern, versions: options.versions, olderThan });
  } catch (error) {
    return readFailed(context, "find", error);
  }
  if (options.json) {
    for (const version of versions) {
      terminal.data(
        JSON.stringify({
          archive: version.archive,
          start: version.start.toISOString(),
          archives: version.archives.map(archive => archive.name),
          items: version.items.map(item => ({ path: item.path, type: item.type, size: item.size ?? null, mtime: item.mtime?.toISOString() ?? null })),
        }),
      );
    }
  } else for (const line of findLines(versions, terminal.paint)) terminal.data(line);
  if (versions.length === 0) {
    if (!options.json) terminal.line(`no archive of ${engine.config.droneId} holds a path matching ${JSON.stringify(pattern)}`);
    return EXIT_CODES.no_match;
  }
  if (!options.json) terminal.line(terminal.paint.dim(`${versions.length} version${versions.length === 1 ? "" : "s"}, newest first`));
  return EXIT_CODES.success;
}

/** Ask a yes/no question on the terminal; only "y" or "yes" is a yes. */
async function confirm(question: string): Promise<boolean> {
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await prompt.question(`${question} [y/N] `)).trim());
  } finally {
    prompt.close();
  }
}

/** What a dump restore would do, for people. */
function dryRunLines(prepared: PreparedDumpRestore, paint: Context["terminal"]["paint"]): string[] {
  const { manifest, plan } = prepared;
  const size = prepared.size === null ? "" : `, ${formatBytes(prepared.size)}`;
  const lines = [
    `${paint.bold(`would restore dump ${prepared.name}`)} (${manifest.kind}, ${manifest.format}${size}) from ${prepared.archive}, made ${formatWhen(manifest.created_at)}`,
    `  into ${plan.target}${prepared.replaces ? paint.yellow(" — replacing what it holds") : ""}`,
  ];
  if (plan.kind === "tool") lines.push(`  running ${toolLine(plan)}  (the dump on its stdin, from borg extract --stdout ${prepared.dataPath})`);
  else lines.push(`  streaming borg extract --stdout ${prepared.dataPath} into the new file`);
  lines.push(paint.dim("nothing was run (--dry-run)"));
  return lines;
}

async function runRestoreDump(context: Context): Promise<ExitCode> {
  const { engine, options, terminal } = context;
  const name = options.arguments[0] ?? "";
  const request: DumpRestoreRequest = {
    name,
    ...(options.archive === undefined ? {} : { archive: options.archive }),
    // a relative --to-file means relative to where the command runs
    destination: options.toFile !== undefined ? { kind: "file", path: resolve(options.toFile) } : { kind: "database", ...(options.toDatabase === undefined ? {} : { database: options.toDatabase }) },
    replace: options.yes,
  };
  let prepared: PreparedDumpRestore;
  try {
    prepared = await engine.prepareDumpRestore(request);
  } catch (error) {
    const code = readFailed(context, "restore-dump", error);
    return error instanceof DroneError && error.kind === "target_not_empty" ? EXIT_CODES.not_empty : code;
  }
  if (options.dryRun) {
    if (options.json) {
      const { plan, manifest } = prepared;
      terminal.data(
        JSON.stringify({
          dry_run: true,
          name: prepared.name,
          archive: prepared.archive,
          kind: manifest.kind,
          format: manifest.format,
          path: prepared.dataPath,
          size: prepared.size,
          tool: plan.kind === "tool" ? plan.program : null,
          command: plan.kind === "tool" ? toolLine(plan) : null,
          target: plan.target,
          replaces: prepared.replaces,
        }),
      );
    } else for (const line of dryRunLines(prepared, terminal.paint)) terminal.data(line);
    return EXIT_CODES.success;
  }
  let replace = options.yes;
  if (prepared.replaces && !replace) {
    const interactive = !options.json && process.stdin.isTTY && process.stderr.isTTY;
    if (interactive) {
      replace = await confirm(`Restore dump ${name} from ${prepared.archive} into ${prepared.plan.target}, replacing what it holds?`);
      if (!replace) {
        terminal.line(`${terminal.paint.yellow("■")} nothing was changed`);
        return EXIT_CODES.not_empty;
      }
    }
    if (!replace) {
      const message = `restoring ${name} would replace ${prepared.plan.target}; nothing was changed. Confirm on a terminal, or give --yes (or restore into another database with --to-database, or to a file with --to-file)`;
      if (options.json) terminal.data(JSON.stringify({ outcome: "failed", error_kind: "target_not_empty", error: message }));
      else terminal.line(`${terminal.paint.yellow("■")} ${terminal.paint.bold("restore-dump was refused")}: ${message}`);
      return EXIT_CODES.not_empty;
    }
  }
  return runOperation(context, "restore-dump", "restore", { dump: { ...request, archive: prepared.archive, replace } });
}

function runRestore(context: Context): Promise<ExitCode> {
  const { options } = context;
  if (options.target === undefined) {
    return Promise.resolve(readFailed(context, "restore", new DroneError("target_invalid", "restore needs --target DIR: the folder to restore into")));
  }
  const [archive = "", ...paths] = options.arguments;
  // a relative --target means relative to where the command runs; the engine insists on absolute folders
  const target = resolve(options.target);
  return runOperation(context, "restore", "restore", { restore: { archive, paths, target, overwrite: options.overwrite } });
}

/** Whether another process runs an operation for this drone, from the state file. */
function liveRun(engine: DroneEngine): LiveRun {
  const running = engine.persisted().running;
  if (!running || !runOwnerAlive(running)) return { busy: false, operation: null, run_id: null, started_at: null, pid: null };
  return { busy: true, operation: running.operation, run_id: running.runId, started_at: running.startedAt, pid: running.pid };
}

function runStatus({ engine, options, terminal }: Context): Promise<ExitCode> {
  const view = {
    droneId: engine.config.droneId,
    repository: engine.config.repository,
    offsiteRepository: engine.config.offsite?.repository ?? null,
    settings: engine.settings(),
    persisted: engine.persisted(),
    live: liveRun(engine),
    due: engine.due(),
  };
  if (options.json) {
    terminal.data(
      JSON.stringify({
        drone_id: view.droneId,
        repository: view.repository,
        offsite_repository: view.offsiteRepository,
        settings: view.settings,
        persisted: view.persisted,
        live: view.live,
        due: view.due,
        // standalone: the drone's own next run; coordinated or paused: null (the coordinator plans it)
        next_backup: nextOwnBackup(view.settings, view.persisted, new Date())?.toISOString() ?? null,
      }),
    );
  } else for (const line of statusLines(view, terminal.paint)) terminal.data(line);
  return Promise.resolve(EXIT_CODES.success);
}

async function runRelease({ engine, options, terminal }: Context): Promise<ExitCode> {
  const hold = engine.persisted().pruneHold;
  const released = await engine.releasePruneHold("cli");
  if (options.json) terminal.data(JSON.stringify({ released, hold }));
  else if (released && hold) {
    terminal.data(`${terminal.paint.green("✔")} ${terminal.paint.bold("prune hold released")}: held since ${formatWhen(hold.since)} because ${hold.reasons.join("; ")}`);
    terminal.data("  The next run prunes again by the keep rules.");
  } else terminal.data(`nothing to release: prune is not held for ${engine.config.droneId}`);
  return EXIT_CODES.success;
}

/** The default of `history` without --limit nor --since: a screenful. */
const HISTORY_DEFAULT_LIMIT = 20;

function runHistory(context: Context): Promise<ExitCode> {
  const { engine, options, terminal } = context;
  const limit = options.limit ?? (options.since === undefined ? HISTORY_DEFAULT_LIMIT : undefined);
  let records;
  try {
    records = engine.history({ limit, since: options.since });
  } catch (error) {
    return Promise.resolve(readFailed(context, "history", error));
  }
  if (options.json) for (const record of records) terminal.data(JSON.stringify(historyJson(record)));
  else if (records.length === 0) terminal.line(`no runs of ${engine.config.droneId} recorded${options.since ? ` since ${formatWhen(options.since.toISOString())}` : ""}`);
  else {
    for (const line of historyLines(records, terminal.paint)) terminal.data(line);
    terminal.line(terminal.paint.dim(`${records.length} run${records.length === 1 ? "" : "s"}, newest first`));
  }
  return Promise.resolve(EXIT_CODES.success);
}

const RUNNERS: Record<OneShotCommand, (context: Context) => Promise<ExitCode>> = {
  init: runInit,
  backup: context => runOperation(context, "backup"),
  create: context => runOperation(context, "create"),
  prune: context => runOperation(context, "prune"),
  stats: context => runOperation(context, "stats"),
  check: context => runOperation(context, "check", context.options.verifyData ? "verify" : "check"),
  list: runList,
  find: runFind,
  restore: runRestore,
  "restore-dump": runRestoreDump,
  status: runStatus,
  history: runHistory,
  release: runRelease,
  cancel: ({ engine, options, terminal }) => runCancel(engine, options, terminal),
};

/** Boot the drone without Home Assistant, run one command, and set the exit code. */
export async function runOneShot(command: OneShotCommand, options: CommandOptions, switches: readonly ConfigSwitch[]): Promise<void> {
  const terminal = createTerminal();
  // the environment as exported, before the env file joins it (exported variables win, see sources.mts)
  const env = { ...process.env };
  for (const warning of droneStartWarnings({ env, ...(options.envFile === undefined ? {} : { envFile: options.envFile }) })) {
    terminal.line(`${terminal.paint.yellow("warning:")} ${warning}`);
  }
  exportEnvFile(envFileVariables(options.envFile));

  // without Home Assistant: a one-shot command never imports hass nor synapse
  const app = createLocalDroneApplication();
  // DA ends a failed boot with a bare process.exit(): make that a failure
  process.exitCode = EXIT_CODES.failed;
  const params = await app.bootstrap({
    appendService: {
      cli_guard: guardService({
        switches,
        files: configFiles(options.config),
        unknownKeys: COMMANDS[command].writes ? "error" : "warn",
        opensRepository: !LOCAL_COMMANDS.has(command),
        envFile: options.envFile,
        env,
        warn: message => terminal.line(`${terminal.paint.yellow("warning:")} ${message}`),
        fail: message => terminal.line(terminal.paint.red(message)),
      }),
      cli_log: ({ internal }: TServiceParams) => internal.boilerplate.logger.addTarget(logTarget(terminal, options.verbose)),
    },
    configuration: { boilerplate: { LOG_LEVEL: "warn" } },
    // the guard's loader reads the environment, the env file and the switches (sources.mts)
    configSources: { env: false, argv: false },
    loggerOptions: { stdOut: false, ...(options.verbose ? { levelOverrides: { drone: "info" } } : {}) },
  });
  // DA tears down on SIGINT/SIGTERM (the engine interrupts borg) and exits: unless the
  // command has already reported how it ended, that is an interruption
  let signalled = false;
  let settled = false;
  const settle = (code: ExitCode) => {
    settled = true;
    process.exitCode = code;
  };
  const onSignal = () => {
    signalled = true;
    if (!settled) process.exitCode = EXIT_CODES.interrupted;
  };
  process.once("SIGINT", onSignal).once("SIGTERM", onSignal);
  const engine = params.drone.engine.engine;
  // what DA's teardown formats (see program.mts) is prepared while borg loads, not after it
  engine.onBorgStart(() => setImmediate(warmRelativeTimeFormat));
  // `backup-drone cancel` from another shell reaches the operation this command runs
  const stopListening = listenForCancelRequests({
    path: cancelRequestPath(engine.config.stateDir, engine.config.droneId),
    runningRunId: () => engine.live().runId,
    cancel: by => engine.cancel(by),
    log: {
      info: message => {
        if (options.verbose) terminal.line(terminal.paint.dim(message));
      },
      warn: message => terminal.line(`${terminal.paint.yellow("warning:")} ${message}`),
    },
  });
  settle(await RUNNERS[command]({ engine, options, terminal, signalled: () => signalled, settle }));
  stopListening();
  await app.teardown();
}
