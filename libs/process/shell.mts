/**
 * A shell command in a process group of its own, with a deadline and a cancel path: a hook
 * before or after a backup, or a passcommand. At the deadline or the abort the whole group
 * is stopped (SIGTERM, then SIGKILL a grace period later), so that a child the command started
 * (`sleep 60 & …`, a dump tool, an ssh) cannot outlive it, and the result settles without
 * waiting for pipes that such a child may still hold open.
 */
import { type ProcessRun, runProcess, type StopSequence } from "./run.mjs";

/** A shell command's group gets SIGTERM, then SIGKILL after this sequence's grace period. */
export const SHELL_STOP: StopSequence = { signals: ["SIGTERM", "SIGKILL"], graceMs: 3000 };
/** The end of each stream (and of both interleaved) that is kept. */
const MAX_OUTPUT_BYTES = 64 * 1024;

/** How to run a shell command. */
export interface ShellOptions {
  /** The command's whole environment (nothing is inherited implicitly). */
  env: Readonly<Record<string, string>>;
  /** Stop its group after this long. */
  timeoutMs: number;
  /** Stop its group when this aborts; an already aborted signal starts nothing. */
  signal?: AbortSignal;
}

/** Run `sh -c command` as the leader of a new process group, without stdin. Never rejects. */
export function runShell(command: string, options: ShellOptions): Promise<ProcessRun> {
  return runProcess("sh", ["-c", command], {
    env: options.env,
    group: true,
    stop: SHELL_STOP,
    timeoutMs: options.timeoutMs,
    signal: options.signal,
    keep: { stdout: MAX_OUTPUT_BYTES, stderr: MAX_OUTPUT_BYTES, all: MAX_OUTPUT_BYTES },
  });
}
