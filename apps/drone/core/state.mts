/**
 * The drone's persisted state: settings changed at run time (from HA or the CLI), when each
 * operation last succeeded, repository totals, and a marker of the run in progress (to
 * notice a crash). One JSON file, validated on load, written atomically.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

import { z } from "zod";

import { MODES, OUTCOMES, OPERATIONS } from "../../../libs/protocol/index.mjs";
import { processIdentitySchema } from "./process-identity.mjs";

const iso = z.iso.datetime({ offset: true }).nullable();
const totals = z
  .object({ totalSize: z.number(), compressedSize: z.number(), deduplicatedSize: z.number() })
  .nullable();
const archiveFacts = z
  .object({ name: z.string(), originalSize: z.number(), nfiles: z.number(), durationSeconds: z.number() })
  .nullable();

/** Settings a person can change while the drone runs. */
export const settingsSchema = z.object({
  mode: z.enum(MODES),
  frequencyMinutes: z.number().int().min(5).max(525_600),
  offsiteFrequencyMinutes: z.number().int().min(5).max(525_600),
  priority: z.number().int().min(-100).max(100),
  keepDaily: z.number().int().min(0).max(10_000),
  keepWeekly: z.number().int().min(0).max(10_000),
  keepMonthly: z.number().int().min(0).max(10_000),
  keepYearly: z.number().int().min(0).max(10_000),
  /** Empty string: rule off. */
  keepWithin: z.string(),
  /** What the Restore button restores: `latest`, or an archive name of this drone. */
  restoreArchive: z.string().min(1).max(255),
  /** Where the Restore button restores to: an absolute folder; empty until someone sets it. */
  restoreTarget: z.string().max(255),
});
/** Run-time settings. */
export type Settings = z.infer<typeof settingsSchema>;

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
    })
    .nullable(),
});
/** What the state file holds. */
export type PersistedState = z.infer<typeof persistedStateSchema>;
/** The marker of the run in progress. */
export type RunningMarker = NonNullable<PersistedState["running"]>;

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
    running: null,
  };
}

/** The state file, in memory, saved after every change. */
export interface StateStore {
  readonly path: string;
  get(): PersistedState;
  /** Apply a change and save it. */
  update(change: (state: PersistedState) => void): Promise<void>;
}

/**
 * Load the state file (a missing file is a fresh state). A file that fails validation is
 * kept aside as `<file>.invalid` and replaced, so a damaged file never stops backups.
 */
export async function openStateStore(path: string, warn: (message: string) => void): Promise<StateStore> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  let state = emptyState();
  const text = await readFile(path, "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined;
    throw error;
  });
  if (text !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const parsed = persistedStateSchema.safeParse(json);
    if (parsed.success) {
      state = parsed.data;
    } else {
      warn(`state file ${path} is not valid; kept as ${path}.invalid and starting fresh`);
      await rename(path, `${path}.invalid`);
    }
  }
  let saving: Promise<void> = Promise.resolve();
  const save = async () => {
    const temp = `${path}.${process.pid}.tmp`;
    await writeFile(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
    await rename(temp, path);
  };
  return {
    path,
    get: () => state,
    update: change => {
      change(state);
      saving = saving.then(save, save);
      return saving;
    },
  };
}
