/**
 * What an action works with: the run context. An action (actions/*.mts) reads the
 * configuration and settings, calls borg through the run's client, reports progress and state,
 * and adds what it found (warnings, notes, the archive, pruned names, checks) to the context;
 * the engine turns those into the run's result.
 */
import dayjs from "dayjs";

import type { BorgClient, BorgEvent, RunOptions } from "../../../libs/borg/index.mjs";
import type { ApplicationState, CheckSummary, Operation, RestoreSummary, ResultEvent, Trigger } from "../../../libs/protocol/index.mjs";
import type { DroneConfig } from "../config.mjs";
import type { DumpResult } from "./dumps/stream.mjs";
import type { DumpRestoreRequest } from "./dumps/restore.mjs";
import type { Expectation } from "./estimate.mjs";
import type { runHook } from "./hooks.mjs";
import type { Phases, ProgressTracker } from "./progress.mjs";
import type { RepositoryRole } from "./repositories.mjs";
import type { Settings } from "./settings.mjs";
import type { StateStore } from "./state.mjs";

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

/** Runs one shell hook (see hooks.mts); the engine takes another one in tests. */
export type HookRunner = typeof runHook;

/** A requested operation, queued or running. */
export interface Job {
  operation: Operation;
  trigger: Trigger;
  runId: string;
  /** Who asked for it (a command's sender, `cli (user@host)`, `Home Assistant`); the coordinator's id for trigger `coordinator`; null when unknown. Read at the end of the run: it may be relabelled. */
  requestedBy: string | null;
  restore?: RestoreRequest;
  /** A restore of a dump (operation `restore`) instead of files. */
  dump?: DumpRestoreRequest;
  resolve: (result: ResultEvent) => void;
  reject: (error: Error) => void;
}

/** Options of one borg call of a run. */
export type CallOptions = Pick<RunOptions, "signal" | "onEvent" | "inactivityTimeoutMs"> & { onSpawn: (pid: number, command: string) => void };

/** What a run found, for its result. */
export interface RunFindings {
  warnings: string[];
  /** What borg said that needs nothing from anyone (a stale lock it removed), once each. */
  notes: string[];
  archive: ResultEvent["archive"];
  pruned: string[];
  checks: CheckSummary[];
  restore: RestoreSummary | null;
  /** Set when the prune guard held prune in this run: the message for the result. */
  held: string | null;
  /** The dumps streamed into the archive (or that failed), for the result and the history. */
  dumps: DumpResult[];
}

/** The run context an action works with. */
export interface RunContext extends RunFindings {
  readonly config: DroneConfig;
  readonly store: StateStore;
  readonly log: DroneLog;
  /** This drone's archive-name prefix: prune, stats and restore never look past it. */
  readonly archivePrefix: string;
  readonly job: Job;
  /** The run's abort: a timeout, a shutdown. */
  readonly signal: AbortSignal;
  /** Aborted only at shutdown: bounds the on_error hook, which runs after the run's own abort. */
  readonly shutdown: AbortSignal;
  /** A role's borg client for this run: a lock timeout may end in breaking this drone's orphaned lock. */
  borg: (role: RepositoryRole) => BorgClient;
  /** Options of one borg call (the run's abort and inactivity timeout, borg's pid recorded for recovery). */
  call: (onEvent?: (event: BorgEvent) => void) => CallOptions;
  /** Progress of one step, with what it is expected to reach. */
  progress: (role: RepositoryRole, expectation?: { value?: Expectation }, phases?: Phases) => ProgressTracker;
  /** What the drone does now (Application State). */
  state: () => ApplicationState;
  setState: (state: ApplicationState) => void;
  /** The settings in force. */
  settings: () => Settings;
  /** Persisted facts changed: tell whoever watches. */
  notify: () => void;
  runHook: HookRunner;
}

/** A moment as the state file and the events hold it. */
export const toIso = (date: Date) => dayjs(date).toISOString();
