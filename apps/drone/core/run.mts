/**
 * One run, start to end: the run timeout, the run lock shared with every process of this
 * drone, the marker of the run in progress (for crash recovery), the operation's actions
 * over a fresh run context, the on_error hook of a failed backup, and the result.
 */
import { join } from "node:path";

import { type BorgClient } from "../../../libs/borg/index.mjs";
import { errorText } from "../../../libs/config/index.mjs";
import { type ApplicationState, EVENT_LIMITS, type Outcome, type ResultEvent } from "../../../libs/protocol/index.mjs";
import { type DroneConfig } from "../config.mjs";
import { BACKUP_OPERATIONS, runOperation } from "./actions/operations.mjs";
import { hook } from "./actions/hooks.mjs";
import { borgCallOptions, lockRecoveringClient, type LockRecovery } from "./borg-calls.mjs";
import { DroneError, RunStop, type StopReason } from "./errors.mjs";
import { processIdentity } from "./process-identity.mjs";
import { type ProgressChannel, trackProgress } from "./progress.mjs";
import { type RepositoryRole } from "./repositories.mjs";
import { type RunHistory } from "./history.mjs";
import { describeFailure, type Failure, resultEvent } from "./result.mjs";
import { acquireRunLock } from "./run-lock.mjs";
import { type DroneLog, type HookRunner, type Job, type RunContext, toIso } from "./run-context.mjs";
import { type Settings } from "./settings.mjs";
import { cancelledKind, type StateStore } from "./state.mjs";

/** What every run of an engine shares. */
export interface RunEnvironment {
  config: DroneConfig;
  store: StateStore;
  log: DroneLog;
  archivePrefix: string;
  /** A role's plain borg client. */
  client: (role: RepositoryRole) => BorgClient;
  /** Where every run is recorded when it starts and when it ends. */
  history: RunHistory;
  runHook: HookRunner;
  /** Aborted at shutdown. */
  shutdown: AbortSignal;
  progress: ProgressChannel;
  state: () => ApplicationState;
  setState: (state: ApplicationState) => void;
  /** The percent the live status shows now. */
  lastPercent: () => number | null;
  settings: () => Settings;
  notify: () => void;
  /** One of a run's borg calls has started borg. */
  borgStarted: () => void;
}

/** A fresh run context for a job; `onBorgStart` is called each time one of its borg calls has started borg. */
function runContext(env: RunEnvironment, job: Job, signal: AbortSignal, onBorgStart: () => void): RunContext {
  const { config, store, log } = env;
  const recovery: LockRecovery = new Map();
  const recordCheckpoint = () =>
    void store
      .update(state => {
        // recorded so that crash recovery claims a checkpoint only when borg committed one
        if (state.running?.runId === job.runId) state.running.checkpointAt = toIso(new Date());
      })
      .catch((error: unknown) => log.warn(`recording borg's checkpoint in the state file failed: ${errorText(error)}`));
  const context: RunContext = {
    config,
    store,
    log,
    archivePrefix: env.archivePrefix,
    job,
    signal,
    shutdown: env.shutdown,
    warnings: [],
    notes: [],
    archive: null,
    pruned: [],
    checks: [],
    restore: null,
    held: null,
    dumps: [],
    borg: role =>
      lockRecoveringClient(
        { config, store, log, runId: job.runId, operation: job.operation, archivePrefix: env.archivePrefix, signal, notes: context.notes, client: env.client(role), recovery },
        role,
      ),
    call: onEvent =>
      borgCallOptions(
        { store, log, runId: job.runId, signal, notes: context.notes, inactivityTimeoutMs: config.inactivityTimeoutMinutes * 60_000, onSpawn: onBorgStart },
        onEvent,
      ),
    progress: (role, expectation = {}, phases) =>
      trackProgress({
        phases,
        droneId: config.droneId,
        runId: job.runId,
        operation: job.operation,
        role,
        emit: env.progress.emit,
        state: env.state,
        lastPercent: env.lastPercent,
        expectation,
        onCheckpoint: recordCheckpoint,
        log,
      }),
    state: env.state,
    setState: env.setState,
    settings: env.settings,
    notify: env.notify,
    runHook: env.runHook,
  };
  return context;
}

/** Why the run's abort fired, when it was stopped from outside (a timeout, a cancel). */
function stopOf(signal: AbortSignal): StopReason | undefined {
  const reason: unknown = signal.reason;
  return reason instanceof RunStop ? reason.stop : undefined;
}

const cancelledBy = (signal: AbortSignal) => {
  const stop = stopOf(signal);
  return stop?.kind === "cancelled" ? stop.by : null;
};

