/**
 * How a run ends: the error table that turns what was thrown into a kind, a message and an
 * outcome, and the result event every operation ends with.
 */
import { BorgError } from "../../../libs/borg/index.mjs";
import { errorText } from "../../../libs/config/index.mjs";
import {
  boundResultEvent,
  type CheckSummary,
  type Operation,
  type Outcome,
  PROTOCOL_VERSION,
  type RestoreSummary,
  type ResultEvent,
  type Trigger,
} from "../../../libs/protocol/index.mjs";
import { type DumpResult } from "./dumps/stream.mjs";
import { DroneError, type StopReason } from "./errors.mjs";
import { toIso } from "./run-context.mjs";

/** A failed run, as its result says it. */
export interface Failure {
  kind: string;
  message: string;
  outcome: Outcome;
}

/**
 * What the drone tells its users about an error. borg's client advises `borg init` for a
 * missing repository; the drone's own repository is created with `backup-drone init` (which
 * also applies the configured ENCRYPTION), so that is what it says. The offsite repository is
 * created with borg itself (docs/offsite.md): the library's advice stands for it.
 */
export function droneErrorText(error: unknown, primaryRepository: string): string {
  if (error instanceof BorgError && error.kind === "repository_missing" && (error.context.repository ?? primaryRepository) === primaryRepository) {
    return `No borg repository exists at ${primaryRepository}. Check the REPOSITORY setting, or create the repository with \`backup-drone init\`.`;
  }
  return errorText(error);
}

/**
 * The kind, message and outcome of a failed run. A run stopped from outside (its timeout, a
 * cancel) says what it interrupted: a checkpoint is claimed only when borg create committed
 * one during the run.
 */
export function describeFailure(error: unknown, primaryRepository: string, stopped?: StopReason): Failure {
  const interrupted = (error instanceof BorgError || error instanceof DroneError) && error.kind === "interrupted";
  if (stopped) {
    const checkpoint = error instanceof BorgError && error.context.command === "create" && error.context.checkpoint === true;
    const what =
      stopped.kind === "cancelled"
        ? `cancelled by ${stopped.by}`
        : `the run took longer than ${stopped.minutes} minute${stopped.minutes === 1 ? "" : "s"} and was interrupted`;
    // a hook's own message names the abort's reason again: said once is enough
    const detail = checkpoint
      ? "; borg kept a checkpoint, and the next run reuses what it uploaded until then"
      : interrupted
        ? ` — ${error.message.replace(` (${what})`, "")}`
        : "";
    return { kind: stopped.kind, message: `${what}${detail}`, outcome: "interrupted" };
  }
  if (error instanceof BorgError || error instanceof DroneError) {
    return { kind: error.kind, message: droneErrorText(error, primaryRepository), outcome: interrupted ? "interrupted" : "failed" };
  }
  return { kind: "unexpected", message: errorText(error), outcome: "failed" };
}

/** What a result event is made of. */
export interface RunSummary {
  droneId: string;
  runId: string;
  operation: Operation;
  trigger: Trigger;
  outcome: Outcome;
  failure?: { kind: string; message: string };
  started: Date;
  finished: Date;
  warnings?: string[];
  notes?: string[];
  archive?: ResultEvent["archive"];
  pruned?: string[];
  checks?: CheckSummary[];
  restore?: RestoreSummary | null;
  /** Who cancelled the run. */
  cancelledBy?: string | null;
  /** The dumps of a backup. */
  dumps?: readonly DumpResult[];
}

/** The result event of an operation, whichever way it ended. */
export function resultEvent(run: RunSummary): ResultEvent {
  // cut to the protocol's limits: Home Assistant's recorder keeps no event over 32 KiB
  return boundResultEvent({
    v: PROTOCOL_VERSION,
    drone_id: run.droneId,
    run_id: run.runId,
    operation: run.operation,
    repository: run.operation === "offsite" ? "offsite" : "primary",
    trigger: run.trigger,
    outcome: run.outcome,
    error_kind: run.failure?.kind ?? null,
    error: run.failure?.message ?? null,
    warnings: run.warnings ?? [],
    notes: run.notes ?? [],
    started_at: toIso(run.started),
    finished_at: toIso(run.finished),
    duration_seconds: Math.max(0, (run.finished.getTime() - run.started.getTime()) / 1000),
    archive: run.archive ?? null,
    pruned: run.pruned ?? [],
    checks: run.checks ?? [],
    restore: run.restore ?? null,
    cancelled_by: run.cancelledBy ?? null,
    dumps: (run.dumps ?? []).map(dump => ({
      name: dump.name,
      kind: dump.kind,
      outcome: dump.outcome,
      size: dump.bytes,
      duration_seconds: Math.round(dump.durationSeconds * 10) / 10,
      error: dump.error,
    })),
  });
}
