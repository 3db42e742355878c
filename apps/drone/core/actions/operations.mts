/**
 * The one table of what each operation runs: its actions in order, each on a repository.
 * An action's behaviour is in its own file here (create.mts, prune.mts, …); the engine runs
 * the steps of the operation it dequeues, and stops at the first that fails.
 */
import { type Operation } from "../../../../libs/protocol/index.mjs";
import { DroneError } from "../errors.mjs";
import { type RepositoryRole } from "../repositories.mjs";
import { type RunContext } from "../run-context.mjs";
import { afterBackupChecks, check, dueCheck } from "./check.mjs";
import { compact } from "./compact.mjs";
import { create } from "./create.mjs";
import { hook } from "./hooks.mjs";
import { prune } from "./prune.mjs";
import { restore } from "./restore.mjs";
import { stats } from "./stats.mjs";

/** What an action does, on a repository (the actions that read no repository ignore it). */
const ACTIONS = {
  before_hook: context => hook(context, "before"),
  create: (context, role) => create(context, role),
  /** The checks of the new archive the configuration asks for (VERIFY_AFTER_BACKUP, SPOT_CHECK_AFTER_BACKUP). */
  after_backup_checks: context => afterBackupChecks(context),
  prune: (context, role) => prune(context, role),
  compact: (context, role) => compact(context, role),
  stats: (context, role) => stats(context, role),
  check: context => check(context, false),
  verify: context => check(context, true),
  /** The check or verify that is due by CHECK_FREQUENCY_DAYS / VERIFY_DATA_FREQUENCY_DAYS, if any. */
  due_check: context => dueCheck(context),
  restore: context => restore(context),
  after_hook: context => hook(context, "after"),
} satisfies Record<string, (context: RunContext, role: RepositoryRole) => Promise<unknown>>;

/** An action's name. */
export type ActionName = keyof typeof ACTIONS;

/** One step of an operation: an action on a repository. */
export interface Step {
  action: ActionName;
  role: RepositoryRole;
}

const on =
  (role: RepositoryRole) =>
  (...actions: ActionName[]): readonly Step[] =>
    actions.map(action => ({ action, role }));
const primary = on("primary");
const offsite = on("offsite");

/** What each operation runs, in order. */
export const OPERATION_STEPS: Readonly<Record<Operation, readonly Step[]>> = {
  create: primary("create", "after_backup_checks"),
  prune: primary("prune", "compact", "stats"),
  compact: primary("compact"),
  stats: primary("stats"),
  check: primary("check"),
  verify: primary("verify"),
  restore: primary("restore"),
  scheduled: primary("before_hook", "create", "after_backup_checks", "prune", "compact", "stats", "due_check", "after_hook"),
  offsite: offsite("create", "prune", "compact", "stats"),
};

/** The operations that make an archive: when one fails, the on_error hook runs. */
export const BACKUP_OPERATIONS: ReadonlySet<Operation> = new Set(["scheduled", "create", "offsite"]);

/**
 * Run an operation's steps in order; the first failure ends it, and so does the run's abort:
 * a step that ended well although the abort came during it (a borg that finished before it
 * saw the signal) is not followed by the next one. A cancelled create is never followed by a prune.
 */
export async function runOperation(context: RunContext, operation: Operation): Promise<void> {
  for (const step of OPERATION_STEPS[operation]) {
    if (context.signal.aborted) throw new DroneError("interrupted", `${step.action.replaceAll("_", " ")} and what follows it did not run`);
    await ACTIONS[step.action](context, step.role);
  }
}
