/**
 * The drone engine: one borg operation at a time, each a sequence of steps (hooks, create,
 * prune, compact, stats, check), with live progress, a result for every operation, and the
 * state a person watches. It knows nothing of Home Assistant or the terminal: those listen.
 */
import { randomUUID } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";

import dayjs from "dayjs";

import {
  type ArchiveListEntry,
  type BorgClient,
  BorgError,
  type BorgErrorKind,
  type BorgEvent,
  type BorgRepository,
  checkpointWatch,
  breakLockLine,
  createBorgClient,
  type CheckResult,
  type CreateOptions,
  type CreateResult,
  type KeepRules,
  noteOf,
  parseLocation,
  type RepositoryTotals,
} from "../../../libs/borg/index.mjs";
import { inheritedEnv } from "../../../libs/borg/environment.mjs";
import {
  type ApplicationState,
  boundResultEvent,
  type CheckKind,
  type CheckSummary,
  clipText,
  EVENT_LIMITS,
  type Operation,
  type Outcome,
  type ProgressEvent,
  PROTOCOL_VERSION,
  type RestoreSummary,
  type ResultEvent,
  type Trigger,
} from "../../../libs/protocol/index.mjs";
import { type DroneConfig, hasKeepRule, type PassphraseSetting, secretConfigVariables } from "../config.mjs";
import { DroneError } from "./errors.mjs";
import { estimateProgress, type Expectation, type ProgressAnchor } from "./estimate.mjs";
import { borgPattern, findVersions, type FoundVersion } from "./find.mjs";
import { addToHold, type ArchiveFigures, describeSources, holdMessage, inspectSources, judgeArchive, nothingToBackUp } from "./guard.mjs";
import { type HookStage, runHook } from "./hooks.mjs";
import {
  brokenLockLine,
  brokenLockNote,
  judgeOrphanedLock,
  type LockVerdict,
  type OrphanedLock,
  refusedLockMessage,
  repositoryOfOperation,
} from "./orphaned-lock.mjs";
import { prescan } from "./prescan.mjs";
import { archivePaths, archiveProblem, canonicalTarget, inspectTarget, LATEST, targetProblem } from "./restore.mjs";
import { commandMatches, fingerprint, isRunning, observeProcess, type ProcessIdentity, processIdentity } from "./process-identity.mjs";
import { acquireRunLock, runBorgAlive, runOwnerAlive } from "./run-lock.mjs";
import { type Settings, settingsSchema } from "./settings.mjs";
import { type PersistedState, type StateStore } from "./state.mjs";

