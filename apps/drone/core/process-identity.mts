/**
 * Which process a recorded pid names. A pid alone is not an identity: after a reboot, or
 * after enough processes, the pid the drone recorded (a run lock's owner, the borg of a run)
 * belongs to someone else. A process is named by its pid, its start time (in clock ticks
 * since boot, field 22 of /proc/PID/stat), its command line and the boot id; the drone
 * signals or waits for a recorded process only while all of them still match.
 *
 * Pure comparisons first, then the edge that reads /proc.
 */
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { basename } from "node:path";

import { z } from "zod";

/**
 * A command line as recorded: never the text (a secret given as `--PASSPHRASE=…` would end
 * up in the state file), but a salted hash of each argument and of each argument's file name.
 */
export const commandFingerprintSchema = z.object({
  salt: z.string().min(1),
  args: z.array(z.string()),
  names: z.array(z.string()),
});
/** A recorded command line. */
export type CommandFingerprint = z.infer<typeof commandFingerprintSchema>;

/** What the drone records of a process besides its pid. */
export const processIdentitySchema = z.object({
  /** /proc/sys/kernel/random/boot_id when the process was recorded. */
  bootId: z.string().min(1),
  /** Start time in clock ticks since boot (field 22 of /proc/PID/stat). */
  startTicks: z.number().int().min(0),
  /** Its command line (/proc/PID/cmdline). */
  command: commandFingerprintSchema,
});
/** A process's identity besides its pid, as recorded. */
export type ProcessIdentity = z.infer<typeof processIdentitySchema>;

/** A process as /proc shows it: its identity with the command line itself. */
export interface LiveIdentity {
  bootId: string;
  startTicks: number;
  argv: string[];
}

/** What the system says about a pid now. */
export type ObservedProcess =
  /** No such process, a process that has exited (a zombie), or one we may not see (never ours). */
  | { kind: "absent" }
  | {
      kind: "present";
      identity: LiveIdentity;
      /** When it started, in ms since the epoch (boot time + start ticks). */
      startedAtMs: number;
      /** When this boot began, in ms since the epoch. */
      bootedAtMs: number;
    }
  /** No /proc to ask (not Linux): only whether the pid exists. */
  | { kind: "unknown"; exists: boolean };

/**
 * For a record written before identities were recorded (an older drone): the facts the record
 * still gives. Each is a bound the real process must satisfy.
 */
export interface LegacyHints {
  /** When the record was written: a record from before this boot names nothing alive. */
  recordedAtMs: number;
  /** The process must have started by then (it wrote the record). */
  startedByMs?: number;
  /** The process must have started at or after this (it was started by the recorded run). */
  startedFromMs?: number;
  /** A program the command line must name (the borg binary's file name). */
  program?: string;
}

/** A recorded process: its pid and identity, or for an old record, what it still tells. */
export interface ProcessRecord {
  pid: number;
  identity: ProcessIdentity | null;
  legacy?: LegacyHints;
}

/**
 * How far wall-clock times may disagree with /proc's start times: the boot time /proc/stat
 * gives is whole seconds, and the clock may have been stepped since.
 */
const CLOCK_SLACK_MS = 2000;

/**
 * The state (field 3) and start time (field 22) of a /proc/PID/stat line; the name in field 2
 * may hold spaces and parentheses, so fields are counted from its closing parenthesis.
 */
export function parseStat(stat: string): { state: string; startTicks: number } | undefined {
  const close = stat.lastIndexOf(")");
  if (close < 0) return undefined;
  const fields = stat.slice(close + 1).trim().split(/\s+/);
  const state = fields[0];
  const start = fields[19];
  if (state === undefined || start === undefined || !/^\d+$/.test(start)) return undefined;
  return { state, startTicks: Number(start) };
}

/** The arguments of a /proc/PID/cmdline: NUL-separated, without the padding a rewritten process title leaves. */
export function parseCmdline(text: string): string[] {
  const argv = text.split("\0");
  while (argv.length > 0 && argv.at(-1) === "") argv.pop();
  return argv;
}

/** The boot time of /proc/stat (`btime`, seconds since the epoch), in ms. */
export function parseBootTime(procStat: string): number | undefined {
  const match = /^btime\s+(\d+)$/m.exec(procStat);
  return match?.[1] === undefined ? undefined : Number(match[1]) * 1000;
}

const digest = (salt: string, text: string) => createHash("sha256").update(salt).update("\0").update(text).digest("hex").slice(0, 16);

/** Record a command line (a fresh salt unless given one). */
export function fingerprint(argv: readonly string[], salt = randomBytes(8).toString("hex")): CommandFingerprint {
  return { salt, args: argv.map(arg => digest(salt, arg)), names: argv.map(arg => digest(salt, basename(arg))) };
}

