/**
 * `backup-drone cancel`: cancel what the drone of this id runs, in whichever process runs it
 * (the daemon, or a one-shot command in another terminal). The run lock names that process;
 * a request file next to it says who asks, and SIGUSR2 tells the process to read it
 * (core/cancel-request.mts). The command then waits until the run has ended and says how.
 */
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

import { type DroneEngine } from "../core/engine.mjs";
import { cliRequester, deliverCancel } from "../core/cancel-request.mjs";
import { type LockHolder, ownerAlive, readHolder } from "../core/lock-file.mjs";
import { type CommandOptions } from "./args.mjs";
import { EXIT_CODES, type ExitCode } from "./spec.mjs";
import { type Terminal } from "./terminal.mjs";

/** How long the command waits for the cancelled run to end (borg gets SIGTERM 8 s after SIGINT, SIGKILL 8 s later). */
export const CANCEL_WAIT_MS = 60_000;
/** How often it looks at the run lock while it waits: a look is two small file reads. */
const LOOK_EVERY_MS = 200;

/** What the command prints with --json, one line. */
interface CancelReport {
  drone_id: string;
  cancelled: boolean;
  pid: number | null;
  run_id: string | null;
  operation: string | null;
  /** How the run ended: `interrupted` when cancelled; null when nothing ran or it did not end in time. */
  outcome: string | null;
  message: string;
}

/** Whether the run the lock named at first has ended: the lock is free, or held by someone else now. */
async function ended(lockPath: string, first: LockHolder): Promise<boolean> {
  const now = await readHolder(lockPath);
  return now === undefined || now.text !== first.text || !ownerAlive(now);
}

/** Run `backup-drone cancel`. */
export async function runCancel(engine: DroneEngine, options: CommandOptions, terminal: Terminal): Promise<ExitCode> {
  const { droneId, stateDir } = engine.config;
  const lockPath = join(stateDir, `${droneId}.lock`);
  const report = (code: ExitCode, fields: Omit<CancelReport, "drone_id">): ExitCode => {
    if (options.json) terminal.data(JSON.stringify({ drone_id: droneId, ...fields }));
    else if (code !== EXIT_CODES.success) terminal.line(`${terminal.paint.red("✖")} ${terminal.paint.bold("cancel failed")}: ${fields.message}`);
    else if (fields.cancelled) terminal.data(`${terminal.paint.green("✔")} ${terminal.paint.bold(`${fields.operation ?? "the run"} cancelled`)}: ${fields.message}`);
    else terminal.data(fields.message);
    return code;
  };
  const nothing = () =>
    report(EXIT_CODES.success, { cancelled: false, pid: null, run_id: null, operation: null, outcome: null, message: `nothing is running for ${droneId}` });

  const by = cliRequester();
  const delivery = await deliverCancel({ stateDir, droneId, by, marker: engine.persisted().running });
  if (delivery.kind === "nothing") return nothing();
  const { run } = delivery;
  const what = { pid: delivery.pid, run_id: run?.runId ?? null, operation: run?.operation ?? null };
  const failed = (message: string) => report(EXIT_CODES.failed, { cancelled: false, ...what, outcome: null, message });
  if (delivery.kind === "refused") return failed(delivery.message);
  const { holder } = delivery;
  const running = `${run?.operation ?? "an operation"} for ${droneId} (pid ${delivery.pid})`;

  const started = Date.now();
  while (!(await ended(lockPath, holder)) || (run !== null && engine.persisted().running?.runId === run.runId)) {
    const waited = Date.now() - started;
    if (waited >= CANCEL_WAIT_MS) {
      terminal.status(undefined);
      return failed(`${running} has not ended within ${CANCEL_WAIT_MS / 1000} s of the cancel; it may still be stopping: see \`backup-drone status\``);
    }
    terminal.status(`cancelling ${running}: waiting for it to stop… ${Math.floor(waited / 1000)} s`);
    await sleep(LOOK_EVERY_MS);
  }
  terminal.status(undefined);

  const state = engine.persisted();
  // cancelled by this request, or by another cancel (the Cancel button) that came first
  const cancelled = state.lastResult === "interrupted" && (state.lastError ?? "").startsWith("cancelled by ");
  if (!cancelled) {
    return report(EXIT_CODES.success, {
      cancelled: false,
      ...what,
      outcome: state.lastResult,
      message: `${run?.operation ?? "the run"} of ${droneId} ended before the cancel reached it (${state.lastResult ?? "no result"})`,
    });
  }
  return report(EXIT_CODES.success, { cancelled: true, ...what, outcome: state.lastResult, message: state.lastError ?? `cancelled by ${by}` });
}