/** Where the drone logs. */
export interface DroneLog {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** What to restore, and where to. */
export interface RestoreRequest {
  /** An archive name of this drone, or `latest`. */
  archive: string;
  /** An absolute folder: missing or empty, unless `overwrite`. */
  target: string;
  /** Only these paths (as stored, or with a leading slash); the whole archive when empty. */
  paths?: readonly string[];
  /** Allow a folder that is not empty: borg replaces the files of the same paths, nothing else. */
  overwrite?: boolean;
}

/** Parameters of an operation that needs them. */
export interface RequestOptions {
  /** For `restore`; without it the Restore Archive and Restore Target settings are used. */
  restore?: RestoreRequest;
}

/** What to look for with {@link DroneEngine.find}. */
export interface FindQuery {
  /** A file name, a path (leading slash optional), a shell pattern, or a borg pattern with its style. */
  pattern: string;
  /** At most this many versions. */
  versions?: number;
  /** Only archives made before this moment. */
  olderThan?: Date;
}

/** How many archive names the Restore Archive choice offers. */
export const RECENT_ARCHIVES = 20;

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
export type Role = "primary" | "offsite";

interface Job {
  operation: Operation;
  trigger: Trigger;
  runId: string;
  restore?: RestoreRequest;
  resolve: (result: ResultEvent) => void;
  reject: (error: Error) => void;
}

interface RunContext {
  job: Job;
  started: Date;
  signal: AbortSignal;
  warnings: string[];
  /** What borg said that needs nothing from anyone (a stale lock it removed), once each. */
  notes: string[];
  archive: ResultEvent["archive"];
  pruned: string[];
  checks: CheckSummary[];
  restore: RestoreSummary | null;
  /** Set when the prune guard held prune in this run: the message for the result. */
  held: string | null;
  /**
   * What became of this run's one attempt per repository to recover from a lock timeout: the
   * lock was broken, there was nothing to break, or the refusal (which later timeouts repeat).
   */
  lockRecovery: Map<Role, "broken" | "no_record" | DroneError>;
}

export { DroneError };

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
  request(operation: Operation, trigger: Trigger, options?: RequestOptions): RequestAnswer;
  /** Request and wait for the result; throws when refused. */
  run(operation: Operation, trigger: Trigger, options?: RequestOptions): Promise<ResultEvent>;
  /** This drone's archives, newest first (a read: it does not wait for the queue); refreshes the recent list. */
  archives(): Promise<ArchiveListEntry[]>;
  /** Which archives hold paths matching a pattern, as versions, newest first (a read, like {@link archives}). */
  find(query: FindQuery): Promise<FoundVersion[]>;
  /** The integrity check a scheduled run would end with now, if any. */
  checkDue(now?: Date): "check" | "verify" | undefined;
  /** Operations due now by this drone's own schedule (standalone mode). */
  due(now?: Date): Operation[];
  onProgress(listener: (event: ProgressEvent) => void): () => void;
  onResult(listener: (event: ResultEvent) => void): () => void;
  /** Any change of live state, settings or persisted facts. */
  onChange(listener: () => void): () => void;
  /**
   * Release a held prune (after a person looked at the newest archive): the next run prunes
   * again, and the guard compares later archives with the newest one. False when nothing was held.
   */
  releasePruneHold(by: Trigger): Promise<boolean>;
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

/** How each kind of check is named in messages. */
const CHECK_NAMES: Record<CheckKind, string> = {
  repository: "repository check",
  verify_data: "data verification (--verify-data)",
  archive: "archive check",
  spot: "spot check (extract --dry-run)",
};

/**
 * borg failures that come only after borg opened the repository, and so took its lock
 * (`passphrase_missing` is not one: an unreadable passphrase file stops borg from starting).
 */
const OPENED_REPOSITORY: ReadonlySet<BorgErrorKind> = new Set([
  "passphrase_wrong",
  "integrity",
  "archive_exists",
  "archive_missing",
  "disk_full",
]);

/** Archive names: `<drone id>@<local time>`; `@` cannot occur in a drone id, so prefixes never overlap. */
export const archivePrefixOf = (droneId: string) => `${droneId}@`;

/**
 * The host a repository lives on, as borg reads the location (`nas` for `ssh://borg@nas/./x`,
 * `borg@nas:/srv/x` or `nas:x`; an IPv6 address without brackets); `local:<drone id>` for a
 * local path, and for a location borg would refuse (the configuration refuses it first).
 */
export function repositoryHost(location: string, droneId: string): string {
  const reading = parseLocation(location);
  return reading.ok && reading.location.kind === "ssh" ? reading.location.host : `local:${droneId}`;
}

/** The borg repository of a role, as the drone's configuration describes it. */
export function repositoryOf(config: DroneConfig, role: Role): BorgRepository {
  const location = role === "offsite" ? config.offsite?.repository : config.repository;
  if (!location) throw new DroneError("no_offsite", "no offsite repository is configured (OFFSITE_REPOSITORY)");
  const passphrase: PassphraseSetting | undefined = role === "offsite" ? config.offsite?.passphrase : config.passphrase;
  return {
    location,
    passphrase,
    passphraseTransport: config.passphraseTransport,
    rsh: config.rsh,
    sshHostKeyPolicy: config.sshHostKeyPolicy,
    remotePath: config.remotePath,
    baseDir: config.borgBaseDir,
    lockWaitSeconds: config.lockWaitSeconds,
    allowRelocated: config.allowRelocated,
    allowUnknownUnencrypted: config.allowUnknownUnencrypted,
  };
}

/** What the drone asks `borg create` for, on a role's repository, from its configuration. */
export function createOptionsOf(config: DroneConfig, role: Role, archive: string): CreateOptions {
  return {
    archive,
    paths: config.sources,
    compression: config.compression,
    excludes: config.excludes,
    excludeIfPresent: config.excludeIfPresent,
    oneFileSystem: config.oneFileSystem,
    checkpointIntervalSeconds: config.checkpointIntervalSeconds,
    uploadRateLimitKiB: (role === "offsite" ? config.offsite?.uploadRateLimitKiB : config.uploadRateLimitKiB) || undefined,
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
      // borg and a passcommand inherit none of the drone's own secrets
      dropEnv: secretConfigVariables(),
      passcommandTimeoutMs: config.passcommandTimeoutSeconds * 1000,
      // a one-shot prune would otherwise start borg twice: `borg --version`, then prune
      versionCacheFile: join(config.stateDir, "borg-version.json"),
      // the error says what crashed in one line; the whole traceback is for whoever debugs it
      onTraceback: traceback => log.debug(`borg's traceback:\n${traceback}`),
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
  // aborted at shutdown: bounds what runs after a run's own abort (the on_error hook)
  const stopped = new AbortController();
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
    restoreArchive: LATEST,
    restoreTarget: "",
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
    // recorded so that crash recovery claims a checkpoint only when borg committed one
    const checkpoint = checkpointWatch();
    const recordCheckpoint = () =>
      void store
        .update(state => {
          if (state.running?.runId === context.job.runId) state.running.checkpointAt = toIso(new Date());
        })
        .catch((error: unknown) => log.warn(`recording borg's checkpoint in the state file failed: ${error instanceof Error ? error.message : String(error)}`));
    let first = true;
    let finished = false;
    let counters = { originalSize: 0, compressedSize: 0, deduplicatedSize: 0, nfiles: 0 };
    let anchor: ProgressAnchor | undefined;
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
      path: path === null ? null : clipText(path, EVENT_LIMITS.longPathBytes),
      elapsed_seconds: Math.max(0, (Date.now() - stepStarted) / 1000),
      expected_size: expectation.value ? expectation.value.originalSize : null,
      finished,
      time: new Date().toISOString(),
    });
    const onEvent = (event: BorgEvent) => {
      const before = checkpoint.committed();
      checkpoint.see(event);
      if (!before && checkpoint.committed()) recordCheckpoint();
      if (event.type === "archive_progress" && !event.finished) {
        counters = {
          originalSize: event.originalSize ?? counters.originalSize,
          compressedSize: event.compressedSize ?? counters.compressedSize,
          deduplicatedSize: event.deduplicatedSize ?? counters.deduplicatedSize,
          nfiles: event.nfiles ?? counters.nfiles,
        };
        const elapsed = (Date.now() - stepStarted) / 1000;
        const estimate = estimateProgress(expectation.value, counters, elapsed, anchor);
        anchor ??= { originalSize: counters.originalSize, nfiles: counters.nfiles, elapsedSeconds: elapsed };
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
      if (finished) return;
      finished = true;
      emitProgress(base(succeeded ? 100 : (live.progress?.percent ?? null), succeeded ? 0 : null, null, true), true);
    };
    return { onEvent, finish };
  };

