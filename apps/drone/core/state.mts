/**
 * The drone's persisted state: settings changed at run time (from HA or the CLI), when each
 * operation last succeeded, repository totals, and a marker of the run in progress (to
 * notice a crash). One JSON file, validated on load, written atomically, shared by the
 * daemon and every command: each change is applied to the file's current content under a
 * lock, so no process can erase what another wrote.
 */
import { type BigIntStats, closeSync, fstatSync, openSync, readFileSync, statSync } from "node:fs";
import { mkdir, rename, unlink, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

import { z } from "zod";

import { type Operation, OUTCOMES, OPERATIONS, pruneHoldSchema } from "../../../libs/protocol/index.mjs";
import { SOURCE_STATES } from "./guard.mjs";
import { breakLock, type LockHolder, ownerAlive, tryLock } from "./lock-file.mjs";
import { orphanedLockSchema } from "./orphaned-lock.mjs";
import { processIdentitySchema } from "./process-identity.mjs";
import { settingsSchema } from "./settings.mjs";

const iso = z.iso.datetime({ offset: true }).nullable();
const totals = z
  .object({ totalSize: z.number(), compressedSize: z.number(), deduplicatedSize: z.number() })
  .nullable();
const archiveFacts = z
  .object({
    name: z.string(),
    originalSize: z.number(),
    nfiles: z.number(),
    durationSeconds: z.number(),
    /** Optional: files written by older versions lack them. */
    compressedSize: z.number().optional(),
    deduplicatedSize: z.number().optional(),
  })
  .nullable();

/** Backups of one kind that failed in a row: how many, and when the last one ended. */
const failedRuns = z.object({ attempts: z.number().int().min(1), at: z.iso.datetime({ offset: true }) }).nullable();

/** The state file's schema. */
export const persistedStateSchema = z.object({
  version: z.literal(1),
  /** Settings changed at run time; they win over the configuration file. */
  settings: settingsSchema.partial(),
  lastBackup: iso,
  lastPrune: iso,
  /** When the last full check (check or verify) ended, healthy or not. */
  lastCheck: iso,
  /** Healthy or not: `failed` after any check that found damage, `success` after a full check that found none. */
  lastCheckResult: z.enum(["success", "failed"]).nullable().default(null),
  /** Since when the check schedule counts for a drone never checked: its first scheduled run. */
  checksSince: iso.default(null),
  /** When the last `--verify-data` check ended, healthy or not. */
  lastVerifyData: iso.default(null),
  /** This drone's newest archive names, newest first (the Restore Archive options). */
  recentArchives: z.array(z.string()).default([]),
  lastOffsiteBackup: iso,
  lastResult: z.enum(OUTCOMES).nullable(),
  lastError: z.string().nullable(),
  lastDurationSeconds: z.number().nullable(),
  archiveCount: z.number().int().nullable(),
  totals,
  offsiteTotals: totals,
  lastArchive: archiveFacts,
  lastOffsiteArchive: archiveFacts,
  /**
   * The primary repository this drone's `init` created, until the first archive in it: no
   * archive of this drone can be there, so its first backup does not start borg to look for one
   * (the prune guard's previous archive, apps/drone/core/actions/create.mts).
   */
  createdRepository: z.object({ location: z.string(), at: z.iso.datetime({ offset: true }) }).nullable().default(null),
  /** Set when the prune guard held prune; prune stays held (for both repositories) until a person releases it. */
  pruneHold: pruneHoldSchema.nullable().default(null),
  /** What each source looked like at the last backup: the guard notices a source that had files and now has none. */
  lastSources: z
    .array(z.object({ path: z.string(), state: z.enum(SOURCE_STATES) }))
    .nullable()
    .default(null),
  /**
   * Repository locks a dead run of this drone may have left (one per repository at most): the
   * drone breaks one only with proof (apps/drone/core/orphaned-lock.mts). Cleared when a run
   * gets that repository's lock, or when the lock is broken.
   */
  orphanedLocks: z.array(orphanedLockSchema).default([]),
  /**
   * When a backup of each kind was last cancelled, if none of that kind has succeeded since:
   * the drone's own schedule waits for the next regular time instead of starting it again.
   */
  cancelledAt: z.object({ primary: iso, offsite: iso }).default(() => ({ primary: null, offsite: null })),
  /**
   * The dumps this drone's archives hold, per repository: those of the newest archive, and those
   * an earlier archive held that are still in DUMPS but failed since (policy continue). An
   * archive that lacks one holds prune: pruned against, archives without a dump would age out
   * every archive that has it.
   */
  dumpsHeld: z.object({ primary: z.array(z.string()), offsite: z.array(z.string()) }).default(() => ({ primary: [], offsite: [] })),
  /**
   * Backups of each kind that failed in a row since the last one that succeeded (null: none):
   * the drone's own schedule tries again after a growing wait instead of every minute.
   */
  failedBackups: z
    .object({ primary: failedRuns, offsite: failedRuns })
    .default(() => ({ primary: null, offsite: null })),
  /** Set while an operation runs; still set at start-up means the last process died mid-run. */
  running: z
    .object({
      runId: z.string(),
      operation: z.enum(OPERATIONS),
      startedAt: z.iso.datetime({ offset: true }),
      pid: z.number(),
      /** Which process `pid` was (null in files of older drones, or without /proc). */
      identity: processIdentitySchema.nullable().default(null),
      /** The borg process of the run, to stop an orphan left behind by a crash. */
      borgPid: z.number().nullable(),
      /** Which process `borgPid` was. */
      borgIdentity: processIdentitySchema.nullable().default(null),
      /** The subcommand of the run's borg (`create`, `compact`, …; null: none started yet, or an older drone's file). */
      borgCommand: z.string().nullable().default(null),
      /** When borg create last committed a checkpoint archive in this run (null: none, or an older drone's file). */
      checkpointAt: z.iso.datetime({ offset: true }).nullable().default(null),
    })
    .nullable(),
});
/** What the state file holds. */
export type PersistedState = z.infer<typeof persistedStateSchema>;
/** The marker of the run in progress. */
export type RunningMarker = NonNullable<PersistedState["running"]>;

/** Which backup a cancel of `operation` puts off (the schedule's primary or offsite run); null for other operations. */
export function cancelledKind(operation: Operation): keyof PersistedState["cancelledAt"] | null {
  if (operation === "offsite") return "offsite";
  return operation === "create" || operation === "scheduled" ? "primary" : null;
}

/** Note that backups among `operations` were cancelled at `at` (the own schedule then waits for their next regular time). */
export async function noteCancelled(store: StateStore, operations: readonly Operation[], at: Date): Promise<void> {
  const kinds = operations.map(cancelledKind).filter(kind => kind !== null);
  if (kinds.length === 0) return;
  await store.update(state => {
    for (const kind of kinds) state.cancelledAt[kind] = at.toISOString();
  });
}

/** A fresh state. */
export function emptyState(): PersistedState {
  return {
    version: 1,
    settings: {},
    lastBackup: null,
    lastPrune: null,
    lastCheck: null,
    lastCheckResult: null,
    checksSince: null,
    lastVerifyData: null,
    recentArchives: [],
    lastOffsiteBackup: null,
    lastResult: null,
    lastError: null,
    lastDurationSeconds: null,
    archiveCount: null,
    totals: null,
    offsiteTotals: null,
    lastArchive: null,
    lastOffsiteArchive: null,
    createdRepository: null,
    pruneHold: null,
    lastSources: null,
    orphanedLocks: [],
    cancelledAt: { primary: null, offsite: null },
    dumpsHeld: { primary: [], offsite: [] },
    failedBackups: { primary: null, offsite: null },
    running: null,
  };
}

/** The state file, shared by every process of one drone (the daemon and the commands). */
export interface StateStore {
  readonly path: string;
  /** The state as the file holds it now: re-read when another process has changed the file. */
  get(): PersistedState;
  /**
   * Apply a change to the file's current content under the state lock and save it, so that
   * no process's change overwrites another's. A change that changes nothing writes nothing.
   */
  update(change: (state: PersistedState) => void): Promise<void>;
}

/** A state lock older than this is abandoned (its holder hangs): a change takes milliseconds. */
const STATE_LOCK_ABANDONED_MS = 30_000;
/** A lock file that names no owner is a write that died half-way once it is this old. */
const DAMAGED_LOCK_MS = 5_000;

/** The state file as read, with the signature of the exact file read. */
type Loaded =
  | { kind: "missing" }
  | { kind: "valid"; state: PersistedState; signature: string }
  | { kind: "invalid"; signature: string; salvaged: PersistedState };

/**
 * What can be kept of a damaged state file: each field that still validates on its own. A
 * prune hold that cannot be read is not dropped: prune stays held (a damaged file must never
 * let the next run prune what a person was asked to look at first).
 */
export function salvageState(json: unknown, now = new Date()): PersistedState {
  const state = emptyState();
  const record = typeof json === "object" && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>) : {};
  const shape = persistedStateSchema.shape;
  const target = state as Record<string, unknown>;
  for (const key of Object.keys(shape) as (keyof typeof shape)[]) {
    if (!(key in record)) continue;
    const parsed = shape[key].safeParse(record[key]);
    if (parsed.success) target[key] = parsed.data;
  }
  const holdReadable = !("pruneHold" in record) || record.pruneHold === null || shape.pruneHold.safeParse(record.pruneHold).success;
  if (!holdReadable || typeof json !== "object" || json === null) {
    state.pruneHold = {
      since: now.toISOString(),
      archive: null,
      reasons: ["the state file was damaged, so whether prune was held could not be read; check the newest archive before releasing"],
    };
  }
  return state;
}

