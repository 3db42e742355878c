/**
 * The run history: one row per run of this drone, written when the run starts and when it
 * ends, kept in SQLite (`<STATE_DIR>/<droneId>.history.db`, WAL, mode 0600) and shared by the
 * daemon and every one-shot command of the drone. A row left `running` by a process that is
 * gone reads as `interrupted` (kind `crashed`), and is stored so by the next start's recovery.
 * The history is a record, not a part of the run: a failure to write it is logged (again each
 * hour while it lasts) and never fails a backup; an open that failed is tried again at a later
 * write, at most once a minute, and a run's end that could not be written is tried once more. The records it holds, and how a row becomes one, are in history-records.mts.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, renameSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";

import type Database from "better-sqlite3";
import dayjs from "dayjs";
import { z } from "zod";

import { errorText } from "../../../libs/config/index.mjs";
import { OPERATIONS, type Operation, type ResultEvent, type Trigger } from "../../../libs/protocol/index.mjs";
import {
  crashedMessage,
  endColumns,
  HISTORY_SCHEMA_VERSION,
  type HistoryQuery,
  historyQuerySchema,
  type HistoryRecord,
  type Row,
  rowOwnerAlive,
  rowSchema,
  shownAs,
} from "./history-records.mjs";
import { type ProcessIdentity } from "./process-identity.mjs";

export {
  HISTORY_OUTCOMES,
  HISTORY_SCHEMA_VERSION,
  type HistoryArchive,
  historyJson,
  type HistoryOutcome,
  type HistoryQuery,
  historyQuerySchema,
  type HistoryRecord,
} from "./history-records.mjs";

/** A run starting, as the history records it. */
export interface RunStart {
  runId: string;
  operation: Operation;
  trigger: Trigger;
  requestedBy: string | null;
  startedAt: Date;
  pid: number;
  identity: ProcessIdentity | null;
}

/** How much history is kept. */
export interface HistoryBounds {
  days: number;
  runs: number;
}

/** The run history of one drone. Every write is best effort: a failure is logged (at most once an hour) and swallowed. */
export interface RunHistory {
  readonly path: string;
  /** A run took the run lock and starts. */
  started(run: RunStart): void;
  /**
   * A run ended (or never started: refused by another process's run lock, dropped from the
   * queue); trims the history. `warnings` counts all the run's warnings (the event lists the
   * first ones only). A write that fails is tried once more a minute later (or at close).
   */
  finished(result: ResultEvent, requestedBy: string | null, warnings: number): void;
  /**
   * A run whose process died, found at start-up: the same row is stored as interrupted with
   * the recovery's message (a row is added only when the start was never recorded), and
   * every other row left `running` by a dead process is stored as crashed too. Its end stays
   * unknown (no `finished_at`, no duration); `noticed_at` says when it was found. Without a
   * run to store, the sweep of the other rows waits for the history's next write (a start-up
   * does not open the history for it; `list` shows such a row as crashed all the same).
   */
  recovered(result: ResultEvent | undefined): void;
  /**
   * Runs, newest first; rows left `running` by a dead process read as interrupted/crashed.
   * Empty when there is no history yet, or it cannot be opened (a warning said why); throws
   * when an open history cannot be read.
   */
  list(query?: HistoryQuery): HistoryRecord[];
  /** Closes the database, after one more try of a run's end that could not be written. */
  close(): void;
}

/** What the store needs besides its file: a clock and timers, replaced by tests. */
export interface HistoryTiming {
  /** Milliseconds since the epoch. */
  now: () => number;
  /** Run `retry` in `ms`; returns a way to drop it. */
  later: (retry: () => void, ms: number) => () => void;
  /** How long a write waits for another process's (SQLite's busy timeout). */
  busyTimeoutMs: number;
}

const defaultTiming: HistoryTiming = {
  now: () => Date.now(),
  later: (retry, ms) => {
    const timer = setTimeout(retry, ms);
    // a pending retry never keeps the process alive: close() makes it
    timer.unref();
    return () => clearTimeout(timer);
  },
  busyTimeoutMs: 5_000,
};

/** An open that failed is tried again at a later write, no sooner than this. */
export const HISTORY_REOPEN_MS = 60_000;
/** While the history keeps failing, its warning is logged again after this. */
export const HISTORY_WARN_AGAIN_MS = 3_600_000;
/** A run's end that could not be written is tried once more after this (past the reopen delay). */
export const HISTORY_RETRY_MS = 61_000;