  const callOptions = (context: RunContext, onEvent: (event: BorgEvent) => void) => {
    const recordBorg = (pid: number, borgIdentity: ProcessIdentity | null) =>
      void store
        .update(state => {
          if (state.running?.runId !== context.job.runId) return;
          state.running.borgPid = pid;
          state.running.borgIdentity = borgIdentity;
        })
        // the run goes on without the record: only crash recovery would miss it
        .catch((error: unknown) => log.warn(`recording borg's process in the state file failed: ${error instanceof Error ? error.message : String(error)}`));
    let spawned: { pid: number; identity: ProcessIdentity | null } | undefined;
    // a traceback's lines are for whoever debugs; the error says what crashed in one line
    let inTraceback = false;
    return {
      signal: context.signal,
      onEvent: (event: BorgEvent) => {
        if (event.type === "text") {
          inTraceback ||= event.line.startsWith("Traceback (most recent call last):");
          // what borg (or a program it ran) printed outside its JSON log: a line of its own,
          // which a terminal shows above the progress bar, never under it
          if (inTraceback) log.debug(`borg: ${event.line.trimEnd()}`);
          else log.warn(`borg: ${event.line.trimEnd()}`);
        }
        // borg speaks, so it runs now: a BORG_BINARY wrapper that execs borg has become borg,
        // whose command line the one recorded at spawn may not match
        const first = spawned;
        spawned = undefined;
        if (first?.identity) {
          const now = observeProcess(first.pid);
          if (now.kind === "present" && now.identity.startTicks === first.identity.startTicks && !commandMatches(first.identity.command, now.identity.argv)) {
            recordBorg(first.pid, { ...first.identity, command: fingerprint(now.identity.argv) });
          }
        }
        const note = event.type === "log_message" ? noteOf(event) : undefined;
        if (note !== undefined && !context.notes.includes(note)) context.notes.push(note);
        onEvent(event);
      },
      inactivityTimeoutMs: config.inactivityTimeoutMinutes * 60_000,
      onSpawn: (pid: number) => {
        // read now, while the pid is surely borg's: recovery signals it only while it still is
        spawned = { pid, identity: processIdentity(pid) };
        recordBorg(pid, spawned.identity);
      },
    };
  };

  // ------------------------------------------------------------------ orphaned locks

  /** Forget a repository's orphaned lock: a run got its lock, or the lock was broken. */
  const forgetOrphanedLock = async (role: Role) => {
    if (!store.get().orphanedLocks.some(lock => lock.repository === role)) return;
    await store.update(state => void (state.orphanedLocks = state.orphanedLocks.filter(lock => lock.repository !== role)));
  };

  /**
   * After a lock timeout on a repository the drone's dead run used: break the lock when it is
   * proven to be that run's (see orphaned-lock.mts for why only then), or fail saying why not
   * and what to paste. Without such a record the timeout stands as it is.
   */
  const breakOrphanedLock = async (context: RunContext, role: Role, timeout: BorgError): Promise<"broken" | "no_record"> => {
    const record: OrphanedLock | undefined = store.get().orphanedLocks.find(lock => lock.repository === role);
    if (!record) return "no_record";
    const repository = repositoryOf(config, role);
    let verdict: LockVerdict;
    try {
      const listed = await client(role).list({ bypassLock: true, considerCheckpoints: true }, { signal: context.signal });
      verdict = judgeOrphanedLock(
        listed.value.archives.map(archive => archive.name),
        archivePrefix,
      );
    } catch (error) {
      if (context.signal.aborted) throw error;
      verdict = { proven: false, reason: `its archives could not be listed (${error instanceof Error ? error.message : String(error)})`, foreign: [] };
    }
    if (!verdict.proven) {
      throw new DroneError("lock_timeout", refusedLockMessage(record, repository.location, verdict.reason, breakLockLine(repository)));
    }
    await client(role).breakLock({ signal: context.signal });
    await forgetOrphanedLock(role);
    log.warn(brokenLockLine(record, repository.location, timeout.context.command));
    context.notes.push(brokenLockNote(record, repository.location));
    return "broken";
  };

  /**
   * A lock timeout on the repository itself. One on borg's cache on this machine (a folder
   * named by the repository id) is not the repository's lock: breaking that would not help.
   */
  const repositoryLockTimeout = (error: unknown): error is BorgError =>
    error instanceof BorgError &&
    error.kind === "lock_timeout" &&
    !(error.context.details ?? []).some(line => /\/[0-9a-f]{64}\/lock\.exclusive\b/.test(line));

