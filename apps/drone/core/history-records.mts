/**
 * The run history's records: what one run looks like to a reader (the library, `history`,
 * Home Assistant), the row SQLite holds and how it becomes a record (validated with zod), the
 * columns a result gives a row, and the JSON `history --json` prints. Pure: the store is in
 * history.mts.
 */
import dayjs from "dayjs";
import { z } from "zod";

import {
  type DumpSummary,
  dumpSummarySchema,
  OPERATIONS,
  type Operation,
  OUTCOMES,
  REPOSITORY_ROLES,
  type RepositoryRole,
  type ResultEvent,
  TRIGGERS,
  type Trigger,
} from "../../../libs/protocol/index.mjs";
import { isRecordedAlive, type ProcessIdentity, processIdentitySchema } from "./process-identity.mjs";

/** The schema version of the history database (SQLite's `user_version`). */
export const HISTORY_SCHEMA_VERSION = 3;

/** A run's outcome in the history: `running` until it ends. */
export const HISTORY_OUTCOMES = ["running", ...OUTCOMES] as const;
/** One history outcome. */
export type HistoryOutcome = (typeof HISTORY_OUTCOMES)[number];

/** The archive a run created, as the history keeps it. */
export interface HistoryArchive {
  name: string;
  nfiles: number;
  originalSize: number;
  compressedSize: number;
  deduplicatedSize: number;
}

/** A dump of a run (DUMPS), as the history keeps it. */
export interface HistoryDump {
  name: string;
  kind: string;
  outcome: DumpSummary["outcome"];
  /** Bytes the dump's tool wrote. */
  size: number;
  durationSeconds: number;
  error: string | null;
}

/** One run as the history holds it. */
export interface HistoryRecord {
  runId: string;
  operation: Operation;
  repository: RepositoryRole;
  trigger: Trigger;
  /** Who asked for it: a command's sender, `cli (user@host)`, `Home Assistant`…; null when unknown. */
  requestedBy: string | null;
  startedAt: Date;
  /** Null while it runs, and for a run whose process died (when it died is not known). */
  finishedAt: Date | null;
  /**
   * When the drone found the process of this run dead and stored the run as crashed (its next
   * start's recovery); null for every other run, and until that start.
   */
  noticedAt: Date | null;
  outcome: HistoryOutcome;
  errorKind: string | null;
  error: string | null;
  /** Who cancelled it (error kind `cancelled`). */
  cancelledBy: string | null;
  archive: HistoryArchive | null;
  /**
   * What this run added to the repository: borg's deduplicated size of the new archive (the
   * chunks no earlier archive had). Null when the run made no archive.
   */
  addedBytes: number | null;
  /** Null while it runs, and for a run whose process died. */
  durationSeconds: number | null;
  /** All the run's warnings (the result event lists the first ones only). */
  warnings: number;
  /** Archives pruned by the run. */
  pruned: number;
  /** The drone process that ran it (null when it never started, e.g. a queued job dropped by a cancel). */
  pid: number | null;
  /** The dumps of the run, each with its size, time and outcome; empty without dumps. */
  dumps: HistoryDump[];
}

/** Which runs to read. */
export interface HistoryQuery {
  /** At most this many (the newest). */
  limit?: number;
  /** Only runs started at or after this moment. */
  since?: Date;
  /** Only runs of this operation. */
  operation?: Operation;
}

/** Validates a query given by a library caller. */
export const historyQuerySchema = z.object({
  limit: z.number().int().min(1).optional(),
  since: z.date().optional(),
  operation: z.enum(OPERATIONS).optional(),
});

const integer = z.number().int().nonnegative();

/** One row as SQLite returns it; every row read back passes it. */
export const rowSchema = z.object({
  run_id: z.string().min(1),
  operation: z.enum(OPERATIONS),
  repository: z.enum(REPOSITORY_ROLES),
  trigger: z.enum(TRIGGERS),
  requested_by: z.string().nullable(),
  started_at: z.iso.datetime({ offset: true }),
  finished_at: z.iso.datetime({ offset: true }).nullable(),
  noticed_at: z.iso.datetime({ offset: true }).nullable(),
  outcome: z.enum(HISTORY_OUTCOMES),
  error_kind: z.string().nullable(),
  error: z.string().nullable(),
  cancelled_by: z.string().nullable(),
  archive_name: z.string().nullable(),
  nfiles: integer.nullable(),
  original_size: integer.nullable(),
  compressed_size: integer.nullable(),
  deduplicated_size: integer.nullable(),
  added_bytes: integer.nullable(),
  duration_seconds: z.number().nonnegative().nullable(),
  warnings: integer,
  pruned: integer,
  pid: z.number().int().positive().nullable(),
  process_identity: z.string().nullable(),
  /** JSON: the result's `dumps`; null for runs without dumps (and those of schema version 2). */
  dumps: z.string().nullable(),
});
export type Row = z.infer<typeof rowSchema>;