/** The schema's steps: the one at index n takes a database from version n to n + 1. */
const MIGRATIONS: readonly string[] = [
  `
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY,
  operation TEXT NOT NULL,
  repository TEXT NOT NULL,
  trigger TEXT NOT NULL,
  requested_by TEXT,
  started_at TEXT NOT NULL,
  started_ms INTEGER NOT NULL,
  finished_at TEXT,
  outcome TEXT NOT NULL,
  error_kind TEXT,
  error TEXT,
  cancelled_by TEXT,
  archive_name TEXT,
  nfiles INTEGER,
  original_size INTEGER,
  compressed_size INTEGER,
  deduplicated_size INTEGER,
  added_bytes INTEGER,
  duration_seconds REAL,
  warnings INTEGER NOT NULL DEFAULT 0,
  pruned INTEGER NOT NULL DEFAULT 0,
  pid INTEGER,
  process_identity TEXT
);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started_ms);
`,
  // a crashed run's end is not known: version 1 stored the time the recovery found it as its end
  `
ALTER TABLE runs ADD COLUMN noticed_at TEXT;
UPDATE runs SET noticed_at = finished_at, finished_at = NULL, duration_seconds = NULL WHERE error_kind = 'crashed';
`,
  // the dumps of a backup (DUMPS): a JSON list, as the result event has it
  `
ALTER TABLE runs ADD COLUMN dumps TEXT;
`,
];

const COLUMNS =
  "run_id, operation, repository, trigger, requested_by, started_at, finished_at, noticed_at, outcome, error_kind, error, cancelled_by, archive_name, nfiles, original_size, compressed_size, deduplicated_size, added_bytes, duration_seconds, warnings, pruned, pid, process_identity, dumps";

const requireHere = createRequire(import.meta.url);
let driver: typeof Database | undefined;
/**
 * better-sqlite3, loaded at the first open: a command that never touches the history does not
 * pay for loading it, and a one-shot run opens the history once borg has started (run.mts).
 */
const sqlite = (): typeof Database => (driver ??= requireHere("better-sqlite3") as typeof Database);