  /**
   * A role's client for the steps of a run: a lock timeout may end in breaking an orphaned
   * lock and running the command once more; a command that succeeds, or fails only after
   * borg opened the repository, got the lock, which clears the repository's orphaned-lock
   * record (a later lock is not the dead run's).
   */
  const borg = (context: RunContext, role: Role): BorgClient => {
    const raw = client(role);
    const guarded =
      <A extends unknown[], T>(call: (...args: A) => Promise<T>) =>
      async (...args: A): Promise<T> => {
        let result: T;
        try {
          result = await call(...args);
        } catch (error) {
          if (error instanceof BorgError && OPENED_REPOSITORY.has(error.kind)) await forgetOrphanedLock(role);
          if (!repositoryLockTimeout(error)) throw error;
          const tried = context.lockRecovery.get(role);
          // once per run: a timeout after the lock was broken is someone else's lock
          if (tried instanceof DroneError) throw tried;
          if (tried !== undefined) throw error;
          let recovery: "broken" | "no_record";
          try {
            recovery = await breakOrphanedLock(context, role, error);
          } catch (refusal) {
            if (refusal instanceof DroneError) context.lockRecovery.set(role, refusal);
            throw refusal;
          }
          context.lockRecovery.set(role, recovery);
          if (recovery === "no_record") throw error;
          result = await call(...args);
        }
        await forgetOrphanedLock(role);
        return result;
      };
    return {
      ...raw,
      create: guarded(raw.create.bind(raw)),
      list: guarded(raw.list.bind(raw)),
      listItems: guarded(raw.listItems.bind(raw)),
      info: guarded(raw.info.bind(raw)),
      prune: guarded(raw.prune.bind(raw)),
      compact: guarded(raw.compact.bind(raw)),
      check: guarded(raw.check.bind(raw)),
      deleteArchive: guarded(raw.deleteArchive.bind(raw)),
      extract: guarded(raw.extract.bind(raw)),
    };
  };

  // ------------------------------------------------------------------ steps

  /**
   * An archive of no file (every file excluded or unreadable) is deleted at once and the run
   * fails: kept, it would count as a fresh backup and push real ones out of the keep rules.
   */
  const discardEmptyArchive = async (context: RunContext, role: Role, requested: string, created: string): Promise<never> => {
    const message =
      `the backup read no file from ${config.sources.join(", ")}, so its archive was deleted and nothing was pruned; ` +
      "check that the sources are mounted and readable and that EXCLUDES does not exclude everything";
    // only the very archive this run asked borg to create
    if (created !== requested || !created.startsWith(archivePrefix)) throw new DroneError("empty_archive", message);
    try {
      await borg(context, role).deleteArchive(created, callOptions(context, () => undefined));
    } catch (error) {
      // kept, the empty archive could stand for its day in the keep rules: hold prune until a person deletes it
      const why = `the empty archive ${created} could not be deleted (${error instanceof Error ? error.message : String(error)}); delete it with \`borg delete ${repositoryOf(config, role).location}::${created}\``;
      await holdPrune(created, [why]);
      throw new DroneError("empty_archive", `${message.replace("so its archive was deleted and nothing was pruned", "and nothing was pruned")}; ${why}`);
    }
    throw new DroneError("empty_archive", message);
  };

  /** Hold prune for a suspicious archive (added to a standing hold). */
  const holdPrune = async (archive: string, reasons: readonly string[]) => {
    await store.update(state => void (state.pruneHold = addToHold(state.pruneHold, archive, reasons, toIso(new Date()))));
    log.warn(`prune guard: ${holdMessage(reasons)}`);
    notify();
  };

  /**
   * The archive the guard compares a new one with: the last one recorded, or, when the state
   * has none (a new STATE_DIR, a lost state file), this drone's newest archive in the repository.
   */
  const previousArchive = async (context: RunContext, role: Role): Promise<ArchiveFigures | null> => {
    const persisted = store.get();
    const recorded = role === "primary" ? persisted.lastArchive : persisted.lastOffsiteArchive;
    if (recorded) return recorded;
    try {
      const info = await borg(context, role).info({ prefix: archivePrefix, last: 1 }, callOptions(context, () => undefined));
      const newest = info.value.archives.at(-1);
      if (!newest) return null;
      log.info(`no archive recorded in the state file: the prune guard compares with ${newest.name} from the repository`);
      return { name: newest.name, ...newest.stats };
    } catch (error) {
      // the create that follows reports what is wrong with the repository
      log.debug(`reading the newest archive for the prune guard failed: ${error instanceof Error ? error.message : String(error)}`);
      return null;
    }
  };