/**
 * Whether an observed command line is the recorded one. A process keeps its pid through
 * `exec`, so the same process may show a later command of the same launch: `ionice … nice …
 * borg create …` becomes `borg create …`, and a script such as borg shows its interpreter
 * first (`/usr/bin/python3 /usr/bin/borg create …`). So the two must end with the same
 * arguments, and the entries just before those must name the same program (by file name).
 */
export function commandMatches(recorded: CommandFingerprint, observed: readonly string[]): boolean {
  const now = fingerprint(observed, recorded.salt);
  const { args } = recorded;
  if (args.length === 0 || now.args.length === 0) return false;
  let common = 0;
  while (common < args.length && common < now.args.length && args[args.length - 1 - common] === now.args[now.args.length - 1 - common]) {
    common++;
  }
  // equal, or one is the tail of the other: the program itself starts the common part
  if (common === args.length || common === now.args.length) return true;
  return recorded.names[recorded.names.length - 1 - common] === now.names[now.names.length - 1 - common];
}

/**
 * Whether a recorded process is still the one running under its pid. With an identity, every
 * part must match. A record without one (written by an older drone) counts only while nothing
 * contradicts it: written during this boot, the process started when the record says, and its
 * command names the expected program. Without /proc the pid's existence is all there is.
 */
export function isRecordedProcess(record: ProcessRecord, observed: ObservedProcess): boolean {
  if (observed.kind === "absent") return false;
  if (observed.kind === "unknown") return observed.exists;
  const now = observed.identity;
  if (record.identity) {
    return (
      record.identity.bootId === now.bootId &&
      record.identity.startTicks === now.startTicks &&
      commandMatches(record.identity.command, now.argv)
    );
  }
  const legacy = record.legacy;
  if (!legacy) return false;
  if (legacy.recordedAtMs < observed.bootedAtMs - CLOCK_SLACK_MS) return false;
  if (legacy.startedByMs !== undefined && observed.startedAtMs > legacy.startedByMs + CLOCK_SLACK_MS) return false;
  if (legacy.startedFromMs !== undefined && observed.startedAtMs < legacy.startedFromMs - CLOCK_SLACK_MS) return false;
  if (legacy.program !== undefined) {
    const program = legacy.program;
    if (!now.argv.some(argument => basename(argument) === program)) return false;
  }
  return true;
}

// ------------------------------------------------------------------ reading /proc

/** Clock ticks per second of /proc's times (USER_HZ): 100 on every Linux architecture Node runs on. */
const TICKS_PER_SECOND = 100;

/** A /proc file's text, or undefined when it cannot be read (the process is gone, or hidden from us). */
function readProc(path: string): string | undefined {
  try {
    // Node reads a file that stat reports as empty (as /proc's are) until its end
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** This boot's id and start, or undefined without /proc. */
function bootFacts(): { bootId: string; bootedAtMs: number } | undefined {
  const bootId = readProc("/proc/sys/kernel/random/boot_id")?.trim();
  const stat = readProc("/proc/stat");
  const bootedAtMs = stat === undefined ? undefined : parseBootTime(stat);
  if (!bootId || bootedAtMs === undefined) return undefined;
  return { bootId, bootedAtMs };
}

/** Does a pid exist (kill 0; EPERM means it exists, owned by someone else)? */
function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** What the system says about a pid now. */
export function observeProcess(pid: number): ObservedProcess {
  if (!Number.isInteger(pid) || pid <= 0) return { kind: "absent" };
  const boot = bootFacts();
  if (!boot) return { kind: "unknown", exists: pidExists(pid) };
  const stat = readProc(`/proc/${pid}/stat`);
  const cmdline = readProc(`/proc/${pid}/cmdline`);
  const parsed = stat === undefined ? undefined : parseStat(stat);
  // a zombie (Z) or dead (X) process has ended: only its parent has yet to collect it
  if (!parsed || cmdline === undefined || parsed.state === "Z" || parsed.state === "X") return { kind: "absent" };
  return {
    kind: "present",
    identity: { bootId: boot.bootId, startTicks: parsed.startTicks, argv: parseCmdline(cmdline) },
    startedAtMs: boot.bootedAtMs + (parsed.startTicks * 1000) / TICKS_PER_SECOND,
    bootedAtMs: boot.bootedAtMs,
  };
}

/** The identity of a live process (this one by default), to record; null where /proc cannot tell. */
export function processIdentity(pid = process.pid): ProcessIdentity | null {
  const observed = observeProcess(pid);
  if (observed.kind !== "present") return null;
  const { bootId, startTicks, argv } = observed.identity;
  return { bootId, startTicks, command: fingerprint(argv) };
}

/** Whether a pid names a running process (not one that has exited and awaits collection). */
export function isRunning(pid: number): boolean {
  const observed = observeProcess(pid);
  return observed.kind === "present" || (observed.kind === "unknown" && observed.exists);
}

/** Whether the recorded process is alive and still the one recorded. */
export function isRecordedAlive(record: ProcessRecord): boolean {
  return isRecordedProcess(record, observeProcess(record.pid));
}
