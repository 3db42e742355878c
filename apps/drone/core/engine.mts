/**
 * The drone engine: one borg operation at a time. It queues what is asked for (or refuses it,
 * saying why), runs each job (run.mts) as the steps the operation table names
 * (actions/operations.mts, one file per action), keeps the live status and tells listeners
 * of progress, results and changes. It knows nothing of Home Assistant or the terminal:
 * those listen. The borg client and the hook runner are injected (the real ones by default).
 */
import { randomUUID } from "node:crypto";
import { join } from "node:path";

import { type ArchiveListEntry, type BorgClient, type InitOptions } from "../../../libs/borg/index.mjs";
import { errorText } from "../../../libs/config/index.mjs";
import { type ApplicationState, type Operation, type ProgressEvent, type ResultEvent, type Trigger } from "../../../libs/protocol/index.mjs";
import { type DroneConfig } from "../config.mjs";
import { checkDue } from "./actions/check.mjs";
import { findInArchives, type FindQuery, listArchives } from "./archives.mjs";
import { type DumpEntry, dumpsOfArchive, type DumpRestoreRequest, prepareDumpRestore, type PreparedDumpRestore } from "./dumps/restore.mjs";
import { DroneError, RunStop } from "./errors.mjs";
import { type FoundVersion } from "./find.mjs";
import { runHook } from "./hooks.mjs";
import { createProgressChannel } from "./progress.mjs";
import { type HistoryQuery, type HistoryRecord, openRunHistory, type RunHistory } from "./history.mjs";
import { recoverInterruptedRun, removeLeftoverRunFolder } from "./recovery.mjs";
import { resultEvent } from "./result.mjs";
import { archivePrefixOf, type BorgClientFactory, noOffsite, realBorgClient, repositoryOf, type RepositoryRole } from "./repositories.mjs";
import { executeRun, type RunEnvironment } from "./run.mjs";
import { type DroneLog, type HookRunner, type Job, type RestoreRequest } from "./run-context.mjs";
import { checkSettingsChange, dueOperations, type Settings, settingsOf } from "./settings.mjs";
import { noteCancelled, type PersistedState, type StateStore } from "./state.mjs";

export { RECENT_ARCHIVES, type FindQuery } from "./archives.mjs";
export { DroneError } from "./errors.mjs";
export { parseSince } from "./duration.mjs";
export { type HistoryArchive, type HistoryOutcome, type HistoryQuery, type HistoryRecord } from "./history.mjs";
export { archivePrefixOf, createOptionsOf, repositoryHost, repositoryOf, type RepositoryRole } from "./repositories.mjs";
export { type DroneLog, type RestoreRequest } from "./run-context.mjs";
export { type DumpEntry, type DumpRestoreRequest, type PreparedDumpRestore } from "./dumps/restore.mjs";

/** Parameters of an operation that needs them. */
export interface RequestOptions {
  /** For `restore`; without it the Restore Archive and Restore Target settings are used. */
  restore?: RestoreRequest;
  /** For `restore`: restore this dump instead of files (see {@link DroneEngine.prepareDumpRestore}). */
  dump?: DumpRestoreRequest;
  /** Who asks (a command's sender, `cli (user@host)`…), for the run history. */
  requestedBy?: string;
}

/** The answer to a request for an operation. */
export type RequestAnswer =
  | { accepted: true; runId: string; queued: boolean; done: Promise<ResultEvent> }
  | { accepted: false; reason: string };

/** What a cancel stopped: the running run (null when nothing ran) and the queued operations dropped. */
export interface CancelAnswer {
  cancelled: { runId: string; operation: Operation; result: ResultEvent } | null;
  dropped: Operation[];
}

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