/** Open (or create) the database file: mode 0600, WAL, the schema at its version. */
function openDatabase(path: string, busyTimeoutMs: number): Database.Database {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // created by us with 0600 before SQLite opens it: its -wal and -shm files take the same mode
  if (!existsSync(path)) closeSync(openSync(path, "a", 0o600));
  chmodSync(path, 0o600);
  const Driver = sqlite();
  const db = new Driver(path, { timeout: busyTimeoutMs });
  try {
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    db.pragma("journal_mode = WAL");
    const schemaVersion = () => {
      const version = z.number().int().parse(db.pragma("user_version", { simple: true }));
      if (version > HISTORY_SCHEMA_VERSION) {
        throw new Error(`its schema version is ${version}, newer than this drone's (${HISTORY_SCHEMA_VERSION}): a newer drone wrote it`);
      }
      return version;
    };
    if (schemaVersion() < HISTORY_SCHEMA_VERSION) {
      db.transaction(() => {
        // read again under the write lock: another process (the daemon and a command) may
        // have upgraded it since, and its steps must not run twice (ADD COLUMN would fail)
        const version = schemaVersion();
        if (version === HISTORY_SCHEMA_VERSION) return;
        for (const step of MIGRATIONS.slice(version, HISTORY_SCHEMA_VERSION)) db.exec(step);
        db.pragma(`user_version = ${HISTORY_SCHEMA_VERSION}`);
      }).immediate();
    }
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

const damaged = (error: unknown) => {
  const code = (error as { code?: unknown }).code;
  return code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT";
};

/**
 * The history in `path`, opened at its first use (a command that never reads nor runs
 * anything does not load it). A damaged file is kept aside as `<file>.invalid` and a new one
 * started; a database written by a newer drone is left alone (the history is off until it is
 * replaced). A failure is not for the daemon's life: the open is tried again at a later use,
 * at most once every {@link HISTORY_REOPEN_MS}, and the warning repeats every {@link HISTORY_WARN_AGAIN_MS}.
 */
export function openRunHistory(path: string, bounds: HistoryBounds, warn: (message: string) => void, timing: Partial<HistoryTiming> = {}): RunHistory {
  const { now, later, busyTimeoutMs } = { ...defaultTiming, ...timing };
  let db: Database.Database | undefined;
  /** When the last open failed: no new try before {@link HISTORY_REOPEN_MS} after it. */
  let openFailedAt: number | undefined;
  let warnedAt: number | undefined;
  /** The ends of runs whose write failed, waiting for their one more try. */
  const pending = new Set<{ write: () => void; drop: () => void }>();

  const complain = (what: string, error: unknown) => {
    const at = now();
    if (warnedAt !== undefined && at - warnedAt < HISTORY_WARN_AGAIN_MS) return;
    warnedAt = at;
    warn(`the run history (${path}) could not be ${what}: ${errorText(error)}; backups go on without it`);
  };

  const database = (): Database.Database | undefined => {
    if (db) return db;
    if (openFailedAt !== undefined && now() - openFailedAt < HISTORY_REOPEN_MS) return undefined;
    try {
      db = openDatabase(path, busyTimeoutMs);
      openFailedAt = undefined;
    } catch (error) {
      let failure = error;
      if (damaged(error)) {
        try {
          renameSync(path, `${path}.invalid`);
          warn(`the run history ${path} was damaged; kept as ${path}.invalid and started anew`);
          db = openDatabase(path, busyTimeoutMs);
          openFailedAt = undefined;
          return db;
        } catch (again) {
          failure = again;
        }
      }
      openFailedAt = now();
      complain("opened", failure);
    }
    return db;
  };

  /** Whether rows left `running` by dead processes are still to be stored as crashed (see `recovered`). */
  let sweepPending = false;

  /** Run a write; a failure is reported (at most once an hour) and swallowed. Whether it was written. */
  const write = (body: (db: Database.Database) => void): boolean => {
    const open = database();
    if (!open) return false;
    try {
      if (sweepPending) {
        open.transaction(() => sweep(open, dayjs(now()).toISOString())).immediate();
        sweepPending = false;
      }
      body(open);
      return true;
    } catch (error) {
      complain("written", error);
      return false;
    }
  };

  const trim = (open: Database.Database, now: number) => {
    const cutoff = now - bounds.days * 86_400_000;
    open.prepare("DELETE FROM runs WHERE outcome != 'running' AND started_ms < ?").run(cutoff);
    // the oldest run still kept, found on the index: rows before it go (a running one stays)
    const edge = z
      .object({ started_ms: z.number(), rowid: z.number() })
      .optional()
      .parse(open.prepare("SELECT started_ms, rowid FROM runs ORDER BY started_ms DESC, rowid DESC LIMIT 1 OFFSET ?").get(bounds.runs - 1));
    if (edge) {
      open
        .prepare("DELETE FROM runs WHERE outcome != 'running' AND (started_ms < ? OR (started_ms = ? AND rowid < ?))")
        .run(edge.started_ms, edge.started_ms, edge.rowid);
    }
  };

  /** Store the rows left `running` by a process that is gone as crashed. */
  const sweep = (open: Database.Database, noticedAt: string) => {
    for (const row of readRows(open, `SELECT ${COLUMNS} FROM runs WHERE outcome = 'running'`, [])) {
      if (rowOwnerAlive(row)) continue;
      open
        .prepare("UPDATE runs SET outcome = 'interrupted', error_kind = 'crashed', error = ?, noticed_at = ? WHERE run_id = ? AND outcome = 'running'")
        .run(crashedMessage(row.operation), noticedAt, row.run_id);
    }
  };

  const readRows = (open: Database.Database, sql: string, params: unknown[]): Row[] => {
    const rows: Row[] = [];
    for (const raw of open.prepare(sql).all(...params)) {
      const parsed = rowSchema.safeParse(raw);
      if (parsed.success) rows.push(parsed.data);
      else warn(`the run history (${path}) holds a row it cannot read; skipped: ${parsed.error.issues.map(issue => issue.path.join(".")).join(", ")}`);
    }
    return rows;
  };

  const endRow = (open: Database.Database, result: ResultEvent, requestedBy: string | null, warnings: number) => {
    const columns = endColumns(result, requestedBy, warnings);
    // the start (trigger, pid) may be recorded already: the end overwrites what it knows
    open
      .prepare(
        `INSERT INTO runs (run_id, operation, repository, trigger, requested_by, started_at, started_ms, finished_at, outcome, error_kind, error, cancelled_by,
           archive_name, nfiles, original_size, compressed_size, deduplicated_size, added_bytes, duration_seconds, warnings, pruned, dumps)
         VALUES (@run_id, @operation, @repository, @trigger, @requested_by, @started_at, @started_ms, @finished_at, @outcome, @error_kind, @error, @cancelled_by,
           @archive_name, @nfiles, @original_size, @compressed_size, @deduplicated_size, @added_bytes, @duration_seconds, @warnings, @pruned, @dumps)
         ON CONFLICT (run_id) DO UPDATE SET trigger = excluded.trigger, requested_by = excluded.requested_by, finished_at = excluded.finished_at,
           outcome = excluded.outcome, error_kind = excluded.error_kind, error = excluded.error, cancelled_by = excluded.cancelled_by,
           archive_name = excluded.archive_name, nfiles = excluded.nfiles, original_size = excluded.original_size,
           compressed_size = excluded.compressed_size, deduplicated_size = excluded.deduplicated_size, added_bytes = excluded.added_bytes,
           duration_seconds = excluded.duration_seconds, warnings = excluded.warnings, pruned = excluded.pruned, dumps = excluded.dumps`,
      )
      .run(columns);
  };

  return {
    path,
    started: run =>
      write(open => {
        open
          .prepare(
            `INSERT OR IGNORE INTO runs (run_id, operation, repository, trigger, requested_by, started_at, started_ms, outcome, pid, process_identity)
             VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)`,
          )
          .run(
            run.runId,
            run.operation,
            run.operation === "offsite" ? "offsite" : "primary",
            run.trigger,
            run.requestedBy,
            dayjs(run.startedAt).toISOString(),
            run.startedAt.getTime(),
            run.pid,
            run.identity === null ? null : JSON.stringify(run.identity),
          );
      }),
    finished: (result, requestedBy, warnings) => {
      const attempt = () =>
        write(open => {
          open.transaction(() => {
            endRow(open, result, requestedBy, warnings);
            trim(open, now());
          }).immediate();
        });
      if (attempt()) return;
      // another process held the database past the busy timeout, or it could not be opened:
      // one more try later, each end its own
      const retry = { write: () => void attempt(), drop: () => undefined as void };
      retry.drop = later(() => {
        pending.delete(retry);
        retry.write();
      }, HISTORY_RETRY_MS);
      pending.add(retry);
    },
    recovered: result => {
      if (!result) {
        sweepPending = true;
        return;
      }
      write(open => {
        open.transaction(() => {
          const noticedAt = dayjs(now()).toISOString();
          // its start was never recorded (the history could not be written then): the row starts here
          open
            .prepare(
              `INSERT OR IGNORE INTO runs (run_id, operation, repository, trigger, requested_by, started_at, started_ms, outcome)
               VALUES (?, ?, ?, ?, NULL, ?, ?, 'running')`,
            )
            .run(result.run_id, result.operation, result.repository, result.trigger, result.started_at, Date.parse(result.started_at));
          // the row keeps what its start recorded (the trigger, who asked); the recovery's result says how it ended,
          // but not when: the process died unseen, so its end and duration stay unknown
          open
            .prepare(
              "UPDATE runs SET outcome = ?, error_kind = ?, error = ?, finished_at = NULL, noticed_at = ?, duration_seconds = NULL WHERE run_id = ? AND outcome = 'running'",
            )
            .run(result.outcome, result.error_kind, result.error, noticedAt, result.run_id);
          // rows whose start was recorded but whose process died without the state file naming it
          sweep(open, noticedAt);
        }).immediate();
      });
    },
    list: (query = {}) => {
      const checked = historyQuerySchema.safeParse(query);
      if (!checked.success) {
        const problems = checked.error.issues.map(issue => `${issue.path.join(".") || "query"}: ${issue.message}`).join("; ");
        throw new Error(`history query not valid: ${problems} (limit is a whole number of at least 1, since a Date, operation one of ${OPERATIONS.join(", ")})`);
      }
      const { limit, since, operation } = checked.data;
      if (!existsSync(path) && !db) return [];
      const open = database();
      if (!open) return [];
      const where: string[] = [];
      const params: unknown[] = [];
      if (since) {
        where.push("started_ms >= ?");
        params.push(since.getTime());
      }
      if (operation) {
        where.push("operation = ?");
        params.push(operation);
      }
      const sql =
        `SELECT ${COLUMNS} FROM runs${where.length > 0 ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY started_ms DESC, rowid DESC` +
        (limit === undefined ? "" : " LIMIT ?");
      if (limit !== undefined) params.push(limit);
      return readRows(open, sql, params).map(row => shownAs(row, rowOwnerAlive));
    },
    close: () => {
      for (const retry of [...pending]) {
        pending.delete(retry);
        retry.drop();
        retry.write();
      }
      db?.close();
      db = undefined;
    },
  };
}
