/**
 * Cancel requests between processes of one drone: `backup-drone cancel` (and the daemon, for a
 * Cancel pressed in Home Assistant while a terminal runs the operation) writes a small request
 * file next to the run lock and sends the lock's owner SIGUSR2; the owner (the daemon or a
 * one-shot command) takes the request and cancels its run. The file says who asked; the
 * signal carries nothing, and a signal without a fresh request for this very process is ignored.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { hostname, userInfo } from "node:os";
import { chown, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { z } from "zod";

import { PRINTABLE_NAME, PRINTABLE_NAME_MESSAGE } from "../../../libs/protocol/index.mjs";
import { type CancelAnswer, type DroneEngine } from "./engine.mjs";
import { type LockHolder, ownerAlive, readHolder } from "./lock-file.mjs";
import { type RunningMarker } from "./state.mjs";

/** The signal that asks a drone process to read its cancel request. */
export const CANCEL_SIGNAL = "SIGUSR2";

/** A request older than this is stale (its sender gave up long ago): it is ignored. */
export const CANCEL_REQUEST_MAX_AGE_MS = 60_000;

/** What a cancel request file holds. */
export const cancelRequestSchema = z.object({
  v: z.literal(1),
  /** Who asked, for the result's `cancelled_by`: `cli (user@host)`. */
  by: z.string().min(1).max(200).regex(PRINTABLE_NAME, PRINTABLE_NAME_MESSAGE),
  /** When it was written. */
  at: z.iso.datetime({ offset: true }),
  /** The process asked: a request left for another (earlier) process is stale. */
  pid: z.number().int().positive(),
  /** The run to cancel, when the sender saw one: another run (the next one, started since) is left alone. */
  runId: z.string().min(1).max(100).nullable(),
});
/** A cancel request. */
export type CancelRequest = z.infer<typeof cancelRequestSchema>;

/** The request file of a drone: next to its run lock. */
export function cancelRequestPath(stateDir: string, droneId: string): string {
  return join(stateDir, `${droneId}.cancel`);
}

/**
 * Write a request (mode 0600, whole: written aside and renamed into place). `owner`: the
 * user and group the file is given before it is renamed into place (root asking a drone that
 * runs as another user, which could not read a root-owned 0600 file).
 */
export async function writeCancelRequest(path: string, request: CancelRequest, owner?: { uid: number; gid: number }): Promise<void> {
  const temp = `${path}.${process.pid}.${randomUUID()}.tmp`;
  await writeFile(temp, `${JSON.stringify(request)}\n`, { mode: 0o600 });
  try {
    if (owner) await chown(temp, owner.uid, owner.gid);
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

/** A request as taken: valid and meant for this process now, or why it is ignored. */
export type TakenRequest = { request: CancelRequest } | { ignored: string };

/** Judge a request file's text (pure): valid, for process `pid`, and fresh at `now`. */
export function judgeCancelRequest(text: string, pid: number, now: Date): TakenRequest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ignored: "the request file is not JSON" };
  }
  const parsed = cancelRequestSchema.safeParse(json);
  if (!parsed.success) return { ignored: `the request file is not valid (${parsed.error.issues[0]?.path.join(".") || "its shape"})` };
  const request = parsed.data;
  if (request.pid !== pid) return { ignored: `the request was meant for pid ${request.pid}` };
  const age = now.getTime() - Date.parse(request.at);
  if (age > CANCEL_REQUEST_MAX_AGE_MS || age < -CANCEL_REQUEST_MAX_AGE_MS) return { ignored: `the request is stale (written ${request.at})` };
  return { request };
}

/** Read and remove the request file; undefined when there is none. */
export async function takeCancelRequest(path: string, now = new Date()): Promise<TakenRequest | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  // taken once: a second signal must not cancel the next run with the same request
  await unlink(path).catch(() => undefined);
  return judgeCancelRequest(text, process.pid, now);
}

