/**
 * A shell command in a process group of its own, with a deadline and a cancel path: a hook
 * before or after a backup, or a passcommand. At the deadline or the abort the whole group
 * is stopped (SIGTERM, then SIGKILL after a grace period), so that a child the command started
 * (`sleep 60 & …`, a dump tool, an ssh) cannot outlive it, and the result settles without
 * waiting for pipes that such a child may still hold open.
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** How a command in its own process group ended. */
export type GroupEnd =
  | { kind: "exited"; code: number | null; signal: NodeJS.Signals | null }
  | { kind: "timed_out" }
  | { kind: "aborted"; reason: unknown }
  | { kind: "not_started"; code: string };

/** What a command in its own process group did. */
export interface GroupRun {
  end: GroupEnd;
  /** Whether a process was started at all (an abort before the start starts nothing). */
  started: boolean;
  /** When it was stopped (timeout or abort): whether no process of its group was left. */
  stopped?: { groupGone: boolean };
  /** The end of what it wrote (at most {@link GroupOptions.maxOutputBytes} of each). */
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they came. */
  all: string;
}

/** How to run a command in its own process group. */
export interface GroupOptions {
  /** The child's whole environment (nothing is inherited implicitly). */
  env: Readonly<Record<string, string>>;
  /** Stop the group after this long. */
  timeoutMs: number;
  /** Stop the group when this aborts; an already aborted signal starts nothing. */
  signal?: AbortSignal;
  /** Between SIGTERM and SIGKILL to the group, and again after SIGKILL before giving up waiting (default 3 s). */
  graceMs?: number;
  /** The end of each stream that is kept (default 64 KiB). */
  maxOutputBytes?: number;
  cwd?: string;
  /** Called with the process (and group) id once it has started. */
  onSpawn?: (pid: number) => void;
}

const DEFAULT_GRACE_MS = 3000;
const DEFAULT_MAX_OUTPUT = 64 * 1024;
/** How often a stopped group is looked at until it is gone. */
const GONE_POLL_MS = 50;
/** After the command itself exited, how long a child that still holds its output is read from. */
const DRAIN_MS = 100;

/**
 * The live processes of a process group, from /proc: a zombie is dead already, and is gone
 * once its new parent reaps it (some init processes take a second or more). Undefined where
 * /proc cannot be read.
 */
export function groupMembers(pgid: number): number[] | undefined {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return undefined;
  }
  const members: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    // "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) === pgid && fields[0] !== "Z" && fields[0] !== "X") members.push(Number(entry));
  }
  return members;
}

/** True while a live process of the group exists. */
export function groupAlive(pgid: number): boolean {
  const members = groupMembers(pgid);
  if (members) return members.length > 0;
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    // EPERM: a member exists that we may not signal
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // the group is gone already
  }
}

/** A text buffer that keeps only its last `max` bytes. */
function tailBuffer(max: number) {
  let chunks: Buffer[] = [];
  let size = 0;
  return {
    push(chunk: Buffer) {
      chunks.push(chunk);
      size += chunk.length;
      while (size > max && chunks.length > 1) size -= chunks.shift()!.length;
      if (size > max) {
        chunks = [chunks[0]!.subarray(size - max)];
        size = max;
      }
    },
    text: () => Buffer.concat(chunks).toString("utf8"),
  };
}

/**
 * Run `file args` as the leader of a new process group (and session), without stdin.
 * Never rejects. It settles when the command has exited and its output is read; when a
 * child it left in its group keeps the output open, soon after the command's exit, leaving
 * that child running (a hook may start a background process on purpose); at the deadline or
 * the abort, once the whole group is gone or, at the latest, two grace periods after SIGTERM.
 */
export function runProcessGroup(file: string, args: readonly string[], options: GroupOptions): Promise<GroupRun> {
  const max = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  const stdout = tailBuffer(max);
  const stderr = tailBuffer(max);
  const all = tailBuffer(max);
  const output = () => ({ stdout: stdout.text(), stderr: stderr.text(), all: all.text() });
  if (options.signal?.aborted) {
    const reason: unknown = options.signal.reason;
    return Promise.resolve({ end: { kind: "aborted", reason }, started: false, ...output() });
  }

  return new Promise<GroupRun>(resolve => {
    const child = spawn(file, args, {
      detached: true,
      env: options.env,
      cwd: options.cwd,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const pid = child.pid;
    const timers: NodeJS.Timeout[] = [];
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let closed = false;
    let stop: { end: GroupEnd; done: boolean; groupGone: boolean } | undefined;
    let settled = false;

    const finish = (run: Omit<GroupRun, "stdout" | "stderr" | "all">) => {
      if (settled) return;
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      // a child outside our control may hold the pipes: stop reading instead of waiting
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve({ ...run, ...output() });
    };

    /** Settle once both the command has exited and the stop (if any) is over. */
    const settleIfDone = () => {
      if (stop) {
        if (stop.done && (exit || !stop.groupGone)) finish({ end: stop.end, started: true, stopped: { groupGone: stop.groupGone } });
        return;
      }
      if (!exit) return;
      if (closed) finish({ end: { kind: "exited", ...exit }, started: true });
    };

    const halt = (end: GroupEnd) => {
      if (stop || settled || pid === undefined) return;
      // the command ended on its own; only a process outside its group still held the output
      if (exit) return finish({ end: { kind: "exited", ...exit }, started: true });
      const current = { end, done: false, groupGone: false };
      stop = current;
      signalGroup(pid, "SIGTERM");
      const started = Date.now();
      const grace = options.graceMs ?? DEFAULT_GRACE_MS;
      let killed = false;
      const look = () => {
        if (!groupAlive(pid)) {
          current.groupGone = true;
          current.done = true;
          settleIfDone();
          // the command may not have been reaped yet: its exit settles
          return;
        }
        const waited = Date.now() - started;
        if (!killed && waited >= grace) {
          killed = true;
          signalGroup(pid, "SIGKILL");
        }
        if (waited >= 2 * grace) {
          current.done = true;
          settleIfDone();
          return;
        }
        timers.push(setTimeout(look, GONE_POLL_MS));
      };
      look();
    };

    const onAbort = () => {
      const reason: unknown = options.signal?.reason;
      halt({ kind: "aborted", reason });
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });
    timers.push(setTimeout(() => halt({ kind: "timed_out" }), options.timeoutMs));

    child.stdout?.on("data", (chunk: Buffer) => {
      stdout.push(chunk);
      all.push(chunk);
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr.push(chunk);
      all.push(chunk);
    });
    child.once("error", (error: NodeJS.ErrnoException) => {
      if (pid === undefined) finish({ end: { kind: "not_started", code: error.code ?? "error" }, started: false });
    });
    child.once("exit", (code, signal) => {
      exit = { code, signal };
      if (!stop && pid !== undefined && groupAlive(pid)) {
        // a child it left behind (`server &`) may keep the output open: read what is there, then let it be
        timers.push(setTimeout(() => finish({ end: { kind: "exited", code, signal }, started: true }), DRAIN_MS));
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
