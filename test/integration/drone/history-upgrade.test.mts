/**
 * Two processes of one drone (the daemon and a command) opening an older run history at the
 * same moment: both read its schema version, one upgrades it, and the other must not run the
 * upgrade's steps again (ADD COLUMN twice fails, and that process would lose its history).
 * A third connection holds the write lock while both open, so that both have read the old
 * version before either may write.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";

import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";

import { HISTORY_SCHEMA_VERSION } from "../../../apps/drone/core/history-records.mjs";
import { tempDir } from "../../helpers/fs.mjs";

const OPENER = join(import.meta.dirname, "../../helpers/history-opener.mts");

/** A history of schema version 1 (WAL, as drones make it) with one run. */
function versionOneHistory(path: string): void {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.exec(`CREATE TABLE runs (run_id TEXT PRIMARY KEY, operation TEXT NOT NULL, repository TEXT NOT NULL, trigger TEXT NOT NULL, requested_by TEXT,
    started_at TEXT NOT NULL, started_ms INTEGER NOT NULL, finished_at TEXT, outcome TEXT NOT NULL, error_kind TEXT, error TEXT, cancelled_by TEXT,
    archive_name TEXT, nfiles INTEGER, original_size INTEGER, compressed_size INTEGER, deduplicated_size INTEGER, added_bytes INTEGER,
    duration_seconds REAL, warnings INTEGER NOT NULL DEFAULT 0, pruned INTEGER NOT NULL DEFAULT 0, pid INTEGER, process_identity TEXT)`);
  db.prepare("INSERT INTO runs (run_id, operation, repository, trigger, started_at, started_ms, finished_at, outcome, duration_seconds) VALUES ('one', 'create', 'primary', 'cli', ?, ?, ?, 'success', 60)").run(
    "2026-11-02T03:00:00.000Z",
    Date.parse("2026-11-02T03:00:00.000Z"),
    "2026-11-02T03:01:00.000Z",
  );
  db.pragma("user_version = 1");
  db.close();
}

/** Start an opener; resolves `ready` at its READY line and `done` with its JSON line. */
function opener(path: string) {
  const child = spawn(process.execPath, ["--import", "tsx", OPENER, path], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let markReady = () => undefined as void;
  const ready = new Promise<void>(resolve => (markReady = resolve));
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    if (stdout.includes("READY\n")) markReady();
  });
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<{ code: number | null; report: unknown; stderr: string }>(resolve =>
    child.on("close", code => {
      const line = stdout.split("\n").find(text => text.startsWith("{"));
      resolve({ code, report: line === undefined ? null : (JSON.parse(line) as unknown), stderr });
    }),
  );
  return { ready, done };
}

describe("upgrading the run history from two processes at once", () => {
  const removals: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const remove of removals.splice(0)) await remove();
  });

  it("both open it: one upgrades, the other reads the version again under the lock and runs no step twice", async () => {
    const dir = await tempDir("history-upgrade");
    removals.push(dir.remove);
    const path = join(dir.path, "drone.history.db");
    versionOneHistory(path);
    const lock = new Database(path);
    lock.exec("BEGIN IMMEDIATE");
    const openers = [opener(path), opener(path)];
    await Promise.all(openers.map(one => one.ready));
    // both read version 1 and then wait for the write lock (their busy timeout is a minute)
    await new Promise(resolve => setTimeout(resolve, 1500));
    lock.exec("COMMIT");
    lock.close();
    const results = await Promise.all(openers.map(one => one.done));
    for (const result of results) {
      expect(result.stderr).toBe("");
      expect(result).toMatchObject({ code: 0, report: { warnings: [], runs: 1 } });
    }
    const check = new Database(path, { readonly: true });
    expect(check.pragma("user_version", { simple: true })).toBe(HISTORY_SCHEMA_VERSION);
    expect((check.pragma("table_info(runs)") as { name: string }[]).map(column => column.name)).toEqual(expect.arrayContaining(["noticed_at", "dumps"]));
    check.close();
  });
});
