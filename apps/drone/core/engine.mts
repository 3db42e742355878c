/**
 * The drone engine: one borg operation at a time, each a sequence of steps (hooks, create,
 * prune, compact, stats, check), with live progress, a result for every operation, and the
 * state a person watches. It knows nothing of Home Assistant or the terminal: those listen.
 */
import { randomUUID } from "node:crypto";
import { join } from "node:path";

import dayjs from "dayjs";

import {
  type BorgClient,
  BorgError,
  type BorgEvent,
  type BorgRepository,
  createBorgClient,
  type CreateResult,
  type KeepRules,
  type RepositoryTotals,
} from "../../../libs/borg/index.mjs";
import {
  type ApplicationState,
  type Operation,
  type Outcome,
  type ProgressEvent,
  PROTOCOL_VERSION,
  type ResultEvent,
  type Trigger,
} from "../../../libs/protocol/index.mjs";
import { type DroneConfig, hasKeepRule, type PassphraseSetting } from "../config.mjs";
import { estimateProgress, type Expectation } from "./estimate.mjs";
import { runHook } from "./hooks.mjs";
import { prescan } from "./prescan.mjs";
import { acquireRunLock, isAlive } from "./run-lock.mjs";
import { type PersistedState, type Settings, settingsSchema, type StateStore } from "./state.mjs";

/** Where the drone logs. */
export interface DroneLog {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** The answer to a request for an operation. */
export type RequestAnswer =
  | { accepted: true; runId: string; queued: boolean; done: Promise<ResultEvent> }
  | { accepted: false; reason: string };

/** What runs now. */
export interface LiveStatus {
  state: ApplicationState;
  operation: Operation | null;
  runId: string | null;
  trigger: Trigger | null;
  startedAt: Date | null;
  queue: Operation[];
  progress: ProgressEvent | null;
}

/** Which repository a step works on. */
type Role = "primary" | "offsite";

interface Job {
  operation: Operation;
  trigger: Trigger;
  runId: string;
  resolve: (result: ResultEvent) => void;
  reject: (error: Error) => void;
}

interface RunContext {
  job: Job;
  started: Date;
  signal: AbortSignal;
  warnings: string[];
  archive: ResultEvent["archive"];
  pruned: string[];
}

/** A failure of the drone itself (not of borg), with a kind like borg's. */
export class DroneError extends Error {
  override readonly name = "DroneError";
  constructor(
    readonly kind: string,
    message: string,
  ) {
    super(message);
  }
}

/** The engine's API. */
export interface DroneEngine {
  readonly config: DroneConfig;
  /** Settings in force: the configuration overlaid with what was changed at run time. */
  settings(): Settings;
  /** Change settings (validated; persisted). Throws with a message naming the bad field. */
  updateSettings(patch: Partial<Settings>): Promise<Settings>;
  live(): LiveStatus;
  persisted(): Readonly<PersistedState>;
  /** Ask for an operation: it starts now, waits in the queue, or is refused (and why). */
  request(operation: Operation, trigger: Trigger): RequestAnswer;
  /** Request and wait for the result; throws when refused. */
  run(operation: Operation, trigger: Trigger): Promise<ResultEvent>;
  /** Operations due now by this drone's own schedule (standalone mode). */
  due(now?: Date): Operation[];
  onProgress(listener: (event: ProgressEvent) => void): () => void;
  onResult(listener: (event: ResultEvent) => void): () => void;
  /** Any change of live state, settings or persisted facts. */
  onChange(listener: () => void): () => void;
  /** After a crash: stop an orphaned borg, report the interrupted run. Call once at start-up. */
  recover(): Promise<ResultEvent | undefined>;
  /** Stop: refuse new work, drop the queue, interrupt borg (it writes a checkpoint) and wait. */
  shutdown(): Promise<void>;
  /** The archive-name prefix of this drone; prune and stats never look past it. */
  readonly archivePrefix: string;
  client(role: Role): BorgClient;
}

const STEP_STATES: Record<Role, Record<"create" | "prune" | "compact" | "stats", ApplicationState>> = {
  primary: { create: "creating", prune: "pruning", compact: "compacting", stats: "updating_stats" },
  offsite: {
    create: "offsite_creating",
    prune: "offsite_pruning",
    compact: "offsite_compacting",
    stats: "offsite_updating_stats",
  },
};

/** Archive names: `<drone id>@<local time>`; `@` cannot occur in a drone id, so prefixes never overlap. */
export const archivePrefixOf = (droneId: string) => `${droneId}@`;

/** The host a repository lives on: `local:<drone id>` for a local path. */
export function repositoryHost(location: string, droneId: string): string {
  const match = /^ssh:\/\/(?:[^@/]+@)?(\[[^\]]+\]|[^:/]+)/.exec(location) ?? /^(?:[^@/:]+@)?([^:/]+):(?!\/)/.exec(location);
  return match?.[1] ? match[1].toLowerCase() : `local:${droneId}`;
}