/** Which file content a stat describes: every save is a new file (rename), so this changes with it. */
const signatureOf = (info: BigIntStats) => `${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;

const notFound = (error: unknown) => (error as NodeJS.ErrnoException).code === "ENOENT";

/** The signature of the file now, or undefined when there is none. */
function currentSignature(path: string): string | undefined {
  try {
    return signatureOf(statSync(path, { bigint: true }));
  } catch (error) {
    if (notFound(error)) return undefined;
    throw error;
  }
}

/** Read and validate the state file. */
function loadFile(path: string): Loaded {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    if (notFound(error)) return { kind: "missing" };
    throw error;
  }
  try {
    const signature = signatureOf(fstatSync(fd, { bigint: true }));
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(fd, "utf8"));
    } catch {
      json = undefined;
    }
    const parsed = persistedStateSchema.safeParse(json);
    return parsed.success ? { kind: "valid", state: parsed.data, signature } : { kind: "invalid", signature, salvaged: salvageState(json) };
  } finally {
    closeSync(fd);
  }
}

/**
 * Run `body` holding the state lock (`<file>.lock`). A lock whose owner is gone or is another
 * process now, or one held far longer than any change takes, is broken.
 */
async function withStateLock<T>(lockPath: string, warn: (message: string) => void, body: () => Promise<T>): Promise<T> {
  let pause = 2;
  for (;;) {
    const taken = await tryLock(lockPath);
    if ("release" in taken) {
      try {
        return await body();
      } finally {
        await taken.release();
      }
    }
    const { holder } = taken;
    const age = Date.now() - holder.writtenAtMs;
    if (isStaleStateLock(holder, age)) {
      await breakLock(lockPath, holder);
      continue;
    }
    if (age > STATE_LOCK_ABANDONED_MS) {
      warn(`the state lock ${lockPath} has been held for ${Math.round(age / 1000)} s by pid ${holder.owner?.pid ?? "?"}; taking it over`);
      await breakLock(lockPath, holder);
      continue;
    }
    await sleep(pause);
    pause = Math.min(50, pause * 2);
  }
}

const isStaleStateLock = (holder: LockHolder, age: number) => (holder.owner ? !ownerAlive(holder) : age > DAMAGED_LOCK_MS);

/**
 * Open the state file (a missing file is a fresh state). A file that fails validation is kept
 * aside as `<file>.invalid` and replaced, so a damaged file never stops backups. Every
 * process of the drone shares the file: a change re-reads it under a lock and writes it
 * atomically (temporary file, rename; mode 0600).
 */
export async function openStateStore(path: string, warn: (message: string) => void): Promise<StateStore> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const lockPath = `${path}.lock`;
  let state = emptyState();
  /** The signature of the file `state` was read from or written as (undefined: no file). */
  let seen: string | undefined;
  let warnedAbout: string | undefined;

  const adopt = (loaded: Loaded) => {
    if (loaded.kind === "valid") {
      state = loaded.state;
      seen = loaded.signature;
    } else if (loaded.kind === "missing") {
      state = emptyState();
      seen = undefined;
    } else {
      // not ours to move without the lock: the next change sets it aside
      if (warnedAbout !== loaded.signature) warn(`state file ${path} is not valid; it is set aside at the next change`);
      warnedAbout = loaded.signature;
      seen = loaded.signature;
    }
  };

  const setAside = async (message: string) => {
    await rename(path, `${path}.invalid`);
    warn(message);
  };

  const initial = loadFile(path);
  if (initial.kind === "invalid") {
    await withStateLock(lockPath, warn, async () => {
      const again = loadFile(path);
      if (again.kind === "invalid") {
        await setAside(`state file ${path} is not valid; kept as ${path}.invalid, and what could be read of it kept`);
        const salvaged = again.salvaged;
        const temp = `${path}.${process.pid}.tmp`;
        await writeFile(temp, `${JSON.stringify(salvaged, null, 2)}\n`, { mode: 0o600 });
        await rename(temp, path);
        state = salvaged;
        seen = currentSignature(path);
      } else adopt(again);
    });
  } else adopt(initial);

  const apply = async (change: (state: PersistedState) => void) => {
    // a writer that held the lock past STATE_LOCK_ABANDONED_MS (a stalled disk) may still
    // rename its file in under ours: write only over the content the change was applied to
    for (let attempt = 1; ; attempt++) {
      if ((await applyOnce(change)) || attempt >= 5) return;
    }
  };

  /** Apply one change to the file as it is now; false when the file changed before the write could land. */
  const applyOnce = async (change: (state: PersistedState) => void): Promise<boolean> => {
    const loaded = loadFile(path);
    let base: PersistedState;
    let replace = false;
    if (loaded.kind === "valid") base = loaded.state;
    else if (loaded.kind === "missing") base = emptyState();
    else {
      await setAside(`state file ${path} is not valid; kept as ${path}.invalid and replaced by the last state this process read`);
      base = structuredClone(state);
      replace = true;
    }
    const before = JSON.stringify(base);
    change(base);
    if (replace || JSON.stringify(base) !== before) {
      // never write what the next load would refuse
      const checked = persistedStateSchema.parse(base);
      const temp = `${path}.${process.pid}.tmp`;
      await unlink(temp).catch(() => undefined);
      await writeFile(temp, `${JSON.stringify(checked, null, 2)}\n`, { mode: 0o600 });
      const expected = loaded.kind === "valid" ? loaded.signature : loaded.kind === "missing" ? undefined : currentSignature(path);
      if (currentSignature(path) !== expected) {
        await unlink(temp).catch(() => undefined);
        return false;
      }
      await rename(temp, path);
      state = checked;
      seen = currentSignature(path);
    } else {
      state = base;
      seen = loaded.kind === "valid" ? loaded.signature : undefined;
    }
    return true;
  };

  let queue: Promise<void> = Promise.resolve();
  return {
    path,
    get: () => {
      try {
        if (currentSignature(path) !== seen) adopt(loadFile(path));
      } catch {
        // unreadable for now: keep what was read last; the next change reports the error
      }
      return state;
    },
    update: change => {
      const run = queue.then(() => withStateLock(lockPath, warn, () => apply(change)));
      queue = run.catch(() => undefined);
      return run;
    },
  };
}
