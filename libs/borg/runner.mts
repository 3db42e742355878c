/**
 * The runner of borg, over the one process runner (libs/process). It streams stderr's
 * `--log-json` lines as typed events, delivers the passphrase by file descriptor or
 * environment (never argv), maps the exit code and msgids to a result or a typed error, and
 * stops borg on an abort or inactivity: SIGINT first where borg acts on it (create writes a
 * checkpoint), then SIGTERM and SIGKILL. A passcommand is run before borg, with its own deadline
 * (passphrase.mts): borg never sees it.
 */
import { access, constants, mkdtemp, readFile, rm } from "node:fs/promises";
import { constants as osConstants, tmpdir } from "node:os";
import { delimiter, isAbsolute, join } from "node:path";
import { type Writable } from "node:stream";

import { runProcess } from "../process/index.mjs";

import { type BorgCommand } from "./command.mjs";
import { classifyExitCode, type ExitOutcome } from "./error-kinds.mjs";
import { BorgError, borgError } from "./errors.mjs";
import { errorFromLogs, isCrashReport, logTraceback, noteOf, textTraceback } from "./failure.mjs";
import { type BorgEvent, type LogMessage, parseLogLine } from "./log-lines.mjs";
import { borgEnvironment, PASSPHRASE_FD, passphraseValue } from "./passphrase.mjs";
import { isRemote, sshLines, sshNote, withLogFile } from "./ssh.mjs";

/** I/O scheduling class for `ionice`. */
export type IoniceClass = "realtime" | "best-effort" | "idle";

/** How to run a command. */
export interface RunOptions {
  /** The borg binary: a name on PATH or a path. Default `borg`. */
  binary?: string;
  /** Abort to interrupt borg: SIGINT first where borg acts on it (create writes a checkpoint), SIGTERM after the grace period. */
  signal?: AbortSignal;
  /** Abort to stop borg without a first SIGINT: SIGTERM, then SIGKILL (a create writes no checkpoint archive). */
  terminate?: AbortSignal;
  /**
   * A signal the kernel sends borg when our process dies (`setpriv --pdeathsig`, which execs
   * borg): a borg reading what only we feed it (a dump's FIFO) must not go on to commit an archive.
   */
  parentDeathSignal?: "SIGTERM" | "SIGKILL";
  /** Every stderr line, parsed, as it arrives. */
  onEvent?: (event: BorgEvent) => void;
  /** Stop borg when it writes nothing for this long. */
  inactivityTimeoutMs?: number;
  /** Between SIGINT and SIGTERM (default 10 s); SIGKILL follows after as long again. */
  graceMs?: number;
  /** `nice -n` level, 0–19. */
  nice?: number;
  ionice?: { class: IoniceClass; level?: number };
  /** Extra environment (for tests and special cases); cannot carry the passphrase. */
  env?: Record<string, string>;
  /**
   * Variables of our environment (any case) that borg and a passcommand do not inherit, besides
   * those named like secrets (see {@link inheritedEnv}): the ones that configure a secret setting.
   */
  dropEnv?: readonly string[];
  /** A passcommand still running after this long is stopped with its processes (default 60 s). */
  passcommandTimeoutMs?: number;
  /** Called with the borg PID and its subcommand (`create`, `compact`, …) once it has started. */
  onSpawn?: (pid: number, command: string) => void;
  /** Called with borg's Python traceback when it crashed (for a debug log: the error's message has one line of it). */
  onTraceback?: (traceback: string) => void;
  /** Where borg's stdout streams instead of being kept (`extract --stdout` into a program); never ended here. */
  stdout?: Writable;
}

/** A successful (or warning) run. */
export interface BorgRun<T> {
  value: T;
  outcome: Extract<ExitOutcome, "success" | "warning">;
  exitCode: number;
  /** WARNING lines (a missing source file, a changed file…). */
  warnings: LogMessage[];
  /** What borg warned about that needs nothing from anyone (a stale lock it removed), once each. */
  notes: string[];
  durationMs: number;
}

const IONICE_CLASSES: Record<IoniceClass, string> = { realtime: "1", "best-effort": "2", idle: "3" };
const MAX_KEPT_LOGS = 20_000;
// enough for a whole Python traceback (about 80 lines), which starts with the line that names it
const MAX_KEPT_TEXT = 2000;

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Find the borg binary on PATH (or check the given path); throws `not_installed` when absent. */
export async function resolveBinary(binary = "borg", command = "version"): Promise<string> {
  if (binary.includes("/")) {
    if (await isExecutable(binary)) return isAbsolute(binary) ? binary : join(process.cwd(), binary);
    throw borgError("not_installed", { command });
  }
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir && (await isExecutable(join(dir, binary)))) return join(dir, binary);
  }
  throw borgError("not_installed", { command });
}