/** The process identity stored with a row (JSON), or null when it cannot be read. */
function identityOf(row: Row): ProcessIdentity | null {
  if (row.process_identity === null) return null;
  try {
    const parsed = processIdentitySchema.safeParse(JSON.parse(row.process_identity));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** The dumps stored with a row; a list that cannot be read counts as none (the run's error still says what failed). */
function dumpsOf(row: Row): HistoryDump[] {
  if (row.dumps === null) return [];
  let json: unknown;
  try {
    json = JSON.parse(row.dumps);
  } catch {
    return [];
  }
  const parsed = z.array(dumpSummarySchema).safeParse(json);
  if (!parsed.success) return [];
  return parsed.data.map(dump => ({ name: dump.name, kind: dump.kind, outcome: dump.outcome, size: dump.size, durationSeconds: dump.duration_seconds, error: dump.error }));
}

/** A row as a record. */
function recordOf(row: Row): HistoryRecord {
  const archive: HistoryArchive | null =
    row.archive_name === null
      ? null
      : {
          name: row.archive_name,
          nfiles: row.nfiles ?? 0,
          originalSize: row.original_size ?? 0,
          compressedSize: row.compressed_size ?? 0,
          deduplicatedSize: row.deduplicated_size ?? 0,
        };
  return {
    runId: row.run_id,
    operation: row.operation,
    repository: row.repository,
    trigger: row.trigger,
    requestedBy: row.requested_by,
    startedAt: new Date(row.started_at),
    finishedAt: row.finished_at === null ? null : new Date(row.finished_at),
    noticedAt: row.noticed_at === null ? null : new Date(row.noticed_at),
    outcome: row.outcome,
    errorKind: row.error_kind,
    error: row.error,
    cancelledBy: row.cancelled_by,
    archive,
    addedBytes: row.added_bytes,
    durationSeconds: row.duration_seconds,
    warnings: row.warnings,
    pruned: row.pruned,
    pid: row.pid,
    dumps: dumpsOf(row),
  };
}

/** The message of a run whose process died (found when reading, before any recovery stored it). */
export const crashedMessage = (operation: Operation) => `the drone process ended during ${operation} (it crashed or was killed); run it again`;

/** Whether the process that wrote a `running` row is alive and is still that process. */
export function rowOwnerAlive(row: Row): boolean {
  if (row.pid === null) return false;
  const startedAt = Date.parse(row.started_at);
  return isRecordedAlive({ pid: row.pid, identity: identityOf(row), legacy: { recordedAtMs: startedAt, startedByMs: startedAt } });
}

/**
 * A row as it reads now: one left `running` by a process that is gone is an interrupted run
 * (kind `crashed`); its end is unknown, so it has no end time nor duration.
 */
export function shownAs(row: Row, ownerAlive: (row: Row) => boolean): HistoryRecord {
  const record = recordOf(row);
  if (record.outcome !== "running" || ownerAlive(row)) return record;
  return { ...record, outcome: "interrupted", errorKind: "crashed", error: crashedMessage(record.operation) };
}

/**
 * The columns a result gives a row (the end of a run). `warnings` is the run's count: the
 * event lists the first warnings only (the log keeps the others).
 */
export function endColumns(result: ResultEvent, requestedBy: string | null, warnings: number) {
  const archive = result.archive;
  return {
    run_id: result.run_id,
    operation: result.operation,
    repository: result.repository,
    trigger: result.trigger,
    requested_by: requestedBy,
    started_at: result.started_at,
    started_ms: Date.parse(result.started_at),
    finished_at: result.finished_at,
    outcome: result.outcome,
    error_kind: result.error_kind,
    error: result.error,
    cancelled_by: result.cancelled_by ?? null,
    archive_name: archive?.name ?? null,
    nfiles: archive?.nfiles ?? null,
    original_size: archive?.original_size ?? null,
    compressed_size: archive?.compressed_size ?? null,
    deduplicated_size: archive?.deduplicated_size ?? null,
    // borg's deduplicated size of the new archive: what this run added to the repository
    added_bytes: archive?.deduplicated_size ?? null,
    duration_seconds: result.duration_seconds,
    warnings,
    pruned: result.pruned_count ?? result.pruned.length,
    dumps: result.dumps !== undefined && result.dumps.length > 0 ? JSON.stringify(result.dumps) : null,
  };
}

/** A record as `history --json` prints it: snake_case, like the events. */
export function historyJson(record: HistoryRecord) {
  const archive = record.archive;
  return {
    run_id: record.runId,
    operation: record.operation,
    repository: record.repository,
    trigger: record.trigger,
    requested_by: record.requestedBy,
    started_at: dayjs(record.startedAt).toISOString(),
    finished_at: record.finishedAt === null ? null : dayjs(record.finishedAt).toISOString(),
    noticed_at: record.noticedAt === null ? null : dayjs(record.noticedAt).toISOString(),
    outcome: record.outcome,
    error_kind: record.errorKind,
    error: record.error,
    cancelled_by: record.cancelledBy,
    archive:
      archive === null
        ? null
        : {
            name: archive.name,
            nfiles: archive.nfiles,
            original_size: archive.originalSize,
            compressed_size: archive.compressedSize,
            deduplicated_size: archive.deduplicatedSize,
          },
    added_bytes: record.addedBytes,
    duration_seconds: record.durationSeconds,
    warnings: record.warnings,
    pruned: record.pruned,
    pid: record.pid,
    dumps: record.dumps.map(dump => ({ name: dump.name, kind: dump.kind, outcome: dump.outcome, size: dump.size, duration_seconds: dump.durationSeconds, error: dump.error })),
  };
}