  const stepCreate = async (context: RunContext, role: Role): Promise<CreateResult> => {
    setState(STEP_STATES[role].create);
    const sourcesNow = await inspectSources(config.sources);
    const refusal = nothingToBackUp(sourcesNow);
    if (refusal) throw new DroneError("sources_missing", refusal);
    const unusable = describeSources(sourcesNow);
    if (unusable) context.warnings.push(`sources with nothing to back up: ${unusable}`);
    const persisted = store.get();
    const previous = await previousArchive(context, role);
    const expectation: { value?: Expectation } = {};
    if (previous) expectation.value = { originalSize: previous.originalSize, nfiles: previous.nfiles };
    // measured alongside the create, started once borg runs so that it never delays borg:
    // the estimate appears when the scan is done
    let prescanStarted = false;
    const startPrescan = () => {
      // once, though borg may start twice (after a broken orphaned lock)
      if (previous || !config.prescan || prescanStarted) return;
      prescanStarted = true;
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
    };
    const tracker = progressTracker(context, role, expectation);
    const options = callOptions(context, tracker.onEvent);
    const archive = `${archivePrefix}${dayjs().format("YYYY-MM-DDTHH:mm:ss.SSS")}`;
    try {
      const run = await borg(context, role).create(createOptionsOf(config, role, archive), {
          ...options,
          onSpawn: pid => {
            options.onSpawn(pid);
            startPrescan();
          },
        },
      );
      tracker.finish(true);
      const stats = run.value.archive.stats;
      // borg's warnings (a folder it could not read) explain an empty archive: keep them first
      context.warnings.push(...run.warnings.map(warning => warning.message));
      if (stats.nfiles === 0) await discardEmptyArchive(context, role, archive, run.value.archive.name);
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
        compressedSize: stats.compressedSize,
        deduplicatedSize: stats.deduplicatedSize,
      };
      const reasons = judgeArchive({
        settings: config.guard,
        previous,
        current: facts,
        sourcesBefore: persisted.lastSources,
        sourcesNow,
      });
      const totals = storedTotals(run.value.totals);
      await store.update(state => {
        state.lastSources = sourcesNow.map(source => ({ ...source }));
        // in the same write as the archive's record: a crash cannot leave one without the other
        if (reasons.length > 0) state.pruneHold = addToHold(state.pruneHold, facts.name, reasons, toIso(new Date()));
        if (role === "primary") {
          state.lastBackup = toIso(new Date());
          state.lastArchive = facts;
          state.totals = totals;
          if (state.archiveCount !== null) state.archiveCount += 1;
          state.recentArchives = [facts.name, ...state.recentArchives.filter(name => name !== facts.name)].slice(0, RECENT_ARCHIVES);
        } else {
          state.lastOffsiteBackup = toIso(new Date());
          state.lastOffsiteArchive = facts;
          state.offsiteTotals = totals;
        }
      });
      log.info(
        `archive ${archive} created: ${stats.nfiles} files, ${stats.originalSize} B read, ${stats.deduplicatedSize} B new`,
      );
      if (reasons.length > 0) {
        log.warn(`prune guard: ${holdMessage(reasons)}`);
        // every operation that made the archive says so (a create alone, too: exit 7, outcome held)
        context.held = holdMessage(store.get().pruneHold?.reasons ?? reasons);
      }
      notify();
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

  /** True (and the run marked held) when the prune guard holds prune. */
  const pruneHeld = (context: RunContext, role: Role): boolean => {
    const hold = store.get().pruneHold;
    if (!hold) return false;
    context.held = holdMessage(hold.reasons);
    log.warn(`${role} prune skipped: ${context.held}`);
    return true;
  };

  const stepPrune = async (context: RunContext, role: Role) => {
    if (pruneHeld(context, role)) return;
    setState(STEP_STATES[role].prune);
    const tracker = progressTracker(context, role, {});
    const run = await borg(context, role).prune({ prefix: archivePrefix, keep: keepRules(role) }, callOptions(context, tracker.onEvent));
    tracker.finish(true);
    context.pruned.push(...run.value.pruned);
    context.warnings.push(...run.warnings.map(warning => warning.message));
    if (role === "primary") await store.update(state => void (state.lastPrune = toIso(new Date())));
    log.info(`prune kept ${run.value.kept.length} and removed ${run.value.pruned.length} archives of ${archivePrefix}*`);
  };

  const stepCompact = async (context: RunContext, role: Role) => {
    setState(STEP_STATES[role].compact);
    const tracker = progressTracker(context, role, {});
    await borg(context, role).compact({}, callOptions(context, tracker.onEvent));
    tracker.finish(true);
  };

  const stepStats = async (context: RunContext, role: Role) => {
    setState(STEP_STATES[role].stats);
    const noProgress = callOptions(context, () => undefined);
    const info = await borg(context, role).info({}, noProgress);
    const list = await borg(context, role).list({ prefix: archivePrefix }, noProgress);
    const totals = storedTotals(info.value.totals);
    await store.update(state => {
      if (role === "primary") {
        state.totals = totals;
        state.archiveCount = list.value.archives.length;
      } else state.offsiteTotals = totals;
    });
    if (role === "primary") await rememberArchives(list.value.archives.map(archive => archive.name).reverse());
  };

  /** Remember this drone's newest archive names (the Restore Archive options); notifies on a change. */
  const rememberArchives = async (newestFirst: readonly string[]) => {
    const recent = newestFirst.slice(0, RECENT_ARCHIVES);
    if (JSON.stringify(recent) === JSON.stringify(store.get().recentArchives)) return;
    await store.update(state => void (state.recentArchives = recent));
    notify();
  };

  /**
   * Record what a check found. Any check that finds damage makes Last Check Result
   * `failed`; only a full check (check, verify) that finds none makes it `success` again.
   * Damage ends the run as a failure of kind `integrity`.
   */
  const recordCheck = async (context: RunContext, summary: CheckSummary) => {
    context.checks.push(summary);
    const full = summary.kind === "repository" || summary.kind === "verify_data";
    const now = toIso(new Date());
    await store.update(state => {
      if (full) {
        state.lastCheck = now;
        if (summary.kind === "verify_data") state.lastVerifyData = now;
      }
      if (!summary.healthy) state.lastCheckResult = "failed";
      else if (full) state.lastCheckResult = "success";
    });
    notify();
    if (summary.healthy) return;
    const what = summary.archive ? `${CHECK_NAMES[summary.kind]} of ${summary.archive}` : CHECK_NAMES[summary.kind];
    const found = summary.problems.slice(0, 3).join("; ") || "see the drone's log";
    throw new DroneError(
      "integrity",
      `the ${what} found damage: ${found}. Stop pruning and compacting; see docs/restore.md (a failed check) for what to do`,
    );
  };

  /** Run one borg check or spot check; damage is a finding (recorded), any other failure is the run's error. */
  const runCheck = async (
    context: RunContext,
    kind: CheckKind,
    state: ApplicationState,
    archive: string | null,
    check: (onEvent: (event: BorgEvent) => void) => Promise<{ value: CheckResult; warnings: { message: string }[] }>,
  ) => {
    setState(state);
    const tracker = progressTracker(context, "primary", {});
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
    log.info(`${CHECK_NAMES[kind]}${archive ? ` of ${archive}` : ""}: ${result.healthy ? "no damage found" : "DAMAGE FOUND"}`);
    await recordCheck(context, { kind, archive, healthy: result.healthy, problems: result.problems.slice(0, 10) });
  };

  /** `borg check` of the whole repository; with `verifyData` every chunk is read and authenticated too. */
  const stepCheck = (context: RunContext, verifyData: boolean) =>
    runCheck(context, verifyData ? "verify_data" : "repository", verifyData ? "verifying_data" : "checking", null, onEvent =>
      borg(context, "primary").check({ verifyData }, callOptions(context, onEvent)),
    );

  /** After a backup: the new archive's metadata, every chunk it references present. */
  const stepVerifyArchive = (context: RunContext, archive: string) =>
    runCheck(context, "archive", "checking", archive, onEvent =>
      borg(context, "primary").check({ scope: "archives", archive }, callOptions(context, onEvent)),
    );

  /** After a backup: read the new archive back in full, writing nothing (`extract --dry-run`). */
  const stepSpotCheck = (context: RunContext, archive: string) =>
    runCheck(context, "spot", "spot_checking", archive, async onEvent => {
      const run = await borg(context, "primary").extract({ archive, target: config.stateDir, dryRun: true }, callOptions(context, onEvent));
      return { ...run, value: { healthy: true, problems: [] } };
    });

  /** The checks after a backup that the configuration asks for. */
  const afterBackupChecks = async (context: RunContext) => {
    const archive = context.archive?.name;
    if (!archive) return;
    if (config.checks.verifyAfterBackup) await stepVerifyArchive(context, archive);
    if (config.checks.spotCheckAfterBackup) await stepSpotCheck(context, archive);
  };

  const checkDue = (now = new Date()): "check" | "verify" | undefined => {
    const state = store.get();
    // a drone never checked counts from its first scheduled run, so that run is not doubled
    const since = state.checksSince;
    const older = (last: string | null, days: number) => {
      const from = last ?? since;
      return days > 0 && from !== null && dayjs(from).add(days, "day").valueOf() <= now.getTime();
    };
    if (older(state.lastVerifyData, config.checks.verifyDataFrequencyDays)) return "verify";
    if (older(state.lastCheck, config.checks.frequencyDays)) return "check";
    return undefined;
  };

  /** The end of a scheduled run: the check that is due, if any. */
  const stepDueCheck = async (context: RunContext) => {
    if (store.get().checksSince === null) await store.update(state => void (state.checksSince = toIso(new Date())));
    const due = checkDue();
    if (due) await stepCheck(context, due === "verify");
  };

  /** This drone's newest archive, for `latest`. */
  const newestArchive = async (context: RunContext): Promise<string> => {
    const run = await borg(context, "primary").list({ prefix: archivePrefix, last: 1 }, callOptions(context, () => undefined));
    const newest = run.value.archives.at(-1);
    if (!newest) throw new DroneError("no_archives", `${config.droneId} has no archives in ${config.repository} yet: nothing to restore`);
    return newest.name;
  };

  /** Extract an archive (or some of its paths) into the target folder, after the safety rules. */
  const stepRestore = async (context: RunContext) => {
    const current = settings();
    const request: RestoreRequest = context.job.restore ?? { archive: current.restoreArchive, target: current.restoreTarget };
    const archiveIssue = archiveProblem(request.archive, archivePrefix);
    if (archiveIssue) throw new DroneError("archive_not_ours", archiveIssue);
    const targetIssue = targetProblem(request.target);
    if (targetIssue) throw new DroneError("target_invalid", targetIssue);
    const target = canonicalTarget(request.target);
    const paths = archivePaths(request.paths ?? []);
    const found = await inspectTarget(target);
    if (found === "not_a_folder") throw new DroneError("target_invalid", `the restore target ${target} exists and is not a folder`);
    if (found === "not_empty" && !request.overwrite) {
      throw new DroneError(
        "target_not_empty",
        `the restore target ${target} is not empty; nothing was restored. Restore into a new or empty folder, or allow replacing the files of the same paths (backup-drone restore --overwrite)`,
      );
    }
    setState("restoring");
    const archive = request.archive === LATEST ? await newestArchive(context) : request.archive;
    if (found === "missing") await mkdir(target, { recursive: true, mode: 0o700 });
    context.restore = { archive, target, paths };
    log.info(`restoring ${archive}${paths.length > 0 ? ` (${paths.join(", ")})` : ""} into ${target}`);
    const tracker = progressTracker(context, "primary", {});
    try {
      const run = await borg(context, "primary").extract({ archive, target, paths }, callOptions(context, tracker.onEvent));
      tracker.finish(true);
      context.warnings.push(...run.warnings.map(warning => warning.message));
    } catch (error) {
      tracker.finish(false);
      throw error;
    }
  };

  /**
   * A hook's environment: the drone's without its secrets (see libs/borg/environment.mts) and
   * without the variables that set its passphrase or token, except those HOOK_ENV_PASSTHROUGH
   * names; then what the hook is told about the run.
   */
  const hookEnv = (context: RunContext, stage: HookStage, error?: string): Record<string, string> => {
    const env = inheritedEnv(process.env, { drop: secretConfigVariables(), keep: config.hooks.envPassthrough });
    Object.assign(env, {
      BACKUP_DRONE_ID: config.droneId,
      BACKUP_STAGE: stage,
      BACKUP_OPERATION: context.job.operation,
      BACKUP_RUN_ID: context.job.runId,
    });
    if (error !== undefined) env.BACKUP_ERROR = error;
    return env;
  };

  const stepHook = async (context: RunContext, stage: HookStage, error?: string) => {
    const hook = stage === "before" ? config.hooks.before : stage === "after" ? config.hooks.after : config.hooks.onError;
    if (!hook) return;
    const previous = live.state;
    setState("running_hooks");
    // the on_error hook runs after the run's abort (it reports it): only a shutdown stops it
    const signal = stage === "on_error" ? stopped.signal : context.signal;
    const outcome = await runHook(stage, hook, config.hooks.timeoutSeconds, hookEnv(context, stage, error), signal);
    setState(previous);
    for (const line of outcome.output) log.debug(`${stage} hook: ${line}`);
    if (outcome.ok) {
      log.info(outcome.summary);
      return;
    }
    // whatever the policy: the run was interrupted, nothing after the hook may start
    if (outcome.interrupted) throw new DroneError("interrupted", outcome.summary);
    if (hook.policy === "ignore") log.info(`${outcome.summary} (ignored by policy)`);
    else if (hook.policy === "continue") {
      log.warn(outcome.summary);
      context.warnings.push(outcome.summary);
    } else throw new DroneError("hook_failed", `${outcome.summary}; the run stopped (policy break)`);
  };

  const OPERATION_STEPS: Record<Operation, (context: RunContext) => Promise<void>> = {
    create: async context => {
      await stepCreate(context, "primary");
      await afterBackupChecks(context);
    },
    prune: async context => {
      await stepPrune(context, "primary");
      await stepCompact(context, "primary");
      await stepStats(context, "primary");
    },
    compact: context => stepCompact(context, "primary"),
    stats: context => stepStats(context, "primary"),
    check: context => stepCheck(context, false),
    verify: context => stepCheck(context, true),
    restore: context => stepRestore(context),
    scheduled: async context => {
      await stepHook(context, "before");
      await stepCreate(context, "primary");
      await afterBackupChecks(context);
      await stepPrune(context, "primary");
      await stepCompact(context, "primary");
      await stepStats(context, "primary");
      await stepDueCheck(context);
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

  /**
   * The kind, message and outcome of a failed run. A run timeout says what it interrupted:
   * a checkpoint is claimed only when borg create committed one during the run.
   */
  const describeError = (error: unknown, timedOut: boolean): { kind: string; message: string; outcome: Outcome } => {
    const interrupted = (error instanceof BorgError || error instanceof DroneError) && error.kind === "interrupted";
    if (timedOut) {
      const minutes = config.runTimeoutMinutes;
      const checkpoint = error instanceof BorgError && error.context.command === "create" && error.context.checkpoint === true;
      const detail = checkpoint
        ? "; borg kept a checkpoint, and the next run reuses what it uploaded until then"
        : interrupted
          ? ` — ${error.message}`
          : "";
      return {
        kind: "run_timeout",
        message: `the run took longer than ${minutes} minute${minutes === 1 ? "" : "s"} and was interrupted${detail}`,
        outcome: "interrupted",
      };
    }
    if (error instanceof BorgError || error instanceof DroneError) {
      return { kind: error.kind, message: error.message, outcome: interrupted ? "interrupted" : "failed" };
    }
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
    notes?: string[];
    archive?: ResultEvent["archive"];
    pruned?: string[];
    checks?: CheckSummary[];
    restore?: RestoreSummary | null;
  }): ResultEvent =>
    // cut to the protocol's limits: Home Assistant's recorder keeps no event over 32 KiB
    boundResultEvent({
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
      notes: run.notes ?? [],
      started_at: toIso(run.started),
      finished_at: toIso(run.finished),
      duration_seconds: Math.max(0, (run.finished.getTime() - run.started.getTime()) / 1000),
      archive: run.archive ?? null,
      pruned: run.pruned ?? [],
      checks: run.checks ?? [],
      restore: run.restore ?? null,
    });

  const execute = async (job: Job, controller: AbortController): Promise<ResultEvent> => {
    const started = new Date();
    const timeout = setTimeout(() => controller.abort(new DroneError("run_timeout", "run timeout")), config.runTimeoutMinutes * 60_000);
    timeout.unref();
    const context: RunContext = {
      job,
      started,
      signal: controller.signal,
      warnings: [],
      notes: [],
      archive: null,
      pruned: [],
      checks: [],
      restore: null,
      held: null,
      lockRecovery: new Map(),
    };
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
      const identity = processIdentity();
      await store.update(state => {
        state.running = {
          runId: job.runId,
          operation: job.operation,
          startedAt: toIso(started),
          pid: process.pid,
          identity,
          borgPid: null,
          borgIdentity: null,
          checkpointAt: null,
        };
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
    // the result event lists the first warnings only: the log keeps the others
    if (context.warnings.length > EVENT_LIMITS.warnings) {
      for (const warning of context.warnings.slice(EVENT_LIMITS.warnings - 1)) log.warn(`warning: ${warning}`);
    }
    const held = !failure && context.held !== null ? { kind: "prune_held", message: context.held } : undefined;
    const outcome: Outcome = failure ? failure.outcome : held ? "held" : context.warnings.length > 0 ? "warning" : "success";
    const result = resultEvent({
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
    });
    // refused because another process holds the run lock: that process's state is not ours to change
    if (!("heldBy" in lock)) {
      await store.update(state => {
        if (state.running?.runId === job.runId) state.running = null;
        state.lastResult = outcome;
        state.lastError = (failure ?? held)?.message ?? null;
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

  const request = (operation: Operation, trigger: Trigger, options: RequestOptions = {}): RequestAnswer => {
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
    const job: Job = { operation, trigger, runId: randomUUID(), restore: options.restore, resolve, reject };
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
    const archiveIssue = parsed.data.restoreArchive === undefined ? undefined : archiveProblem(next.restoreArchive, archivePrefix);
    if (archiveIssue) throw new Error(`restoreArchive: ${archiveIssue}`);
    // empty is allowed: it unsets the target
    const targetIssue = parsed.data.restoreTarget ? targetProblem(next.restoreTarget) : undefined;
    if (targetIssue) throw new Error(`restoreTarget: ${targetIssue}`);
    if (parsed.data.restoreTarget) parsed.data.restoreTarget = canonicalTarget(parsed.data.restoreTarget);
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

  const archives = async (): Promise<ArchiveListEntry[]> => {
    const run = await client("primary").list({ prefix: archivePrefix });
    const newestFirst = [...run.value.archives].reverse();
    await rememberArchives(newestFirst.map(archive => archive.name));
    return newestFirst;
  };

  const find = async (query: FindQuery): Promise<FoundVersion[]> => {
    const pattern = borgPattern(query.pattern);
    const candidates = (await archives()).filter(archive => query.olderThan === undefined || archive.start < query.olderThan);
    return await findVersions({
      archives: candidates,
      list: async archive => (await client("primary").listItems(archive, [pattern])).value,
      versions: query.versions,
    });
  };

  const recover = async (): Promise<ResultEvent | undefined> => {
    const running = store.get().running;
    // a pid alone proves nothing (after a reboot it may be anyone's): the recorded process must still be the same one
    if (!running || (running.pid !== process.pid && runOwnerAlive(running))) return undefined;
    const orphan = () => runBorgAlive(running, config.borgBinary);
    if (orphan()) {
      // a borg orphaned by the crash still holds the repository: let it checkpoint and stop
      log.warn(`stopping borg (pid ${running.borgPid}) left running by the previous drone process`);
      const signal = (name: NodeJS.Signals) => {
        try {
          if (running.borgPid !== null) process.kill(running.borgPid, name);
        } catch {
          // already gone
        }
      };
      signal("SIGINT");
      for (let waited = 0; waited < 100 && orphan(); waited++) await new Promise(r => setTimeout(r, 100));
      if (orphan()) signal("SIGTERM");
      for (let waited = 0; waited < 50 && orphan(); waited++) await new Promise(r => setTimeout(r, 100));
    } else if (running.borgPid !== null && isRunning(running.borgPid)) {
      log.info(`pid ${running.borgPid} of the interrupted run's borg now belongs to another process; leaving it alone`);
    }
    // claimed only when the run saw borg commit one: a borg that died with the drone wrote none
    const message =
      `the drone stopped during ${running.operation} (the process ended unexpectedly)` +
      (running.checkpointAt !== null
        ? `; borg committed a checkpoint at ${dayjs(running.checkpointAt).format("YYYY-MM-DD HH:mm:ss")}, and the next backup reuses what it uploaded until then`
        : "; run it again");
    const result = resultEvent({
      runId: running.runId,
      operation: running.operation,
      trigger: "startup",
      outcome: "interrupted",
      failure: { kind: "crashed", message },
      started: new Date(running.startedAt),
      finished: new Date(),
    });
    // the run's borg is gone, so a lock still held for it on the repository host (its borg
    // serve, orphaned) can only be this run's: remembered for the next lock timeout there.
    // Not when no borg was recorded (it may never have started) or one still runs here.
    const lockLeft: OrphanedLock | undefined =
      running.borgPid !== null && !orphan()
        ? {
            repository: repositoryOfOperation(running.operation),
            runId: running.runId,
            operation: running.operation,
            foundDeadAt: toIso(new Date()),
          }
        : undefined;
    let claimed = false;
    await store.update(state => {
      // another process may have reported it meanwhile, or started a run of its own
      if (state.running?.runId !== running.runId) return;
      claimed = true;
      state.running = null;
      state.lastResult = "interrupted";
      state.lastError = message;
      if (lockLeft) state.orphanedLocks = [...state.orphanedLocks.filter(lock => lock.repository !== lockLeft.repository), lockLeft];
    });
    if (!claimed) return undefined;
    log.warn(message);
    for (const listener of resultListeners) listener(result);
    notify();
    return result;
  };

  const releasePruneHold = async (by: Trigger): Promise<boolean> => {
    const hold = store.get().pruneHold;
    if (!hold) return false;
    await store.update(state => void (state.pruneHold = null));
    log.info(`prune hold released (${by}); it was held since ${hold.since}: ${hold.reasons.join("; ")}`);
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
    run: async (operation, trigger, options) => {
      const answer = request(operation, trigger, options);
      if (!answer.accepted) throw new DroneError("refused", answer.reason);
      return answer.done;
    },
    due,
    archives,
    find,
    checkDue,
    onProgress: listener => subscribe(progressListeners, listener),
    onResult: listener => subscribe(resultListeners, listener),
    onChange: listener => subscribe(changeListeners, listener),
    recover,
    releasePruneHold,
    shutdown,
  };
}