/** argv prefix for setpriv, nice and ionice; each execs the next, so the PID stays borg's. */
function priorityPrefix(options: RunOptions): string[] {
  const prefix: string[] = [];
  if (options.parentDeathSignal) prefix.push("setpriv", "--pdeathsig", options.parentDeathSignal.replace(/^SIG/, ""), "--");
  if (options.ionice) {
    prefix.push("ionice", "-c", IONICE_CLASSES[options.ionice.class]);
    if (options.ionice.level !== undefined && options.ionice.class !== "idle") {
      prefix.push("-n", String(options.ionice.level));
    }
  }
  if (options.nice !== undefined) prefix.push("nice", "-n", String(options.nice));
  return prefix;
}

/** The full argv of a run: priority wrappers, then the borg binary and the command's args. */
export function commandLine(binaryPath: string, command: BorgCommand<unknown>, options: RunOptions = {}): string[] {
  return [...priorityPrefix(options), binaryPath, ...command.args];
}

/**
 * Watches a create's events for a committed checkpoint. borg saves its cache (`cache.commit`)
 * only after the repository committed, and besides the final archive it does so only for a
 * checkpoint (periodic, or on SIGINT); a commit before the first archive progress is the cache
 * sync at start, which writes no archive. borg logs periodic checkpoints in no other way.
 */
export function checkpointWatch(): { see: (event: BorgEvent) => void; committed: () => boolean } {
  let progressed = false;
  let committed = false;
  return {
    see: event => {
      if (event.type === "archive_progress" && !event.finished) progressed = true;
      else if (progressed && event.type === "progress_message" && event.msgid === "cache.commit" && event.finished) committed = true;
    },
    committed: () => committed,
  };
}