function repositoryOf(config: DroneConfig, role: Role): BorgRepository {
  const location = role === "offsite" ? config.offsite?.repository : config.repository;
  if (!location) throw new DroneError("no_offsite", "no offsite repository is configured (OFFSITE_REPOSITORY)");
  const passphrase: PassphraseSetting | undefined = role === "offsite" ? config.offsite?.passphrase : config.passphrase;
  return {
    location,
    passphrase,
    passphraseTransport: config.passphraseTransport,
    rsh: config.rsh,
    remotePath: config.remotePath,
    baseDir: config.borgBaseDir,
    lockWaitSeconds: config.lockWaitSeconds,
    allowRelocated: config.allowRelocated,
    allowUnknownUnencrypted: config.allowUnknownUnencrypted,
  };
}

const toIso = (date: Date) => dayjs(date).toISOString();

/** The repository totals the state file keeps. */
const storedTotals = (totals: RepositoryTotals) => ({
  totalSize: totals.totalSize,
  compressedSize: totals.totalCompressedSize,
  deduplicatedSize: totals.deduplicatedSize,
});

/** Create the engine for a validated configuration and its state store. */
export function createDroneEngine(options: { config: DroneConfig; store: StateStore; log: DroneLog }): DroneEngine {
  const { config, store, log } = options;
  const archivePrefix = archivePrefixOf(config.droneId);
  const clientFor = (role: Role) =>
    createBorgClient(repositoryOf(config, role), {
      binary: config.borgBinary,
      nice: config.nice > 0 ? config.nice : undefined,
      ionice: config.ionice,
      graceMs: 8000,
    });
  const clients: Record<Role, BorgClient | undefined> = {
    primary: clientFor("primary"),
    offsite: config.offsite ? clientFor("offsite") : undefined,
  };
  const client = (role: Role): BorgClient => {
    const found = clients[role];
    if (!found) throw new DroneError("no_offsite", "no offsite repository is configured (OFFSITE_REPOSITORY)");
    return found;
  };

  const progressListeners = new Set<(event: ProgressEvent) => void>();
  const resultListeners = new Set<(event: ResultEvent) => void>();
  const changeListeners = new Set<() => void>();
  const notify = () => {
    for (const listener of changeListeners) listener();
  };

  const queue: Job[] = [];
  let current: { job: Job; controller: AbortController; done: Promise<void> } | undefined;
  let stopping = false;
  const live: LiveStatus = {
    state: "idle",
    operation: null,
    runId: null,
    trigger: null,
    startedAt: null,
    queue: [],
    progress: null,
  };
  const setState = (state: ApplicationState) => {
    if (live.state === state) return;
    live.state = state;
    notify();
  };

  const settings = (): Settings => ({
    mode: config.mode,
    frequencyMinutes: config.frequencyMinutes,
    offsiteFrequencyMinutes: config.offsite?.frequencyMinutes ?? 10_080,
    priority: config.priority,
    keepDaily: config.keep.daily,
    keepWeekly: config.keep.weekly,
    keepMonthly: config.keep.monthly,
    keepYearly: config.keep.yearly,
    keepWithin: config.keep.within ?? "",
    ...store.get().settings,
  });

  // ------------------------------------------------------------------ progress

  let lastProgressAt = 0;
  const emitProgress = (event: ProgressEvent, force: boolean) => {
    live.progress = event;
    const now = Date.now();
    if (!force && now - lastProgressAt < config.progressIntervalMs) return;
    lastProgressAt = now;
    for (const listener of progressListeners) listener(event);
  };

  const progressTracker = (context: RunContext, role: Role, expectation: { value?: Expectation }) => {
    const stepStarted = Date.now();
    let first = true;
    let counters = { originalSize: 0, compressedSize: 0, deduplicatedSize: 0, nfiles: 0 };
    const base = (percent: number | null, etaSeconds: number | null, path: string | null, finished: boolean): ProgressEvent => ({
      v: PROTOCOL_VERSION,
      drone_id: config.droneId,
      run_id: context.job.runId,
      operation: context.job.operation,
      repository: role,
      state: live.state,
      percent,
      eta_seconds: etaSeconds,
      original_size: counters.originalSize,
      compressed_size: counters.compressedSize,
      deduplicated_size: counters.deduplicatedSize,
      nfiles: counters.nfiles,
      path,
      elapsed_seconds: Math.max(0, (Date.now() - stepStarted) / 1000),
      expected_size: expectation.value ? expectation.value.originalSize : null,
      finished,
      time: new Date().toISOString(),
    });
    const onEvent = (event: BorgEvent) => {
      if (event.type === "archive_progress" && !event.finished) {
        counters = {
          originalSize: event.originalSize ?? counters.originalSize,
          compressedSize: event.compressedSize ?? counters.compressedSize,
          deduplicatedSize: event.deduplicatedSize ?? counters.deduplicatedSize,
          nfiles: event.nfiles ?? counters.nfiles,
        };
        const elapsed = (Date.now() - stepStarted) / 1000;
        const estimate = estimateProgress(expectation.value, counters, elapsed);
        emitProgress(base(estimate.percent, estimate.etaSeconds, event.path ?? null, false), first);
        first = false;
      } else if (event.type === "progress_percent" && !event.finished && event.total !== undefined && event.total > 0) {
        const fraction = Math.min(1, (event.current ?? 0) / event.total);
        const elapsed = (Date.now() - stepStarted) / 1000;
        const eta = fraction > 0.005 ? Math.round((elapsed * (1 - fraction)) / fraction) : null;
        emitProgress(base(Math.round(fraction * 1000) / 10, eta, event.message?.trim() ?? null, false), first);
        first = false;
      } else if (event.type === "log_message" && (event.level === "WARNING" || event.level === "ERROR")) {
        log.debug(`borg ${event.level.toLowerCase()}: ${event.message}`);
      }
    };
    const finish = (succeeded: boolean) => {
      emitProgress(base(succeeded ? 100 : (live.progress?.percent ?? null), succeeded ? 0 : null, null, true), true);
    };
    return { onEvent, finish };
  };

  const callOptions = (context: RunContext, onEvent: (event: BorgEvent) => void) => ({
    signal: context.signal,
    onEvent,
    inactivityTimeoutMs: config.inactivityTimeoutMinutes * 60_000,
    onSpawn: (pid: number) => {
      void store.update(state => {
        if (state.running) state.running.borgPid = pid;
      });
    },
  });

  // ------------------------------------------------------------------ steps

  const stepCreate = async (context: RunContext, role: Role): Promise<CreateResult> => {
    setState(STEP_STATES[role].create);
    const persisted = store.get();
    const previous = role === "primary" ? persisted.lastArchive : persisted.lastOffsiteArchive;
    const expectation: { value?: Expectation } = {};
    if (previous) expectation.value = { originalSize: previous.originalSize, nfiles: previous.nfiles };
    else if (config.prescan) {
      // measured alongside the create: the estimate appears when the scan is done
      void prescan({
        sources: config.sources,
        excludes: config.excludes,
        excludeIfPresent: config.excludeIfPresent,
        signal: context.signal,
      })
        .then(found => {
          expectation.value ??= found;
        })
        .catch((error: unknown) => log.debug(`pre-scan failed: ${String(error)}`));
    }
    const tracker = progressTracker(context, role, expectation);
    const archive = `${archivePrefix}${dayjs().format("YYYY-MM-DDTHH:mm:ss.SSS")}`;
    try {
      const run = await client(role).create(
        {
          archive,
          paths: config.sources,
          compression: config.compression,
          excludes: config.excludes,
          excludeIfPresent: config.excludeIfPresent,
          oneFileSystem: config.oneFileSystem,
          checkpointIntervalSeconds: config.checkpointIntervalSeconds,
          uploadRateLimitKiB:
            (role === "offsite" ? config.offsite?.uploadRateLimitKiB : config.uploadRateLimitKiB) || undefined,
        },
        callOptions(context, tracker.onEvent),
      );
      tracker.finish(true);
      context.warnings.push(...run.warnings.map(warning => warning.message));
      const stats = run.value.archive.stats;
      context.archive = {
        name: run.value.archive.name,
        original_size: stats.originalSize,
        compressed_size: stats.compressedSize,
        deduplicated_size: stats.deduplicatedSize,
        nfiles: stats.nfiles,
      };
      const facts = {
        name: run.value.archive.name,
        originalSize: stats.originalSize,
        nfiles: stats.nfiles,
        durationSeconds: run.value.archive.durationSeconds,
      };
      const totals = storedTotals(run.value.totals);
      await store.update(state => {
        if (role === "primary") {
          state.lastBackup = toIso(new Date());
          state.lastArchive = facts;
          state.totals = totals;
          if (state.archiveCount !== null) state.archiveCount += 1;
        } else {
          state.lastOffsiteBackup = toIso(new Date());
          state.lastOffsiteArchive = facts;
          state.offsiteTotals = totals;
        }
      });
      log.info(
        `archive ${archive} created: ${stats.nfiles} files, ${stats.originalSize} B read, ${stats.deduplicatedSize} B new`,
      );
      return run.value;
    } catch (error) {
      tracker.finish(false);
      throw error;
    }
  };

  const keepRules = (role: Role): KeepRules => {
    const current = settings();
    const keep =
      role === "offsite" && config.offsite
        ? config.offsite.keep
        : {
            within: current.keepWithin || undefined,
            daily: current.keepDaily,
            weekly: current.keepWeekly,
            monthly: current.keepMonthly,
            yearly: current.keepYearly,
          };
    return { within: keep.within, daily: keep.daily, weekly: keep.weekly, monthly: keep.monthly, yearly: keep.yearly };
  };

  const stepPrune = async (context: RunContext, role: Role) => {
    setState(STEP_STATES[role].prune);
    const tracker = progressTracker(context, role, {});
    const run = await client(role).prune({ prefix: archivePrefix, keep: keepRules(role) }, callOptions(context, tracker.onEvent));
    tracker.finish(true);
    context.pruned.push(...run.value.pruned);
    context.warnings.push(...run.warnings.map(warning => warning.message));
    if (role === "primary") await store.update(state => void (state.lastPrune = toIso(new Date())));
    log.info(`prune kept ${run.value.kept.length} and removed ${run.value.pruned.length} archives of ${archivePrefix}*`);
  };

  const stepCompact = async (context: RunContext, role: Role) => {
    setState(STEP_STATES[role].compact);
    const tracker = progressTracker(context, role, {});
    await client(role).compact({}, callOptions(context, tracker.onEvent));
    tracker.finish(true);
  };

  const stepStats = async (context: RunContext, role: Role) => {
    setState(STEP_STATES[role].stats);
    const noProgress = callOptions(context, () => undefined);
    const info = await client(role).info({}, noProgress);
    const list = await client(role).list({ prefix: archivePrefix }, noProgress);
    const totals = storedTotals(info.value.totals);
    await store.update(state => {
      if (role === "primary") {
        state.totals = totals;
        state.archiveCount = list.value.archives.length;
      } else state.offsiteTotals = totals;
    });
  };

  const stepCheck = async (context: RunContext) => {
    setState("checking");
    const tracker = progressTracker(context, "primary", {});
    const run = await client("primary").check({}, callOptions(context, tracker.onEvent));
    tracker.finish(run.value.healthy);
    if (!run.value.healthy) {
      throw new DroneError("check_failed", `borg check found problems: ${run.value.problems.slice(0, 3).join("; ") || "see the log"}`);
    }
    await store.update(state => void (state.lastCheck = toIso(new Date())));
  };

  const hookEnv = (context: RunContext, stage: string, error?: string): Record<string, string> => {
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (value !== undefined && !key.startsWith("BORG_PASS")) env[key] = value;
    }
    Object.assign(env, {
      BACKUP_DRONE_ID: config.droneId,
      BACKUP_STAGE: stage,
      BACKUP_OPERATION: context.job.operation,
      BACKUP_RUN_ID: context.job.runId,
    });
    if (error !== undefined) env.BACKUP_ERROR = error;
    return env;
  };

  const stepHook = async (context: RunContext, stage: "before" | "after" | "on_error", error?: string) => {
    const hook = stage === "before" ? config.hooks.before : stage === "after" ? config.hooks.after : config.hooks.onError;
    if (!hook) return;
    const previous = live.state;
    setState("running_hooks");
    const outcome = await runHook(stage, hook, config.hooks.timeoutSeconds, hookEnv(context, stage, error));
    setState(previous);
    for (const line of outcome.output) log.debug(`${stage} hook: ${line}`);
    if (outcome.ok) {
      log.info(outcome.summary);
      return;
    }
    if (hook.policy === "ignore") log.info(`${outcome.summary} (ignored by policy)`);
    else if (hook.policy === "continue") {
      log.warn(outcome.summary);
      context.warnings.push(outcome.summary);
    } else throw new DroneError("hook_failed", `${outcome.summary}; the run stopped (policy break)`);
  };

  const OPERATION_STEPS: Record<Operation, (context: RunContext) => Promise<void>> = {
    create: async context => void (await stepCreate(context, "primary")),
    prune: async context => {
      await stepPrune(context, "primary");
      await stepCompact(context, "primary");
      await stepStats(context, "primary");
    },
    compact: context => stepCompact(context, "primary"),
    stats: context => stepStats(context, "primary"),
    check: context => stepCheck(context),
    scheduled: async context => {
      await stepHook(context, "before");
      await stepCreate(context, "primary");
      await stepPrune(context, "primary");
      await stepCompact(context, "primary");
      await stepStats(context, "primary");
      await stepHook(context, "after");
    },
    offsite: async context => {
      await stepCreate(context, "offsite");
      await stepPrune(context, "offsite");
      await stepCompact(context, "offsite");
      await stepStats(context, "offsite");
    },
  };

  // ------------------------------------------------------------------ running jobs

  const describeError = (error: unknown, timedOut: boolean): { kind: string; message: string; outcome: Outcome } => {
    if (timedOut) {
      return {
        kind: "run_timeout",
        message: `the run took longer than ${config.runTimeoutMinutes} minutes and was interrupted; borg kept a checkpoint`,
        outcome: "interrupted",
      };
    }
    if (error instanceof BorgError) {
      return { kind: error.kind, message: error.message, outcome: error.kind === "interrupted" ? "interrupted" : "failed" };
    }
    if (error instanceof DroneError) return { kind: error.kind, message: error.message, outcome: "failed" };
    return { kind: "unexpected", message: error instanceof Error ? error.message : String(error), outcome: "failed" };
  };

  /** The result event of an operation, whichever way it ended. */
  const resultEvent = (run: {
    runId: string;
    operation: Operation;
    trigger: Trigger;
    outcome: Outcome;
    failure?: { kind: string; message: string };
    started: Date;
    finished: Date;
    warnings?: string[];
    archive?: ResultEvent["archive"];
    pruned?: string[];
  }): ResultEvent => ({
    v: PROTOCOL_VERSION,
    drone_id: config.droneId,
    run_id: run.runId,
    operation: run.operation,
    repository: run.operation === "offsite" ? "offsite" : "primary",
    trigger: run.trigger,
    outcome: run.outcome,
    error_kind: run.failure?.kind ?? null,
    error: run.failure?.message ?? null,
    warnings: run.warnings ?? [],
    started_at: toIso(run.started),
    finished_at: toIso(run.finished),
    duration_seconds: Math.max(0, (run.finished.getTime() - run.started.getTime()) / 1000),
    archive: run.archive ?? null,
    pruned: run.pruned ?? [],
  });

  const execute = async (job: Job, controller: AbortController): Promise<ResultEvent> => {
    const started = new Date();
    const timeout = setTimeout(() => controller.abort(new DroneError("run_timeout", "run timeout")), config.runTimeoutMinutes * 60_000);
    timeout.unref();
    const context: RunContext = { job, started, signal: controller.signal, warnings: [], archive: null, pruned: [] };
    Object.assign(live, { operation: job.operation, runId: job.runId, trigger: job.trigger, startedAt: started, progress: null });
    live.queue = queue.map(waiting => waiting.operation);
    lastProgressAt = 0;
    notify();
    log.info(`${job.operation} started (${job.trigger}, run ${job.runId})`);

    let failure: { kind: string; message: string; outcome: Outcome } | undefined;
    const lock = await acquireRunLock(join(config.stateDir, `${config.droneId}.lock`));
    try {
      if ("heldBy" in lock) {
        throw new DroneError(
          "busy",
          `another backup-drone process (pid ${lock.heldBy}) is running an operation for ${config.droneId}; try again when it has finished`,
        );
      }
      await store.update(state => {
        state.running = { runId: job.runId, operation: job.operation, startedAt: toIso(started), pid: process.pid, borgPid: null };
      });
      await OPERATION_STEPS[job.operation](context);
    } catch (error) {
      const timedOut = controller.signal.reason instanceof DroneError && controller.signal.reason.kind === "run_timeout";
      failure = describeError(error, timedOut);
      log.error(`${job.operation} failed: ${failure.message}`);
      const ownsLock = !("heldBy" in lock);
      if (ownsLock && (job.operation === "scheduled" || job.operation === "create" || job.operation === "offsite")) {
        await stepHook(context, "on_error", failure.message).catch((hookError: unknown) =>
          log.warn(hookError instanceof Error ? hookError.message : String(hookError)),
        );
      }
    } finally {
      clearTimeout(timeout);
      if (!("heldBy" in lock)) await lock.release();
    }

    const finished = new Date();
    const outcome: Outcome = failure ? failure.outcome : context.warnings.length > 0 ? "warning" : "success";
    const result = resultEvent({
      runId: job.runId,
      operation: job.operation,
      trigger: job.trigger,
      outcome,
      failure,
      started,
      finished,
      warnings: context.warnings.slice(0, 50),
      archive: context.archive,
      pruned: context.pruned,
    });
    // refused because another process holds the run lock: that process's state is not ours to change
    if (!("heldBy" in lock)) {
      await store.update(state => {
        state.running = null;
        state.lastResult = outcome;
      state.lastError = failure?.message ?? null;
        state.lastDurationSeconds = Math.round(result.duration_seconds);
      });
    }
    log.info(`${job.operation} ended: ${outcome} in ${result.duration_seconds.toFixed(1)} s`);
    return result;
  };

  const pump = () => {
    if (current || stopping) return;
    const job = queue.shift();
    if (!job) return;
    const controller = new AbortController();
    const done = execute(job, controller)
      .then(result => {
        Object.assign(live, { state: "idle", operation: null, runId: null, trigger: null, startedAt: null, progress: null });
        live.queue = queue.map(waiting => waiting.operation);
        current = undefined;
        for (const listener of resultListeners) listener(result);
        notify();
        job.resolve(result);
      })
      .catch((error: unknown) => {
        current = undefined;
        job.reject(error instanceof Error ? error : new Error(String(error)));
      })
      .finally(pump);
    current = { job, controller, done };
  };

  const request = (operation: Operation, trigger: Trigger): RequestAnswer => {
    const refuse = (reason: string): RequestAnswer => {
      log.warn(`${operation} (${trigger}) refused: ${reason}`);
      return { accepted: false, reason };
    };
    if (stopping) return refuse("the drone is shutting down");
    if (operation === "offsite" && !config.offsite) return refuse("no offsite repository is configured");
    if (current?.job.operation === operation) return refuse(`${operation} is already running`);
    if (queue.some(job => job.operation === operation)) return refuse(`${operation} is already queued`);
    if (current && queue.length >= config.queueLimit) return refuse(`the queue is full (${config.queueLimit})`);
    let resolve!: (result: ResultEvent) => void;
    let reject!: (error: Error) => void;
    const done = new Promise<ResultEvent>((ok, fail) => {
      resolve = ok;
      reject = fail;
    });
    // a fire-and-forget caller must not see an unhandled rejection when a queued job is dropped at shutdown
    done.catch(() => undefined);
    const job: Job = { operation, trigger, runId: randomUUID(), resolve, reject };
    const queued = current !== undefined;
    queue.push(job);
    if (queued) {
      log.info(`${operation} (${trigger}) queued behind ${current?.job.operation ?? "the running operation"}`);
      live.queue = queue.map(waiting => waiting.operation);
      notify();
    }
    pump();
    return { accepted: true, runId: job.runId, queued, done };
  };

  const updateSettings = async (patch: Partial<Settings>): Promise<Settings> => {
    const parsed = settingsSchema.partial().safeParse(patch);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(`${issue?.path.join(".") ?? "setting"}: ${issue?.message ?? "invalid"}`);
    }
    const next = { ...settings(), ...parsed.data };
    if (next.keepWithin !== "" && !/^[1-9]\d*[Hdwmy]$/.test(next.keepWithin)) {
      throw new Error(`keepWithin: must be a number and a unit (H, d, w, m, y), e.g. 14d (got ${JSON.stringify(next.keepWithin)})`);
    }
    const keep = {
      within: next.keepWithin || undefined,
      daily: next.keepDaily,
      weekly: next.keepWeekly,
      monthly: next.keepMonthly,
      yearly: next.keepYearly,
    };
    if (!hasKeepRule(keep)) throw new Error("keep rules: at least one rule must keep archives");
    await store.update(state => {
      state.settings = { ...state.settings, ...parsed.data };
    });
    log.info(`settings changed: ${JSON.stringify(parsed.data)}`);
    notify();
    return settings();
  };

  const due = (now = new Date()): Operation[] => {
    const current = settings();
    if (current.mode !== "standalone") return [];
    const persisted = store.get();
    const operations: Operation[] = [];
    const overdue = (last: string | null, minutes: number) =>
      last === null || dayjs(last).add(minutes, "minute").valueOf() <= now.getTime();
    if (overdue(persisted.lastBackup, current.frequencyMinutes)) operations.push("scheduled");
    if (config.offsite && overdue(persisted.lastOffsiteBackup, current.offsiteFrequencyMinutes)) operations.push("offsite");
    return operations;
  };

  const recover = async (): Promise<ResultEvent | undefined> => {
    const running = store.get().running;
    if (!running || (running.pid !== process.pid && isAlive(running.pid))) return undefined;
    if (running.borgPid !== null && isAlive(running.borgPid)) {
      // a borg orphaned by the crash still holds the repository: let it checkpoint and stop
      log.warn(`stopping borg (pid ${running.borgPid}) left running by the previous drone process`);
      try {
        process.kill(running.borgPid, "SIGINT");
      } catch {
        // already gone
      }
      for (let waited = 0; waited < 100 && isAlive(running.borgPid); waited++) await new Promise(r => setTimeout(r, 100));
      if (isAlive(running.borgPid)) process.kill(running.borgPid, "SIGTERM");
    }
    const message = `the drone stopped during ${running.operation} (the process ended unexpectedly); the next run continues from borg's checkpoint`;
    const result = resultEvent({
      runId: running.runId,
      operation: running.operation,
      trigger: "startup",
      outcome: "interrupted",
      failure: { kind: "crashed", message },
      started: new Date(running.startedAt),
      finished: new Date(),
    });
    await store.update(state => {
      state.running = null;
      state.lastResult = "interrupted";
      state.lastError = message;
    });
    log.warn(message);
    for (const listener of resultListeners) listener(result);
    notify();
    return result;
  };

  const shutdown = async () => {
    stopping = true;
    for (const job of queue.splice(0)) job.reject(new Error("the drone is shutting down"));
    if (current) {
      current.controller.abort();
      await current.done;
    }
  };

  const subscribe = <T,>(set: Set<T>, listener: T) => {
    set.add(listener);
    return () => void set.delete(listener);
  };

  return {
    config,
    archivePrefix,
    client,
    settings,
    updateSettings,
    live: () => ({ ...live, queue: [...live.queue] }),
    persisted: () => store.get(),
    request,
    run: async (operation, trigger) => {
      const answer = request(operation, trigger);
      if (!answer.accepted) throw new DroneError("refused", answer.reason);
      return answer.done;
    },
    due,
    onProgress: listener => subscribe(progressListeners, listener),
    onResult: listener => subscribe(resultListeners, listener),
    onChange: listener => subscribe(changeListeners, listener),
    recover,
    shutdown,
  };
}