/**
 * Whether a process catches SIGUSR2 (Linux: the SigCgt mask of /proc/PID/status). A process
 * that does not (an older drone, a program that embeds the drone library) would be killed by
 * it: Node's default for SIGUSR2 ends the process. Undefined when the mask cannot be read.
 */
export function catchesCancelSignal(pid: number): boolean | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined;
  }
  const mask = /^SigCgt:\s*([0-9a-f]+)$/im.exec(status)?.[1];
  if (mask === undefined) return undefined;
  // signal N is bit N-1 of the mask; SIGUSR2 is 12 on Linux
  return ((BigInt(`0x${mask}`) >> 11n) & 1n) === 1n;
}

/** Who asks from a shell on this machine: `cli (user@host)`, printable whatever the user and host are called. */
export function cliRequester(): string {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    // a uid without a passwd entry (a container): the uid says enough
    user = String(process.getuid?.() ?? "unknown");
  }
  return `cli (${user}@${hostname()})`.replace(/[\p{Cc}\u2028\u2029\u202A-\u202E\u2066-\u2069]/gu, "?").slice(0, 200);
}

/** What became of a cancel asked of another process. */
export type CancelDelivery =
  /** No other live process holds the run lock: nothing runs elsewhere. */
  | { kind: "nothing" }
  /** The request was written and the owner signalled; `run` is its run when the state file names it. */
  | { kind: "sent"; pid: number; holder: LockHolder; run: RunningMarker | null }
  /** Not delivered: why, in one line that says what to do. */
  | { kind: "refused"; pid: number | null; run: RunningMarker | null; message: string };

const denied = (error: unknown) => ["EACCES", "EPERM"].includes((error as NodeJS.ErrnoException).code ?? "");
const NOT_YOURS = "only the user the drone runs as (or root) can cancel its run: run the command as that user, or with sudo";

/**
 * Ask the process that holds this drone's run lock (another than this one) to cancel its run:
 * write the request file and send it SIGUSR2. `marker`: the run the state file names (its
 * operation and id, when it is that process's). A process that may not listen for the signal
 * is not sent it (Node's default for SIGUSR2 would end it).
 */
export async function deliverCancel(options: {
  stateDir: string;
  droneId: string;
  by: string;
  marker: RunningMarker | null;
  /** Whether a process catches the signal (tests stand in for /proc). */
  catches?: (pid: number) => boolean | undefined;
}): Promise<CancelDelivery> {
  const { stateDir, droneId, by } = options;
  const lockPath = join(stateDir, `${droneId}.lock`);
  let holder: LockHolder | undefined;
  try {
    holder = await readHolder(lockPath);
  } catch (error) {
    if (!denied(error)) throw error;
    return { kind: "refused", pid: null, run: null, message: `cannot read the run lock ${lockPath}; ${NOT_YOURS}` };
  }
  const owner = holder && ownerAlive(holder) ? holder.owner : undefined;
  if (!holder || !owner || owner.pid === process.pid) return { kind: "nothing" };
  const run = options.marker?.pid === owner.pid ? options.marker : null;
  const refused = (message: string): CancelDelivery => ({ kind: "refused", pid: owner.pid, run, message });
  const running = `${run?.operation ?? "an operation"} for ${droneId} (pid ${owner.pid})`;

  const listens = (options.catches ?? catchesCancelSignal)(owner.pid);
  if (listens === false) {
    return refused(
      `the process running ${running} does not take cancel requests (an older backup-drone, or a program that embeds the drone library); stop it there, or with SIGTERM`,
    );
  }
  if (listens === undefined) {
    return refused(
      `cannot tell whether pid ${owner.pid} listens for a cancel (its /proc/${owner.pid}/status cannot be read), and the signal would end a process that does not; stop ${running} there, or with SIGTERM`,
    );
  }
  const requestPath = cancelRequestPath(stateDir, droneId);
  try {
    // root asking a drone that runs as another user: the request must be the drone's to read
    const lockOwner = process.getuid?.() === 0 ? await stat(lockPath) : undefined;
    const request: CancelRequest = { v: 1, by, at: new Date().toISOString(), pid: owner.pid, runId: run?.runId ?? null };
    await writeCancelRequest(requestPath, request, lockOwner && { uid: lockOwner.uid, gid: lockOwner.gid });
    process.kill(owner.pid, CANCEL_SIGNAL);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // the owner ended (and its lock went) meanwhile
    if (code === "ESRCH" || code === "ENOENT") return { kind: "nothing" };
    if (denied(error)) return refused(`the process running ${running} belongs to another user; ${NOT_YOURS}`);
    throw error;
  }
  return { kind: "sent", pid: owner.pid, holder, run };
}

