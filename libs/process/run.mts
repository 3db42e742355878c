/**
 * The one place in apps/ and libs/ that starts a process: borg, a passcommand, a shell hook.
 * It owns the spawn, the process group, the stop sequence (signals a grace period apart),
 * the deadline, the inactivity timeout, the abort, an extra descriptor for a secret, and the
 * output (kept ends of streams, lines as they come).
 *
 * Processes start with node:child_process, not execa: loading execa's modules took about
 * 0.1 s of every one-shot borg command (docs/benchmarks.md), and what is needed here (a pipe
 * per stream, one extra descriptor, signals, process groups) is spawn's own.
 */
import { spawn, type StdioOptions } from "node:child_process";
import { type Readable, type Writable } from "node:stream";

import { groupAlive, signalGroup } from "./group.mjs";
import { readLines, tailBuffer } from "./output.mjs";

/** How a process ended, as its caller sees it: a stop of ours wins over the exit it caused. */
export type ProcessEnd =
  | { kind: "exited"; code: number | null; signal: NodeJS.Signals | null }
  /** Stopped at the deadline or after the inactivity timeout. */
  | { kind: "timed_out" }
  | { kind: "aborted"; reason: unknown }
  | { kind: "not_started"; code: string };

/** What a process did. */
export interface ProcessRun {
  end: ProcessEnd;
  /** Whether a process was started at all (an abort before the start starts nothing). */
  started: boolean;
  /** Its exit status, once seen (also when we stopped it; absent when a group was given up on). */
  exit?: { code: number | null; signal: NodeJS.Signals | null };
  /** Why it could not start, as the system said it. */
  error?: string;
  /** Set when we stopped it; with a group: whether no process of its group was left. */
  stopped?: { groupGone?: boolean };
  /** The kept ends of what it wrote (see {@link ProcessOptions.keep}). */
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they came. */
  all: string;
}

/** The signals that stop a process, each one grace period after the one before. */
export interface StopSequence {
  signals: readonly [NodeJS.Signals, ...NodeJS.Signals[]];
  graceMs: number;
}

/** How to run a process. */
export interface ProcessOptions {
  /** The child's whole environment (nothing is inherited implicitly). */
  env: Readonly<Record<string, string>>;
  cwd?: string;
  /**
   * Start it as the leader of a new process group (and session), and stop the whole group:
   * a child it started cannot outlive it. The run then settles without waiting for pipes a
   * left-over child holds: soon after the command's exit, and after a stop once the group is
   * gone or, at the latest, one grace period after the last signal. One exception: with
   * `stdoutTo`, a command that exited 0 while its group still holds stdout is waited for
   * until stdout's end (its data is whole only then); the deadline or the abort stops the
   * group meanwhile, and the end is then `timed_out` or `aborted`, never `exited`.
   */
  group?: boolean;
  /** How it is stopped at the deadline, the inactivity timeout or the abort. */
  stop: StopSequence;
  /** Stop it after this long. */
  timeoutMs?: number;
  /** Stop it when it writes nothing for this long. */
  inactivityTimeoutMs?: number;
  /** Stop it when this aborts; an already aborted signal starts nothing. */
  signal?: AbortSignal;
  /**
   * Stop it when this aborts, skipping a first SIGINT of `stop` (borg create: SIGTERM ends it
   * without writing a checkpoint archive). The end is `aborted` with this signal's reason.
   */
  terminate?: AbortSignal;
  /**
   * Where its standard output goes, as it comes and at the pace the stream takes it
   * (backpressure); the stream is never ended here: the caller decides once the process has
   * ended (a dump's data is closed only after its tool exited 0).
   */
  stdoutTo?: Writable;
  /** Text written to an extra pipe at this descriptor, which is then closed (a secret that must not go through argv or the environment). */
  input?: { fd: number; text: string };
  /** What the child reads on stdin (default /dev/null): piped in; the child's stdin closes when it ends. */
  stdin?: Readable;
  /** How many bytes of the end of each stream, and of both interleaved, are kept (`Infinity`: all; default none). */
  keep?: { stdout?: number; stderr?: number; all?: number };
  /** Called with each line of a stream as it arrives; the run settles after the last one. */
  onLine?: { stdout?: (line: string) => void; stderr?: (line: string) => void };
  /** Called with the process (and, with `group`, group) id once it has started. */
  onSpawn?: (pid: number) => void;
}