/** A file for ssh's own messages (`ssh -E`): borg loses ssh's last words when the connection closes. */
async function sshLogFile(command: BorgCommand<unknown>, env: Record<string, string>): Promise<{ path: string; remove: () => Promise<void> } | undefined> {
  if (env.BORG_RSH === undefined || command.repository === undefined || !isRemote(command.repository)) return undefined;
  const dir = await mkdtemp(join(tmpdir(), "borg-ssh-"));
  const path = join(dir, "ssh.log");
  const rsh = withLogFile(env.BORG_RSH, path);
  env.BORG_RSH = rsh;
  return { path, remove: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * The commands borg 1.2 acts on at a first SIGINT: create writes a checkpoint archive and
 * stops, prune and delete commit what they removed and stop. Every other command (check,
 * compact, extract, info, list, …) catches a first SIGINT and runs on to the end, so a
 * SIGINT would only delay the SIGTERM that stops it: they get SIGTERM at once.
 */
const SIGINT_COMMANDS: ReadonlySet<string> = new Set(["create", "prune", "delete"]);

/** The signals that stop a borg command, in order (see {@link SIGINT_COMMANDS}). */
export function stopSignals(command: string): [NodeJS.Signals, ...NodeJS.Signals[]] {
  return SIGINT_COMMANDS.has(command) ? ["SIGINT", "SIGTERM", "SIGKILL"] : ["SIGTERM", "SIGKILL"];
}

/**
 * Run one borg command. Resolves with the parsed value on exit 0 and on warnings;
 * rejects with a {@link BorgError} otherwise.
 */
export async function runBorg<T>(command: BorgCommand<T>, options: RunOptions = {}): Promise<BorgRun<T>> {
  const started = Date.now();
  const context = { command: command.command, repository: command.repository, archive: command.archive };
  const binaryPath = await resolveBinary(options.binary, command.command);
  const secret = await passphraseValue(command, options);
  const redact = (text: string) => (secret ? secret.redact(text) : text);
  const [file, ...args] = commandLine(binaryPath, command, options) as [string, ...string[]];

  const env = borgEnvironment(command, options, secret);
  const sshLog = await sshLogFile(command, env);
  const logs: LogMessage[] = [];
  const textTail: string[] = [];
  const checkpoint = checkpointWatch();
  // ssh's log holds what ssh said about the host: removed whatever becomes of the run
  const run = await runProcess(file, args, {
    env,
    cwd: command.cwd,
    input: secret && command.passphraseTransport === "fd" ? { fd: PASSPHRASE_FD, text: `${secret.reveal()}\n` } : undefined,
    stop: { signals: stopSignals(command.command), graceMs: options.graceMs ?? 10_000 },
    inactivityTimeoutMs: options.inactivityTimeoutMs,
    signal: options.signal,
    terminate: options.terminate,
    // the --json result comes at the end, whole; stderr is read line by line instead
    keep: { stdout: options.stdout ? 0 : Infinity },
    ...(options.stdout ? { stdoutTo: options.stdout } : {}),
    onLine: {
      stderr: raw => {
        const line = redact(raw);
        if (line.trim().length === 0) return;
        for (const event of parseLogLine(line)) {
          checkpoint.see(event);
          if (event.type === "log_message" && logs.length < MAX_KEPT_LOGS) logs.push(event);
          if (event.type === "text") {
            textTail.push(event.line);
            if (textTail.length > MAX_KEPT_TEXT) textTail.shift();
          }
          options.onEvent?.(event);
        }
      },
    },
    onSpawn: pid => options.onSpawn?.(pid, command.command),
  }).catch(async (error: unknown) => {
    await sshLog?.remove();
    throw error;
  });

  const sshSaid = sshLog ? sshLines([redact(await readFile(sshLog.path, "utf8").catch(() => ""))]) : [];
  await sshLog?.remove();
  const { end } = run;
  if (end.kind === "not_started") throw borgError("not_installed", { ...context, details: [redact(run.error ?? end.code)] });
  // an abort before the start (a passcommand may have taken a while) starts no borg at all
  if (!run.started) throw borgError("interrupted", context);
  const exit = run.exit ?? { code: null, signal: null };
  const exitCode = exit.code ?? 128 + (exit.signal ? osConstants.signals[exit.signal] : 0);
  // borg's only deadline is its inactivity timeout
  const stopReason = end.kind === "aborted" ? "aborted" : end.kind === "timed_out" ? "inactive" : undefined;
  try {
    return settleRun(command, {
      exitCode,
      stdout: run.stdout,
      logs,
      textTail,
      stopReason,
      durationMs: Date.now() - started,
      ssh: sshSaid,
      checkpoint: command.command === "create" && checkpoint.committed(),
    });
  } catch (error) {
    if (error instanceof BorgError && error.context.traceback !== undefined) options.onTraceback?.(error.context.traceback);
    throw error;
  }
}

/** What a finished borg process left behind, for {@link settleRun}. */
export interface FinishedRun {
  exitCode: number;
  stdout: string;
  logs: readonly LogMessage[];
  /** The last non-JSON stderr lines (a usage error, a traceback written before borg's logging started). */
  textTail: readonly string[];
  /** Set when we stopped borg ourselves. */
  stopReason?: "aborted" | "inactive";
  durationMs: number;
  /** What ssh wrote to its own log file (remote repositories). */
  ssh?: readonly string[];
  /** A create committed a checkpoint before it ended (see {@link checkpointWatch}). */
  checkpoint?: boolean;
}

/** The patterns a command gives borg: `--exclude`/`--pattern` values and the path patterns after `REPO::ARCHIVE`. */
export function commandPatterns(args: readonly string[]): string[] {
  const patterns: string[] = [];
  let afterArchive = false;
  for (const [index, arg] of args.entries()) {
    const previous = args[index - 1];
    if (previous === "--exclude" || previous === "-e" || previous === "--pattern") patterns.push(arg);
    else if (afterArchive && !arg.startsWith("-")) patterns.push(arg);
    if (arg.includes("::")) afterArchive = true;
  }
  return patterns;
}

/**
 * Decide the result of a finished run: the exit-code policy first, then the msgids of
 * borg's error lines; a warning is a result that carries its warning lines. A Python
 * traceback is a crash whatever the exit code (borg exits 1 when it crashes before its
 * logging starts); borg's warnings that need nothing from anyone are notes, and a run
 * that warned of nothing else succeeded.
 */
export function settleRun<T>(command: BorgCommand<T>, run: FinishedRun): BorgRun<T> {
  const { exitCode } = run;
  const traceback = textTraceback(run.textTail) ?? logTraceback(run.logs);
  const exitOutcome = classifyExitCode(exitCode);
  const outcome = exitOutcome === "warning" && traceback !== undefined ? "error" : exitOutcome;
  const errorLines = run.logs.filter(log => (log.level === "ERROR" || log.level === "CRITICAL") && !isCrashReport(log)).map(log => log.message);
  const details = errorLines.length > 0 ? errorLines : traceback === undefined ? run.textTail.slice(-5) : [];
  const context = {
    command: command.command,
    repository: command.repository,
    archive: command.archive,
    ...(command.breakLockLine === undefined ? {} : { breakLockLine: command.breakLockLine }),
    exitCode,
    details,
    ...(traceback === undefined ? {} : { traceback }),
    ...(run.checkpoint ? { checkpoint: true } : {}),
  };
  if (run.stopReason && outcome !== "success") {
    throw borgError(run.stopReason === "aborted" ? "interrupted" : "timeout", context);
  }
  if (outcome === "error" || outcome === "signal") {
    throw errorFromLogs(run.logs, context, { text: run.textTail, patterns: commandPatterns(command.args), ssh: run.ssh });
  }
  const notes = [...new Set([...run.logs.flatMap(log => noteOf(log) ?? []), ...(run.ssh ?? []).flatMap(line => sshNote(line) ?? [])])];
  const logs = run.logs.filter(log => noteOf(log) === undefined);
  const warnings = logs.filter(log => log.level === "WARNING");
  return {
    value: command.parse({ stdout: run.stdout, exitCode, logs }),
    outcome: outcome === "warning" && (warnings.length > 0 || notes.length === 0) ? "warning" : "success",
    exitCode,
    warnings,
    notes,
    durationMs: run.durationMs,
  };
}