/** The engine's API. */
export interface DroneEngine {
  readonly config: DroneConfig;
  /** Settings in force: the configuration overlaid with what was changed at run time. */
  settings(): Settings;
  /** Change settings (validated; persisted). Throws a SettingsError naming the bad field. */
  updateSettings(patch: Partial<Settings>): Promise<Settings>;
  live(): LiveStatus;
  persisted(): Readonly<PersistedState>;
  /** Ask for an operation: it starts now, waits in the queue, or is refused (and why). */
  request(operation: Operation, trigger: Trigger, options?: RequestOptions): RequestAnswer;
  /** Request and wait for the result; throws when refused. */
  run(operation: Operation, trigger: Trigger, options?: RequestOptions): Promise<ResultEvent>;
  /** This drone's archives, newest first (a read: it does not wait for the queue); refreshes the recent list. */
  archives(): Promise<ArchiveListEntry[]>;
  /** Which archives hold paths matching a pattern, as versions, newest first (a read, like {@link archives}). */
  find(query: FindQuery): Promise<FoundVersion[]>;
  /** The dumps an archive holds (a read, like {@link archives}). */
  dumpsOf(archive: string): Promise<DumpEntry[]>;
  /**
   * What a dump restore would do (a read: the archive, the manifest, the tool, whether it
   * replaces a live database), for `--dry-run` and the confirmation; `restore` with `dump` runs it.
   */
  prepareDumpRestore(request: DumpRestoreRequest): Promise<PreparedDumpRestore>;
  /**
   * This drone's runs, newest first (from the run history every process of the drone shares):
   * a run left `running` by a process that is gone reads as interrupted, kind `crashed`.
   */
  history(query?: HistoryQuery): HistoryRecord[];
  /** The integrity check a scheduled run would end with now, if any. */
  checkDue(now?: Date): "check" | "verify" | undefined;
  /** Operations due now by this drone's own schedule (standalone mode). */
  due(now?: Date): Operation[];
  onProgress(listener: (event: ProgressEvent) => void): () => void;
  onResult(listener: (event: ResultEvent) => void): () => void;
  /** A run's borg call has started borg (each call): work that can wait, done while borg loads. */
  onBorgStart(listener: () => void): () => void;
  /** Any change of live state, settings or persisted facts. */
  onChange(listener: () => void): () => void;
  /**
   * Release a held prune (after a person looked at the newest archive): the next run prunes
   * again, and the guard compares later archives with the newest one. False when nothing was held.
   */
  releasePruneHold(by: Trigger): Promise<boolean>;
  /** After a crash: stop an orphaned borg, report the interrupted run. Call once at start-up. */
  recover(): Promise<ResultEvent | undefined>;
  /**
   * Cancel what runs (borg gets SIGINT; a create keeps a checkpoint) and drop what waits. Each
   * ends with a result `interrupted`, error kind `cancelled`, naming `by`. Resolves once the
   * running operation has ended.
   */
  cancel(by: string): Promise<CancelAnswer>;
  /**
   * Say who asked for a run, running or queued, once that is learnt (the coordinator's
   * `backup_coordinator_run_started` names its own runs): its trigger and requester change in
   * the live status and in its result. False when no such run is running or queued.
   */
  attribute(runId: string, trigger: Trigger, requestedBy: string): boolean;
  /** Stop: refuse new work, drop the queue, interrupt borg (it writes a checkpoint) and wait. */
  shutdown(): Promise<void>;
  /** The archive-name prefix of this drone; prune and stats never look past it. */
  readonly archivePrefix: string;
  client(role: RepositoryRole): BorgClient;
  /**
   * `borg init` of the primary repository. The state then records that this drone created it:
   * its first backup needs no look in the repository for an earlier archive of this drone.
   */
  initRepository(options: InitOptions): Promise<void>;
}

/** What the engine is made of; the borg client and the hook runner default to the real ones. */
export interface EngineOptions {
  config: DroneConfig;
  store: StateStore;
  log: DroneLog;
  borgClient?: BorgClientFactory;
  runHook?: HookRunner;
  /** The run history; by default `<STATE_DIR>/<droneId>.history.db`. */
  history?: RunHistory;
}

