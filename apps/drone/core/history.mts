/**
 * The run history: one row per run of this drone, written when the run starts and when it
 * ends, kept in SQLite (`<STATE_DIR>/<droneId>.history.db`, WAL, mode 0600) and shared by the
 * daemon and every one-shot command of the drone. A row left `running` by a process that is
 * gone reads as `interrupted` (kind `crashed`), and is stored so by the next start's recovery.
 * The history is a record, not a part of the run: a failure to write it is logged once and
 * never fails a backup. The records it holds, and how a row becomes one, are in history-records.mts.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, renameSync } from "node:fs";
import { dirname } from "node:path";

import Database from "better-sqlite3";
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

/** The run history of one drone. Every write is best effort: a failure is logged (once) and swallowed. */
export interface RunHistory {
  readonly path: string;
  /** A run took the run lock and starts. */
  started(run: RunStart): void;
  /** A run ended (or never started: refused by another process's run lock, dropped from the queue); trims the history. */
  finished(result: ResultEvent, requestedBy: string | null): void;
  /**
   * A run whose process died, found at start-up: the same row is stored as interrupted with
   * the recovery's message (a row is added only when the start was never recorded), and
   * every other row left `running` by a dead process is stored as crashed too.
   */
  recovered(result: ResultEvent | undefined): void;
  /**
   * Runs, newest first; rows left `running` by a dead process read as interrupted/crashed.
   * Empty when there is no history yet, or it cannot be opened (a warning said why); throws
   * when an open history cannot be read.
   */
  list(query?: HistoryQuery): HistoryRecord[];
  close(): void;
}

const CREATE_SCHEMA = `
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
`;

const COLUMNS =
  "run_id, operation, repository, trigger, requested_by, started_at, finished_at, outcome, error_kind, error, cancelled_by, archive_name, nfiles, original_size, compressed_size, deduplicated_size, added_bytes, duration_seconds, warnings, pruned, pid, process_identity";

/** How long a process waits for another one's write (they take milliseconds). */
const BUSY_TIMEOUT_MS = 5_000;

/** Open (or create) the database file: mode 0600, WAL, the schema at its version. */
function openDatabase(path: string): Database.Database {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // created by us with 0600 before SQLite opens it: its -wal and -shm files take the same mode
  if (!existsSync(path)) closeSync(openSync(path, "a", 0o600));
  chmodSync(path, 0o600);
  const db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma("journal_mode = WAL");
    const version = z.number().int().parse(db.pragma("user_version", { simple: true }));
    if (version > HISTORY_SCHEMA_VERSION) {
      throw new Error(`its schema version is ${version}, newer than this drone's (${HISTORY_SCHEMA_VERSION}): a newer drone wrote it`);
    }
    if (version < HISTORY_SCHEMA_VERSION) {
      db.transaction(() => {
        db.exec(CREATE_SCHEMA);
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
 * started; a database written by a newer drone is left alone and the history is off.
 */
export function openRunHistory(path: string, bounds: HistoryBounds, warn: (message: string) => void): RunHistory {
  let db: Database.Database | undefined;
  let unusable = false;
  let warned = false;

  const complain = (what: string, error: unknown) => {
    if (warned) return;
    warned = true;
    warn(`the run history (${path}) could not be ${what}: ${errorText(error)}; backups go on without it`);
  };

  const database = (): Database.Database | undefined => {
    if (db || unusable) return db;
    try {
      db = openDatabase(path);
    } catch (error) {
      let failure = error;
      if (damaged(error)) {
        try {
          renameSync(path, `${path}.invalid`);
          warn(`the run history ${path} was damaged; kept as ${path}.invalid and started anew`);
          db = openDatabase(path);
          return db;
        } catch (again) {
          failure = again;
        }
      }
      unusable = true;
      complain("opened", failure);
    }
    return db;
  };

  /** Run a write; a failure is reported once and swallowed. */
  const write = (body: (db: Database.Database) => void) => {
    const open = database();
    if (!open) return;
    try {
      body(open);
    } catch (error) {
      complain("written", error);
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

  const readRows = (open: Database.Database, sql: string, params: unknown[]): Row[] => {
    const rows: Row[] = [];
    for (const raw of open.prepare(sql).all(...params)) {
      const parsed = rowSchema.safeParse(raw);
      if (parsed.success) rows.push(parsed.data);
      else warn(`the run history (${path}) holds a row it cannot read; skipped: ${parsed.error.issues.map(issue => issue.path.join(".")).join(", ")}`);
    }
    return rows;
  };

  const endRow = (open: Database.Database, result: ResultEvent, requestedBy: string | null) => {
    const columns = endColumns(result, requestedBy);
    // the start (trigger, pid) may be recorded already: the end overwrites what it knows
    open
      .prepare(
        `INSERT INTO runs (run_id, operation, repository, trigger, requested_by, started_at, started_ms, finished_at, outcome, error_kind, error, cancelled_by,
           archive_name, nfiles, original_size, compressed_size, deduplicated_size, added_bytes, duration_seconds, warnings, pruned)
         VALUES (@run_id, @operation, @repository, @trigger, @requested_by, @started_at, @started_ms, @finished_at, @outcome, @error_kind, @error, @cancelled_by,
           @archive_name, @nfiles, @original_size, @compressed_size, @deduplicated_size, @added_bytes, @duration_seconds, @warnings, @pruned)
         ON CONFLICT (run_id) DO UPDATE SET trigger = excluded.trigger, requested_by = excluded.requested_by, finished_at = excluded.finished_at,
           outcome = excluded.outcome, error_kind = excluded.error_kind, error = excluded.error, cancelled_by = excluded.cancelled_by,
           archive_name = excluded.archive_name, nfiles = excluded.nfiles, original_size = excluded.original_size,
           compressed_size = excluded.compressed_size, deduplicated_size = excluded.deduplicated_size, added_bytes = excluded.added_bytes,
           duration_seconds = excluded.duration_seconds, warnings = excluded.warnings, pruned = excluded.pruned`,
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
    finished: (result, requestedBy) =>
      write(open => {
        open.transaction(() => {
          endRow(open, result, requestedBy);
          trim(open, Date.now());
        }).immediate();
      }),
    recovered: result =>
      write(open => {
        open.transaction(() => {
          if (result) {
            // the row keeps what its start recorded (the trigger, who asked); the recovery's result says how it ended
            const updated = open
              .prepare(
                "UPDATE runs SET outcome = ?, error_kind = ?, error = ?, finished_at = ?, duration_seconds = NULL WHERE run_id = ? AND outcome = 'running'",
              )
              .run(result.outcome, result.error_kind, result.error, result.finished_at, result.run_id);
            const known = open.prepare("SELECT 1 FROM runs WHERE run_id = ?").get(result.run_id) !== undefined;
            if (updated.changes === 0 && !known) endRow(open, { ...result, duration_seconds: 0 }, null);
          }
          // rows whose start was recorded but whose process died without the state file naming it
          for (const row of readRows(open, `SELECT ${COLUMNS} FROM runs WHERE outcome = 'running'`, [])) {
            if (rowOwnerAlive(row)) continue;
            open
              .prepare("UPDATE runs SET outcome = 'interrupted', error_kind = 'crashed', error = ? WHERE run_id = ? AND outcome = 'running'")
              .run(crashedMessage(row.operation), row.run_id);
          }
        }).immediate();
      }),
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
      db?.close();
      db = undefined;
    },
  };
}
