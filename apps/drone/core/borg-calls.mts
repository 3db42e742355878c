/**
 * How a run calls borg: the options of each call (the run's abort, the inactivity timeout,
 * borg's pid recorded for crash recovery, borg's notes kept, its stray lines logged), and a
 * client that recovers once from a lock this drone's own dead run left on the repository.
 */
import {
  type BorgClient,
  BorgError,
  type BorgErrorKind,
  type BorgEvent,
  breakLockLine,
  isRemote,
  noteOf,
} from "../../../libs/borg/index.mjs";
import { errorText } from "../../../libs/config/index.mjs";
import { type Operation } from "../../../libs/protocol/index.mjs";
import { type DroneConfig } from "../config.mjs";
import { DroneError } from "./errors.mjs";
import {
  brokenLockLine,
  brokenLockNote,
  judgeOrphanedLock,
  serverMayStillWork,
  type LockVerdict,
  type OrphanedLock,
  refusedLockMessage,
} from "./orphaned-lock.mjs";
import { commandMatches, fingerprint, observeProcess, type ProcessIdentity, processIdentity } from "./process-identity.mjs";
import { repositoryOf, type RepositoryRole } from "./repositories.mjs";
import { type CallOptions, type DroneLog } from "./run-context.mjs";
import { type StateStore } from "./state.mjs";

/** What the call options of a run need. */
export interface CallSite {
  store: StateStore;
  log: DroneLog;
  runId: string;
  signal: AbortSignal;
  /** The run's notes: borg's notes are added, once each. */
  notes: string[];
  inactivityTimeoutMs: number;
  /** Called once borg has been started (each time, if a call starts borg again). */
  onSpawn?: () => void;
}

/** The options of one borg call of a run. */
export function borgCallOptions(site: CallSite, onEvent: (event: BorgEvent) => void = () => undefined): CallOptions {
  const { store, log } = site;
  const recordBorg = (pid: number, borgIdentity: ProcessIdentity | null, command?: string) =>
    void store
      .update(state => {
        if (state.running?.runId !== site.runId) return;
        state.running.borgPid = pid;
        state.running.borgIdentity = borgIdentity;
        if (command !== undefined) state.running.borgCommand = command;
      })
      // the run goes on without the record: only crash recovery would miss it
      .catch((error: unknown) => log.warn(`recording borg's process in the state file failed: ${errorText(error)}`));
  let spawned: { pid: number; identity: ProcessIdentity | null } | undefined;
  // a traceback's lines are for whoever debugs; the error says what crashed in one line
  let inTraceback = false;
  return {
    signal: site.signal,
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
      if (note !== undefined && !site.notes.includes(note)) site.notes.push(note);
      onEvent(event);
    },
    inactivityTimeoutMs: site.inactivityTimeoutMs,
    onSpawn: (pid: number, command: string) => {
      // read now, while the pid is surely borg's: recovery signals it only while it still is
      spawned = { pid, identity: processIdentity(pid) };
      recordBorg(pid, spawned.identity, command);
      site.onSpawn?.();
    },
  };
}

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

/**
 * borg failures that end the run's borg while the repository host may not know it: a lost
 * connection (ssh gave up on a silent link) or a borg the drone stopped for making no progress.
 * The host's `borg serve` of that run may live on with the lock, like a crashed run's.
 */
const LOST_CLIENT: ReadonlySet<BorgErrorKind> = new Set(["connection_lost", "timeout"]);

/** Remember that this run's borg is gone while the repository may still be locked for it. */
async function rememberLostClient(site: LockSite, role: RepositoryRole, command: string): Promise<void> {
  if (!isRemote(repositoryOf(site.config, role).location)) return;
  const record: OrphanedLock = {
    repository: role,
    runId: site.runId,
    operation: site.operation,
    foundDeadAt: new Date().toISOString(),
    cause: "connection_lost",
    borgCommand: command,
  };
  await site.store.update(state => void (state.orphanedLocks = [...state.orphanedLocks.filter(lock => lock.repository !== role), record]));
}

/** Forget a repository's orphaned lock: a run got its lock, or the lock was broken. */
export async function forgetOrphanedLock(store: StateStore, role: RepositoryRole): Promise<void> {
  if (!store.get().orphanedLocks.some(lock => lock.repository === role)) return;
  await store.update(state => void (state.orphanedLocks = state.orphanedLocks.filter(lock => lock.repository !== role)));
}

/**
 * A lock timeout on the repository itself. One on borg's cache on this machine (a folder
 * named by the repository id) is not the repository's lock: breaking that would not help.
 */
const repositoryLockTimeout = (error: unknown): error is BorgError =>
  error instanceof BorgError &&
  error.kind === "lock_timeout" &&
  !(error.context.details ?? []).some(line => /\/[0-9a-f]{64}\/lock\.exclusive\b/.test(line));