/** What a cancel asked of a running drone (the Cancel button, the `cancel` command) did. */
export type CancelReach =
  /** This process runs (or queues) something: its engine cancels it; `answer` settles when the run has ended. */
  | { where: "here"; runId: string | null; answer: Promise<CancelAnswer> }
  /** This process runs nothing: the process that holds the run lock (a command in a terminal) was asked, or nothing runs. */
  | { where: "elsewhere"; delivery: CancelDelivery };

/**
 * Cancel what this drone runs, wherever it runs: in this process's engine, or, when that runs
 * and queues nothing, in the process of this drone that holds the run lock.
 */
export async function cancelWherever(engine: DroneEngine, by: string): Promise<CancelReach> {
  const live = engine.live();
  if (live.operation !== null || live.queue.length > 0) return { where: "here", runId: live.runId, answer: engine.cancel(by) };
  const { stateDir, droneId } = engine.config;
  return { where: "elsewhere", delivery: await deliverCancel({ stateDir, droneId, by, marker: engine.persisted().running }) };
}

/** What a listener does with a valid request. */
export interface CancelListenerOptions {
  path: string;
  /** The run that runs now, to compare with the request's. */
  runningRunId: () => string | null;
  cancel: (by: string) => Promise<unknown>;
  log: { info: (message: string) => void; warn: (message: string) => void };
}

/**
 * Handle SIGUSR2 in this process: take the request and cancel. Returns the function that stops
 * taking requests (at shutdown): the signal is then logged and ignored until the process exits.
 */
export function listenForCancelRequests(options: CancelListenerOptions): () => void {
  const { path, log } = options;
  const onSignal = () => {
    void takeCancelRequest(path)
      .then(taken => {
        if (!taken) return log.warn(`${CANCEL_SIGNAL} received without a cancel request (${path}): ignored`);
        if ("ignored" in taken) return log.warn(`cancel request ignored: ${taken.ignored}`);
        const { request } = taken;
        const running = options.runningRunId();
        if (request.runId !== null && running !== null && request.runId !== running) {
          return log.info(`cancel request of ${request.by} ignored: it was for run ${request.runId}, which has ended`);
        }
        log.info(`cancel requested by ${request.by}`);
        return options.cancel(request.by);
      })
      .catch((error: unknown) => log.warn(`cancel request failed: ${error instanceof Error ? error.message : String(error)}`));
  };
  process.off(CANCEL_SIGNAL, ignoreSignal);
  process.on(CANCEL_SIGNAL, onSignal);
  return () => {
    // not back to Node's default, which ends the process: a cancel sent while it shuts down
    // (borg committing its checkpoint) must not kill it
    ignoredLog = log;
    process.off(CANCEL_SIGNAL, ignoreSignal).on(CANCEL_SIGNAL, ignoreSignal);
    process.off(CANCEL_SIGNAL, onSignal);
  };
}

/** Where a signal that came after the listener stopped is logged. */
let ignoredLog: CancelListenerOptions["log"] | undefined;
/** One handler for the whole process (installed once however often a listener stops), kept until it exits. */
const ignoreSignal = () => ignoredLog?.info(`${CANCEL_SIGNAL} received while stopping: ignored (the run is being stopped already)`);