/** Run a job to its result; never throws for a failure of the run itself (the result says it). */
export async function executeRun(env: RunEnvironment, job: Job, controller: AbortController, started: Date): Promise<ResultEvent> {
  const { config, store, log } = env;
  const timeout = setTimeout(() => controller.abort(new RunStop({ kind: "run_timeout", minutes: config.runTimeoutMinutes })), config.runTimeoutMinutes * 60_000);
  timeout.unref();
  let identity: ReturnType<typeof processIdentity> = null;
  /** Whether the run got as far as its marker in the state file: then the history records its start. */
  let marked = false;
  let startRecorded = false;
  // the history's row of the run: written once borg has started, while borg (another process)
  // loads, so that opening the history never delays borg; at the latest when the run ends.
  // Crash recovery does not need it: the state file's marker (written before) names the run.
  const recordStart = () => {
    if (startRecorded || !marked) return;
    startRecorded = true;
    env.history.started({ runId: job.runId, operation: job.operation, trigger: job.trigger, requestedBy: job.requestedBy, startedAt: started, pid: process.pid, identity });
  };
  const context = runContext(env, job, controller.signal, () => {
    setImmediate(recordStart);
    env.borgStarted();
  });
  log.info(`${job.operation} started (${job.trigger}, run ${job.runId})`);

  let failure: Failure | undefined;
  const lock = await acquireRunLock(join(config.stateDir, `${config.droneId}.lock`));
  try {
    if ("heldBy" in lock) {
      throw new DroneError(
        "busy",
        `another backup-drone process (pid ${lock.heldBy}) is running an operation for ${config.droneId}; try again when it has finished`,
      );
    }
    identity = processIdentity();
    await store.update(state => {
      state.running = {
        runId: job.runId,
        operation: job.operation,
        startedAt: toIso(started),
        pid: process.pid,
        identity,
        borgPid: null,
        borgIdentity: null,
        borgCommand: null,
        checkpointAt: null,
      };
    });
    marked = true;
    await runOperation(context, job.operation);
  } catch (error) {
    failure = describeFailure(error, config.repository, stopOf(controller.signal));
    // a cancel is no failure: the one-shot command and the result report it, the daemon's log at info
    if (failure.kind === "cancelled") log.info(`${job.operation} stopped: ${failure.message}`);
    else log.error(`${job.operation} failed: ${failure.message}`);
    const ownsLock = !("heldBy" in lock);
    // a cancel is a person's (or a program's) decision, not a failure to report: no on_error hook
    if (ownsLock && BACKUP_OPERATIONS.has(job.operation) && failure.kind !== "cancelled") {
      await hook(context, "on_error", failure.message).catch((hookError: unknown) => log.warn(errorText(hookError)));
    }
  } finally {
    clearTimeout(timeout);
    // a run that never started borg (a refusal, a failed hook) is recorded all the same
    recordStart();
    if (!("heldBy" in lock)) await lock.release();
  }

  const finished = new Date();
  // the result event lists the first warnings only: the log keeps the others
  if (context.warnings.length > EVENT_LIMITS.warnings) {
    for (const warning of context.warnings.slice(EVENT_LIMITS.warnings - 1)) log.warn(`warning: ${warning}`);
  }
  const held = !failure && context.held !== null ? { kind: "prune_held", message: context.held } : undefined;
  const outcome: Outcome = failure ? failure.outcome : held ? "held" : context.warnings.length > 0 ? "warning" : "success";
  const result = resultEvent({
    droneId: config.droneId,
    runId: job.runId,
    operation: job.operation,
    trigger: job.trigger,
    outcome,
    failure: failure ?? held,
    started,
    finished,
    warnings: context.warnings,
    notes: context.notes,
    archive: context.archive,
    pruned: context.pruned,
    checks: context.checks,
    restore: context.restore,
    dumps: context.dumps,
    cancelledBy: failure?.kind === "cancelled" ? cancelledBy(controller.signal) : null,
  });
  // refused because another process holds the run lock: that process's state is not ours to change
  if (!("heldBy" in lock)) {
    await store.update(state => {
      if (state.running?.runId === job.runId) state.running = null;
      state.lastResult = outcome;
      state.lastError = (failure ?? held)?.message ?? null;
      // a tenth of a second: a run of 0.3 s is not one of 0 s
      state.lastDurationSeconds = Math.round(result.duration_seconds * 10) / 10;
      // a person said "not now": the own schedule waits for the next regular time
      const kind = cancelledKind(job.operation);
      if (failure?.kind === "cancelled" && kind !== null) state.cancelledAt[kind] = toIso(finished);
      // a backup that failed: the own schedule tries again after a growing wait (a success clears it)
      if (failure && failure.kind !== "cancelled" && kind !== null) {
        state.failedBackups[kind] = { attempts: (state.failedBackups[kind]?.attempts ?? 0) + 1, at: toIso(finished) };
      }
    });
  }
  // the trigger and who asked as they stand now: a run may have been relabelled while it ran
  env.history.finished(result, job.requestedBy, context.warnings.length);
  log.info(`${job.operation} ended: ${outcome} in ${result.duration_seconds.toFixed(1)} s`);
  return result;
}
