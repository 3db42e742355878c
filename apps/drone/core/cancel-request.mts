/**
 * Cancel requests between processes of one drone: `backup-drone cancel` writes a small request
 * file next to the run lock and sends the lock's owner SIGUSR2; the owner (the daemon or a
 * one-shot command) takes the request and cancels its run. The file says who asked; the
 * signal carries nothing, and a signal without a fresh request for this very process is ignored.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { readFile, rename, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { z } from "zod";

/** The signal that asks a drone process to read its cancel request. */
export const CANCEL_SIGNAL = "SIGUSR2";

/** A request older than this is stale (its sender gave up long ago): it is ignored. */
export const CANCEL_REQUEST_MAX_AGE_MS = 60_000;

/** What a cancel request file holds. */
export const cancelRequestSchema = z.object({
  v: z.literal(1),
  /** Who asked, for the result's `cancelled_by`: `cli (user@host)`. */
  by: z.string().min(1).max(200),
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

/** Write a request (mode 0600, whole: written aside and renamed into place). */
export async function writeCancelRequest(path: string, request: CancelRequest): Promise<void> {
  const temp = `${path}.${process.pid}.${randomUUID()}.tmp`;
  await writeFile(temp, `${JSON.stringify(request)}\n`, { mode: 0o600 });
  try {
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

/** What a listener does with a valid request. */
export interface CancelListenerOptions {
  path: string;
  /** The run that runs now, to compare with the request's. */
  runningRunId: () => string | null;
  cancel: (by: string) => Promise<unknown>;
  log: { info: (message: string) => void; warn: (message: string) => void };
}

/** Handle SIGUSR2 in this process: take the request and cancel. Returns the function that stops listening. */
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
  process.on(CANCEL_SIGNAL, onSignal);
  return () => void process.off(CANCEL_SIGNAL, onSignal);
}