/** How often a stopped group is looked at until it is gone. */
const GONE_POLL_MS = 50;
/** After a group's leader exited, how long a child that still holds its output is read from. */
const DRAIN_MS = 100;

/** stdin is /dev/null unless given: a question the child asks fails at once instead of waiting for an answer. */
function stdioOf(input: ProcessOptions["input"], stdin: boolean): StdioOptions {
  const zero = stdin ? "pipe" : "ignore";
  if (input === undefined) return [zero, "pipe", "pipe"];
  return Array.from({ length: Math.max(3, input.fd + 1) }, (_, fd) => (fd === 0 ? zero : fd <= 2 || fd === input.fd ? "pipe" : "ignore"));
}

/**
 * Run `file args`. Never rejects, unless an `onLine` callback threw (then with that error,
 * once the process has ended). Without `group` it settles when the process has exited and
 * its output is closed; see {@link ProcessOptions.group} for a group.
 */
export function runProcess(file: string, args: readonly string[], options: ProcessOptions): Promise<ProcessRun> {
  const stdout = tailBuffer(options.keep?.stdout ?? 0);
  const stderr = tailBuffer(options.keep?.stderr ?? 0);
  const all = tailBuffer(options.keep?.all ?? 0);
  const output = () => ({ stdout: stdout.text(), stderr: stderr.text(), all: all.text() });
  if (options.signal?.aborted) {
    const reason: unknown = options.signal.reason;
    return Promise.resolve({ end: { kind: "aborted", reason }, started: false, ...output() });
  }
  const group = options.group === true;

  return new Promise<ProcessRun>((resolve, reject) => {
    const child = spawn(file, args, { detached: group, env: options.env, cwd: options.cwd, stdio: stdioOf(options.input, options.stdin !== undefined) });
    const pid = child.pid;
    const timers = new Set<NodeJS.Timeout>();
    const later = (action: () => void, ms: number) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        action();
      }, ms);
      timers.add(timer);
      return timer;
    };
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let closed = false;
    let stop: { end: ProcessEnd; done: boolean; groupGone: boolean } | undefined;
    let settled = false;
    let stdoutEnded = false;
    /** The leader exited 0 and its group still holds stdout, which goes to `stdoutTo`: its end is waited for. */
    let awaitingStdout = false;
    let drainStarted = false;
    const readers: Promise<Error | undefined>[] = [];

    const finish = (run: Pick<ProcessRun, "end" | "started" | "stopped" | "error">, failure?: Error) => {
      if (settled) return;
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      options.terminate?.removeEventListener("abort", onTerminate);
      // a child outside our control may hold the pipes: stop reading instead of waiting
      child.stdout?.destroy();
      child.stderr?.destroy();
      if (options.stdin && child.stdin) options.stdin.unpipe(child.stdin);
      if (failure) reject(failure);
      else resolve({ ...run, ...(exit ? { exit } : {}), ...output() });
    };
    const exited = () => finish({ end: { kind: "exited", ...(exit ?? { code: null, signal: null }) }, started: true });
    const stoppedEnd = (current: NonNullable<typeof stop>) =>
      finish({ end: current.end, started: true, stopped: group ? { groupGone: current.groupGone } : {} });

    /** Settle once the process has exited, its output is read, and the stop (if any) is over. */
    const settleIfDone = () => {
      if (settled) return;
      if (!group) {
        if (!closed) return;
        const current = stop;
        void Promise.all(readers).then(failures => {
          const failure = failures.find(error => error !== undefined);
          if (failure) finish({ end: { kind: "exited", code: null, signal: null }, started: true }, failure);
          else if (current) stoppedEnd(current);
          else exited();
        });
        return;
      }
      if (stop) {
        if (stop.done && (exit || !stop.groupGone)) stoppedEnd(stop);
        return;
      }
      if (exit && closed) exited();
    };

    const send = (signal: NodeJS.Signals) => {
      if (pid === undefined) return;
      if (group) signalGroup(pid, signal);
      else child.kill(signal);
    };

    const halt = (end: ProcessEnd, sequence: readonly [NodeJS.Signals, ...NodeJS.Signals[]] = options.stop.signals) => {
      if (stop || settled || pid === undefined) return;
      // a leader that exited 0 while its group still writes stdout: the group is stopped, and the data is not whole
      if (exit && !(awaitingStdout && !stdoutEnded)) {
        // it ended on its own; in a group only a process outside it still held the output
        if (group) exited();
        return;
      }
      const current = { end, done: false, groupGone: false };
      stop = current;
      const { graceMs } = options.stop;
      const signals = sequence;
      const escalation = signals.slice(1).map((signal, step) => later(() => send(signal), graceMs * (step + 1)));
      send(signals[0]);
      if (!group) return;
      const started = Date.now();
      const look = () => {
        if (!groupAlive(pid)) {
          for (const timer of escalation) clearTimeout(timer);
          current.groupGone = true;
          current.done = true;
          // the leader may not have been reaped yet: its exit settles
          settleIfDone();
          return;
        }
        if (Date.now() - started >= graceMs * signals.length) {
          current.done = true;
          settleIfDone();
          return;
        }
        later(look, GONE_POLL_MS);
      };
      look();
    };

    const onAbort = () => {
      const reason: unknown = options.signal?.reason;
      halt({ kind: "aborted", reason });
    };
    const onTerminate = () => {
      const reason: unknown = options.terminate?.reason;
      const rest = options.stop.signals.filter(signal => signal !== "SIGINT");
      const [first = "SIGTERM", ...others] = rest;
      halt({ kind: "aborted", reason }, [first, ...others]);
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });
    options.terminate?.addEventListener("abort", onTerminate, { once: true });
    if (options.terminate?.aborted) onTerminate();
    if (options.timeoutMs !== undefined) later(() => halt({ kind: "timed_out" }), options.timeoutMs);
    let inactivity: NodeJS.Timeout | undefined;
    const touch = () => {
      if (options.inactivityTimeoutMs === undefined) return;
      if (inactivity) {
        clearTimeout(inactivity);
        timers.delete(inactivity);
      }
      inactivity = later(() => halt({ kind: "timed_out" }), options.inactivityTimeoutMs);
    };
    touch();

    if (options.input) {
      const pipe = child.stdio[options.input.fd] as Writable | null | undefined;
      // the child may exit before it reads (a usage error): a closed pipe is not our failure
      pipe?.on("error", () => undefined);
      pipe?.end(options.input.text);
    }
    if (options.stdin && child.stdin) {
      // a child that exits before it read everything closes its end: that is its exit's to report
      child.stdin.on("error", () => undefined);
      options.stdin.pipe(child.stdin);
    }
    child.stdout?.on("data", (chunk: Buffer) => {
      touch();
      stdout.push(chunk);
      all.push(chunk);
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      touch();
      stderr.push(chunk);
      all.push(chunk);
    });
    // the destination's own failure (its reader went away) is the caller's to see: not a crash here
    if (options.stdoutTo && child.stdout) child.stdout.pipe(options.stdoutTo, { end: false });
    if (options.onLine?.stdout && child.stdout) readers.push(readLines(child.stdout, options.onLine.stdout));
    if (options.onLine?.stderr && child.stderr) readers.push(readLines(child.stderr, options.onLine.stderr));

    child.once("error", (error: NodeJS.ErrnoException) => {
      if (pid === undefined) finish({ end: { kind: "not_started", code: error.code ?? "error" }, started: false, error: error.message });
    });
    /** Settle soon after stdout's end once the leader is gone: a left-over child may still hold stderr. */
    const drainAfterStdout = () => {
      if (!awaitingStdout || !stdoutEnded || drainStarted || stop) return;
      drainStarted = true;
      later(exited, DRAIN_MS);
    };
    child.stdout?.once("close", () => {
      stdoutEnded = true;
      drainAfterStdout();
    });
    child.once("exit", (code, signal) => {
      exit = { code, signal };
      if (group && !stop && pid !== undefined && groupAlive(pid)) {
        if (options.stdoutTo && code === 0) {
          // `(sleep 1; echo rest) & echo start` exits 0 while its child still writes the data:
          // stdout's end is the data's end, awaited up to the deadline
          awaitingStdout = true;
          drainAfterStdout();
        } else {
          // a child it left behind (`server &`) may keep the output open: read what is there, then let it be
          later(exited, DRAIN_MS);
        }
      }
      settleIfDone();
    });
    child.once("close", () => {
      closed = true;
      settleIfDone();
    });
    if (pid !== undefined) options.onSpawn?.(pid);
  });
}
