/**
 * check and verify: `borg check` of the whole repository (with `--verify-data`, every chunk
 * read and authenticated too); after a backup, the checks the configuration asks for of the
 * new archive (its metadata; a full read-back with `extract --dry-run`); at the end of a
 * scheduled run, the check that is due. Damage is recorded (Last Check Result) and fails the
 * run as `integrity`.
 */
import dayjs from "dayjs";

import { BorgError, type BorgEvent, type CheckResult } from "../../../../libs/borg/index.mjs";
import { type ApplicationState, type CheckKind, type CheckSummary } from "../../../../libs/protocol/index.mjs";
import { type DroneConfig } from "../../config.mjs";
import { DroneError } from "../errors.mjs";
import { type Phases } from "../progress.mjs";
import { type RunContext, toIso } from "../run-context.mjs";
import { type PersistedState } from "../state.mjs";

/** How each kind of check is named in messages. */
const CHECK_NAMES: Record<CheckKind, string> = {
  repository: "repository check",
  verify_data: "data verification (--verify-data)",
  archive: "archive check",
  spot: "spot check (extract --dry-run)",
};

/**
 * Record what a check found. Any check that finds damage makes Last Check Result
 * `failed`; only a full check (check, verify) that finds none makes it `success` again.
 * Damage ends the run as a failure of kind `integrity`.
 */
async function recordCheck(context: RunContext, summary: CheckSummary): Promise<void> {
  context.checks.push(summary);
  const full = summary.kind === "repository" || summary.kind === "verify_data";
  const now = toIso(new Date());
  await context.store.update(state => {
    if (full) {
      state.lastCheck = now;
      if (summary.kind === "verify_data") state.lastVerifyData = now;
    }
    if (!summary.healthy) state.lastCheckResult = "failed";
    else if (full) state.lastCheckResult = "success";
  });
  context.notify();
  if (summary.healthy) return;
  const what = summary.archive ? `${CHECK_NAMES[summary.kind]} of ${summary.archive}` : CHECK_NAMES[summary.kind];
  const found = summary.problems.slice(0, 3).join("; ") || "see the drone's log";
  throw new DroneError(
    "integrity",
    `the ${what} found damage: ${found}. Stop pruning and compacting; see docs/restore.md (a failed check) for what to do`,
  );
}

/** Run one borg check or spot check; damage is a finding (recorded), any other failure is the run's error. */
async function runCheck(
  context: RunContext,
  kind: CheckKind,
  state: ApplicationState,
  archive: string | null,
  check: (onEvent: (event: BorgEvent) => void) => Promise<{ value: CheckResult; warnings: { message: string }[] }>,
  phases?: Phases,
): Promise<void> {
  context.setState(state);
  const tracker = context.progress("primary", {}, phases);
  let result: CheckResult;
  try {
    const run = await check(tracker.onEvent);
    result = run.value;
    if (result.healthy) context.warnings.push(...run.warnings.map(warning => warning.message));
  } catch (error) {
    tracker.finish(false);
    if (!(error instanceof BorgError && error.kind === "integrity")) throw error;
    result = { healthy: false, problems: error.context.details ?? [error.message] };
  }
  tracker.finish(result.healthy);
  context.log.info(`${CHECK_NAMES[kind]}${archive ? ` of ${archive}` : ""}: ${result.healthy ? "no damage found" : "DAMAGE FOUND"}`);
  await recordCheck(context, { kind, archive, healthy: result.healthy, problems: result.problems.slice(0, 10) });
}

/**
 * The phases of a full `borg check`, each counted by borg from 0 % (borg 1.2.4, checked): the
 * segments (every byte of the repository read), with --verify-data every chunk read and
 * decrypted, then the archives' metadata (small). Weights are rough shares of the time.
 */
const CHECK_PHASES: Record<"check" | "verify", Phases> = {
  check: [
    { msgid: "repository.check", weight: 90 },
    { msgid: "check.rebuild_refcounts", weight: 10 },
  ],
  verify: [
    { msgid: "repository.check", weight: 45 },
    { msgid: "check.verify_data", weight: 50 },
    { msgid: "check.rebuild_refcounts", weight: 5 },
  ],
};

/** `borg check` of the whole repository; with `verifyData` every chunk is read and authenticated too. */
export const check = (context: RunContext, verifyData: boolean) =>
  runCheck(
    context,
    verifyData ? "verify_data" : "repository",
    verifyData ? "verifying_data" : "checking",
    null,
    onEvent => context.borg("primary").check({ verifyData }, context.call(onEvent)),
    CHECK_PHASES[verifyData ? "verify" : "check"],
  );

/** After a backup: the new archive's metadata, every chunk it references present. */
const verifyArchive = (context: RunContext, archive: string) =>
  runCheck(context, "archive", "checking", archive, onEvent =>
    context.borg("primary").check({ scope: "archives", archive }, context.call(onEvent)),
  );

/** After a backup: read the new archive back in full, writing nothing (`extract --dry-run`). */
const spotCheck = (context: RunContext, archive: string) =>
  runCheck(context, "spot", "spot_checking", archive, async onEvent => {
    const run = await context.borg("primary").extract({ archive, target: context.config.stateDir, dryRun: true }, context.call(onEvent));
    return { ...run, value: { healthy: true, problems: [] } };
  });

/** The checks after a backup that the configuration asks for (none when the run made no archive). */
export async function afterBackupChecks(context: RunContext): Promise<void> {
  const archive = context.archive?.name;
  if (!archive) return;
  if (context.config.checks.verifyAfterBackup) await verifyArchive(context, archive);
  if (context.config.checks.spotCheckAfterBackup) await spotCheck(context, archive);
}

/** The integrity check a scheduled run would end with now, if any. */
export function checkDue(state: Readonly<PersistedState>, checks: DroneConfig["checks"], now: Date): "check" | "verify" | undefined {
  // a drone never checked counts from its first scheduled run, so that run is not doubled
  const since = state.checksSince;
  const older = (last: string | null, days: number) => {
    const from = last ?? since;
    return days > 0 && from !== null && dayjs(from).add(days, "day").valueOf() <= now.getTime();
  };
  if (older(state.lastVerifyData, checks.verifyDataFrequencyDays)) return "verify";
  if (older(state.lastCheck, checks.frequencyDays)) return "check";
  return undefined;
}

/** The end of a scheduled run: the check that is due, if any. */
export async function dueCheck(context: RunContext): Promise<void> {
  if (context.store.get().checksSince === null) await context.store.update(state => void (state.checksSince = toIso(new Date())));
  const due = checkDue(context.store.get(), context.config.checks, new Date());
  if (due) await check(context, due === "verify");
}
