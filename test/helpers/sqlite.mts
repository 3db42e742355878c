/**
 * SQLite databases for tests, through the sqlite3 command-line shell (Debian's `sqlite3`, the
 * tool a dump and a restore run): generated data, and row counts with a checksum per table.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { promisify } from "node:util";

const exec = promisify(execFile);

/** Tables the generated data fills, each with an `id` primary key. */
export const SQLITE_TABLES = ["states", "events"] as const;

/** Run SQL on a database file; resolves with the rows, `|`-separated. */
export async function sqlite(path: string, statement: string): Promise<string> {
  const { stdout } = await exec("sqlite3", ["-batch", "-bail", path, statement], { maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim();
}

/** Create and fill a database file: two tables of a few thousand rows (text, numbers, NULLs, unicode, a blob). */
export async function fillSqlite(path: string): Promise<void> {
  await sqlite(
    path,
    `PRAGMA journal_mode=WAL;
     CREATE TABLE states (id INTEGER PRIMARY KEY, entity_id TEXT NOT NULL, state TEXT, last_changed REAL, attributes TEXT);
     CREATE TABLE events (id INTEGER PRIMARY KEY, event_type TEXT, data BLOB, origin INTEGER);
     WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 4000)
       INSERT INTO states SELECT n, 'sensor.t' || (n % 40), CASE WHEN n % 9 = 0 THEN NULL ELSE printf('%.2f', n / 7.0) END, 1767225600 + n * 30.5, '{"unit":"°C","n":' || n || '}' FROM g;
     WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 2500)
       INSERT INTO events SELECT n, 'state_changed ☃', randomblob(16), n % 2 FROM g;`,
  );
}

/** Row counts and a checksum (md5 of the rows in id order, blobs as hex) of each table of {@link SQLITE_TABLES}. */
export async function sqliteFingerprint(path: string): Promise<Record<string, { rows: number; md5: string }>> {
  const out: Record<string, { rows: number; md5: string }> = {};
  for (const table of SQLITE_TABLES) {
    const select = table === "events" ? "SELECT id, event_type, hex(data), origin FROM events ORDER BY id" : `SELECT * FROM ${table} ORDER BY id`;
    const rows = await sqlite(path, select);
    out[table] = { rows: rows.length === 0 ? 0 : rows.split("\n").length, md5: createHash("md5").update(rows).digest("hex") };
  }
  return out;
}