/**
 * What became of a run's one attempt per repository to recover from a lock timeout: the lock
 * was broken, there was nothing to break, or the refusal (which later timeouts repeat).
 */
export type LockRecovery = Map<RepositoryRole, "broken" | "no_record" | DroneError>;

/** What lock recovery needs of a run. */
export interface LockSite {
  config: DroneConfig;
  runId: string;
  operation: Operation;
  store: StateStore;
  log: DroneLog;
  archivePrefix: string;
  signal: AbortSignal;
  notes: string[];
  /** The role's plain client. */
  client: BorgClient;
  recovery: LockRecovery;
}

/** Whether every archive in the repository is this drone's (listed without taking the lock). */
async function judgeArchives(site: LockSite): Promise<LockVerdict> {
  try {
    const listed = await site.client.list({ bypassLock: true, considerCheckpoints: true }, { signal: site.signal });
    return judgeOrphanedLock(
      listed.value.archives.map(archive => archive.name),
      site.archivePrefix,
    );
  } catch (error) {
    if (site.signal.aborted) throw error;
    return { proven: false, reason: `its archives could not be listed (${errorText(error)})`, foreign: [] };
  }
}

/**
 * After a lock timeout on a repository the drone's dead run used: break the lock when it is
 * proven to be that run's (see orphaned-lock.mts for why only then), or fail saying why not
 * and what to paste. Without such a record the timeout stands as it is.
 */
async function breakOrphanedLock(site: LockSite, role: RepositoryRole, timeout: BorgError): Promise<"broken" | "no_record"> {
  const record: OrphanedLock | undefined = site.store.get().orphanedLocks.find(lock => lock.repository === role);
  if (!record) return "no_record";
  const repository = repositoryOf(site.config, role);
  const verdict: LockVerdict = serverMayStillWork(record) ?? (await judgeArchives(site));
  if (!verdict.proven) {
    throw new DroneError("lock_timeout", refusedLockMessage(record, repository.location, verdict.reason, breakLockLine(repository)));
  }
  await site.client.breakLock({ signal: site.signal });
  await forgetOrphanedLock(site.store, role);
  site.log.warn(brokenLockLine(record, repository.location, timeout.context.command));
  site.notes.push(brokenLockNote(record, repository.location));
  return "broken";
}

/**
 * A role's client for the steps of a run: a lock timeout may end in breaking an orphaned
 * lock and running the command once more; a writer that succeeds, or fails only after
 * borg opened the repository, got the exclusive lock, which clears the repository's
 * orphaned-lock record (a later lock is not the dead run's).
 */
export function lockRecoveringClient(site: LockSite, role: RepositoryRole): BorgClient {
  const raw = site.client;
  // only a command that took the exclusive lock proves no orphan holds any lock: a reader
  // (list, info, extract) shares the lock with an orphaned reader's serve and proves nothing
  const guarded =
    <A extends unknown[], T>(call: (...args: A) => Promise<T>, lock: "exclusive" | "shared") =>
    async (...args: A): Promise<T> => {
      const gotLock = () => (lock === "exclusive" ? forgetOrphanedLock(site.store, role) : Promise.resolve());
      let result: T;
      try {
        result = await call(...args);
      } catch (error) {
        if (error instanceof BorgError && OPENED_REPOSITORY.has(error.kind)) await gotLock();
        if (error instanceof BorgError && LOST_CLIENT.has(error.kind)) await rememberLostClient(site, role, error.context.command);
        if (!repositoryLockTimeout(error)) throw error;
        const tried = site.recovery.get(role);
        // once per run: a timeout after the lock was broken is someone else's lock
        if (tried instanceof DroneError) throw tried;
        if (tried !== undefined) throw error;
        let recovery: "broken" | "no_record";
        try {
          recovery = await breakOrphanedLock(site, role, error);
        } catch (refusal) {
          if (refusal instanceof DroneError) site.recovery.set(role, refusal);
          throw refusal;
        }
        site.recovery.set(role, recovery);
        if (recovery === "no_record") throw error;
        result = await call(...args);
      }
      await gotLock();
      return result;
    };
  return {
    ...raw,
    create: guarded(raw.create.bind(raw), "exclusive"),
    list: guarded(raw.list.bind(raw), "shared"),
    listItems: guarded(raw.listItems.bind(raw), "shared"),
    info: guarded(raw.info.bind(raw), "shared"),
    prune: guarded(raw.prune.bind(raw), "exclusive"),
    compact: guarded(raw.compact.bind(raw), "exclusive"),
    check: guarded(raw.check.bind(raw), "exclusive"),
    deleteArchive: guarded(raw.deleteArchive.bind(raw), "exclusive"),
    extract: guarded(raw.extract.bind(raw), "shared"),
    extractStdout: guarded(raw.extractStdout.bind(raw), "shared"),
  };
}