/** Create the engine for a validated configuration and its state store. */
export function createDroneEngine(options: EngineOptions): DroneEngine {
  const { config, store, log } = options;
  const archivePrefix = archivePrefixOf(config.droneId);
  const makeClient = options.borgClient ?? realBorgClient;
  const clients: Record<RepositoryRole, BorgClient | undefined> = {
    primary: makeClient(config, "primary", log),
    offsite: config.offsite ? makeClient(config, "offsite", log) : undefined,
  };
  const client = (role: RepositoryRole): BorgClient => {
    const found = clients[role];
    if (!found) throw noOffsite();
    return found;
  };

  const history =
    options.history ??
    openRunHistory(join(config.stateDir, `${config.droneId}.history.db`), { days: config.historyDays, runs: config.historyRuns }, message => log.warn(message));
  const resultListeners = new Set<(event: ResultEvent) => void>();
  const changeListeners = new Set<() => void>();
  const borgStartListeners = new Set<() => void>();
  const notify = () => {
    for (const listener of changeListeners) listener();
  };

  const queue: Job[] = [];
  let current: { job: Job; controller: AbortController; done: Promise<void>; result: Promise<ResultEvent> } | undefined;
  let stopping = false;
  // aborted at shutdown: bounds what runs after a run's own abort (the on_error hook)
  const stopped = new AbortController();
  const live: LiveStatus = { state: "idle", operation: null, runId: null, trigger: null, startedAt: null, queue: [], progress: null };
  const setState = (state: ApplicationState) => {
    if (live.state === state) return;
    live.state = state;
    notify();
  };
  const settings = (): Settings => settingsOf(config, store.get().settings);
  const progress = createProgressChannel(config.progressIntervalMs, event => void (live.progress = event));
  const environment: RunEnvironment = {
    config,
    store,
    log,
    archivePrefix,
    client,
    history,
    runHook: options.runHook ?? runHook,
    shutdown: stopped.signal,
    progress,
    state: () => live.state,
    setState,
    lastPercent: () => live.progress?.percent ?? null,
    settings,
    notify,
    borgStarted: () => {
      for (const listener of borgStartListeners) {
        try {
          listener();
        } catch (error) {
          log.warn(`a listener of borg's start failed: ${errorText(error)}`);
        }
      }
    },
  };
  const queued = () => queue.map(waiting => waiting.operation);
  const emitResult = (result: ResultEvent) => {
    for (const listener of resultListeners) listener(result);
  };

  const pump = () => {
    if (current || stopping) return;
    const job = queue.shift();
    if (!job) return;
    const controller = new AbortController();
    const started = new Date();
    Object.assign(live, { operation: job.operation, runId: job.runId, trigger: job.trigger, startedAt: started, progress: null });
    live.queue = queued();
    progress.reset();
    notify();
    const execution = executeRun(environment, job, controller, started);
    const done = execution
      .then(result => {
        // the run's last progress (its last step's end) before its result; a listener that
        // throws must not cost the result nor leave the drone busy for ever
        try {
          progress.flush();
        } catch (error) {
          log.error(`a progress listener failed at the end of run ${job.runId}: ${errorText(error)}`);
        }
        Object.assign(live, { state: "idle", operation: null, runId: null, trigger: null, startedAt: null, progress: null });
        live.queue = queued();
        current = undefined;
        emitResult(result);
        notify();
        job.resolve(result);
      })
      .catch((error: unknown) => {
        current = undefined;
        job.reject(error instanceof Error ? error : new Error(errorText(error)));
      })
      .finally(pump);
    current = { job, controller, done, result: execution };
  };

  const request = (operation: Operation, trigger: Trigger, requestOptions: RequestOptions = {}): RequestAnswer => {
    const refuse = (reason: string): RequestAnswer => {
      log.warn(`${operation} (${trigger}) refused: ${reason}`);
      return { accepted: false, reason };
    };
    if (stopping) return refuse("the drone is shutting down");
    if (operation === "offsite" && !config.offsite) return refuse("no offsite repository is configured");
    // a run being stopped (cancelled, timed out) no longer counts: the same operation may queue behind it
    if (current?.job.operation === operation && !current.controller.signal.aborted) return refuse(`${operation} is already running`);
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
    const job: Job = {
      operation,
      trigger,
      runId: randomUUID(),
      requestedBy: requestOptions.requestedBy ?? null,
      restore: requestOptions.restore,
      ...(requestOptions.dump ? { dump: requestOptions.dump } : {}),
      resolve,
      reject,
    };
    const waits = current !== undefined;
    queue.push(job);
    if (waits) {
      log.info(`${operation} (${trigger}) queued behind ${current?.job.operation ?? "the running operation"}`);
      live.queue = queued();
      notify();
    }
    pump();
    return { accepted: true, runId: job.runId, queued: waits, done };
  };

  const updateSettings = async (patch: Partial<Settings>): Promise<Settings> => {
    const change = checkSettingsChange(patch, settings(), archivePrefix);
    await store.update(state => {
      state.settings = { ...state.settings, ...change };
    });
    log.info(`settings changed: ${JSON.stringify(change)}`);
    notify();
    return settings();
  };

  const releasePruneHold = async (by: Trigger): Promise<boolean> => {
    const hold = store.get().pruneHold;
    if (!hold) return false;
    await store.update(state => void (state.pruneHold = null));
    log.info(`prune hold released (${by}); it was held since ${hold.since}: ${hold.reasons.join("; ")}`);
    notify();
    return true;
  };

  // the cancel under way, per run: a second cancel of the same run answers what the first one does
  let cancelling: { runId: string; answer: Promise<CancelAnswer> } | undefined;

  /** Drop every queued job: each ends with an `interrupted`/`cancelled` result that never started borg. */
  const dropQueue = (by: string): Operation[] => {
    const dropped = queue.splice(0);
    const now = new Date();
    for (const job of dropped) {
      log.info(`${job.operation} (${job.trigger}) dropped from the queue: cancelled by ${by}`);
      const result = resultEvent({
        droneId: config.droneId,
        runId: job.runId,
        operation: job.operation,
        trigger: job.trigger,
        outcome: "interrupted",
        failure: { kind: "cancelled", message: `cancelled by ${by} before it started` },
        started: now,
        finished: now,
        cancelledBy: by,
      });
      history.finished(result, job.requestedBy, 0);
      emitResult(result);
      job.resolve(result);
    }
    live.queue = queued();
    if (dropped.length > 0) notify();
    return dropped.map(job => job.operation);
  };

  const cancel = async (by: string): Promise<CancelAnswer> => {
    const dropped = dropQueue(by);
    const running = current;
    // a backup dropped is put off too; written before the answer, so that a schedule looking after it already waits
    const remembered = noteCancelled(store, dropped, new Date()).catch((error: unknown) => log.warn(`cannot note the cancel in the state file: ${errorText(error)}`));
    if (!running) {
      if (dropped.length === 0) log.info(`cancel (${by}): nothing is running or queued`);
      await remembered;
      return { cancelled: null, dropped };
    }
    if (cancelling?.runId === running.job.runId) {
      // pressed again while borg stops: the same run, and whatever was queued since is dropped too
      log.info(`cancel (${by}): ${running.job.operation} (run ${running.job.runId}) is already being cancelled`);
      await remembered;
      const first = await cancelling.answer;
      return { cancelled: first.cancelled, dropped: [...first.dropped, ...dropped] };
    }
    log.info(`${running.job.operation} (run ${running.job.runId}) cancelled by ${by}`);
    running.controller.abort(new RunStop({ kind: "cancelled", by }));
    const answer = (async (): Promise<CancelAnswer> => {
      await remembered;
      const result = await running.result;
      await running.done;
      return { cancelled: { runId: running.job.runId, operation: running.job.operation, result }, dropped };
    })();
    cancelling = { runId: running.job.runId, answer };
    try {
      return await answer;
    } finally {
      if (cancelling?.runId === running.job.runId) cancelling = undefined;
    }
  };

  const attribute = (runId: string, trigger: Trigger, requestedBy: string): boolean => {
    const job = current?.job.runId === runId ? current.job : queue.find(waiting => waiting.runId === runId);
    if (!job) return false;
    if (job.trigger === trigger && job.requestedBy === requestedBy) return true;
    log.info(`${job.operation} (run ${runId}) was asked for by ${requestedBy} (${trigger}, not ${job.trigger})`);
    job.trigger = trigger;
    job.requestedBy = requestedBy;
    if (live.runId === runId) live.trigger = trigger;
    notify();
    return true;
  };

  const shutdown = async () => {
    stopping = true;
    for (const job of queue.splice(0)) job.reject(new Error("the drone is shutting down"));
    const reason = new DroneError("shutdown", "the drone is shutting down");
    stopped.abort(reason);
    if (current) {
      current.controller.abort(reason);
      await current.done;
    }
    history.close();
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
    run: async (operation, trigger, runOptions) => {
      const answer = request(operation, trigger, runOptions);
      if (!answer.accepted) throw new DroneError("refused", answer.reason);
      return answer.done;
    },
    due: (now = new Date()) => dueOperations(settings(), store.get(), config.offsite !== undefined, now),
    archives: () => listArchives(client("primary"), store, notify, archivePrefix),
    find: async query => findInArchives(client("primary"), await listArchives(client("primary"), store, notify, archivePrefix), query),
    dumpsOf: archive => dumpsOfArchive(client("primary"), archive),
    prepareDumpRestore: dump =>
      prepareDumpRestore(
        {
          client: client("primary"),
          call: () => ({}),
          archives: () => listArchives(client("primary"), store, notify, archivePrefix),
          archivePrefix,
          droneId: config.droneId,
          dumps: config.dumps,
        },
        dump,
      ),
    history: query => history.list(query),
    checkDue: (now = new Date()) => checkDue(store.get(), config.checks, now),
    onProgress: listener => progress.subscribe(listener),
    onResult: listener => subscribe(resultListeners, listener),
    onBorgStart: listener => subscribe(borgStartListeners, listener),
    onChange: listener => subscribe(changeListeners, listener),
    recover: async () => {
      const result = await recoverInterruptedRun(config, store, log);
      await removeLeftoverRunFolder(config, log).catch((error: unknown) => log.warn(`removing the dumps' run folder left by an interrupted run failed: ${String(error)}`));
      history.recovered(result);
      if (!result) return undefined;
      emitResult(result);
      notify();
      return result;
    },
    releasePruneHold,
    cancel,
    attribute,
    shutdown,
    initRepository: async initOptions => {
      await client("primary").init(initOptions);
      const at = new Date().toISOString();
      await store.update(state => void (state.createdRepository = { location: repositoryOf(config, "primary").location, at }));
    },
  };
}
