/** The run history store on a real SQLite file in a temp folder: rows, crash reading, recovery, trimming, damage. */
import { spawnSync } from "node:child_process";
import { existsSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";

import { parseSince } from "../../../apps/drone/core/duration.mjs";
import { HISTORY_REOPEN_MS, HISTORY_RETRY_MS, HISTORY_SCHEMA_VERSION, HISTORY_WARN_AGAIN_MS, historyJson, type HistoryRecord, openRunHistory, type RunHistory } from "../../../apps/drone/core/history.mjs";
import { processIdentity } from "../../../apps/drone/core/process-identity.mjs";
import { resultEvent, type RunSummary } from "../../../apps/drone/core/result.mjs";
import { RECENT_RUNS, RECENT_RUNS_MAX_BYTES, recentRunsAttributes } from "../../../apps/drone/ha/values.mjs";
import { tempDir } from "../../helpers/fs.mjs";

const DAY = 86_400_000;

const summary = (runId: string, started: Date, extra: Partial<RunSummary> = {}): RunSummary => ({
  droneId: "histdrone",
  runId,
  operation: "create",
  trigger: "cli",
  outcome: "success",
  started,
  finished: new Date(started.getTime() + 2500),
  ...extra,
});

/** The pid of a process that has ended. */
const deadPid = () => {
  const child = spawnSync("true");
  if (child.pid === undefined) throw new Error("no child pid");
  return child.pid;
};

describe("the run history store", () => {
  const cleanups: (() => Promise<void>)[] = [];
  const opened: RunHistory[] = [];
  afterEach(async () => {
    for (const history of opened.splice(0)) history.close();
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  const open = async (bounds = { days: 400, runs: 5000 }) => {
    const dir = await tempDir("history");
    cleanups.push(dir.remove);
    const warnings: string[] = [];
    const path = join(dir.path, "state", "histdrone.history.db");
    const history = openRunHistory(path, bounds, message => warnings.push(message));
    opened.push(history);
    return { history, warnings, path, dir: dir.path };
  };

  it("records a run running at its start and with its archive, added bytes and who asked at its end, in a 0600 file", async () => {
    const { history, path, warnings } = await open();
    const started = new Date(Date.now() - 3000);
    history.started({ runId: "r1", operation: "create", trigger: "cli", requestedBy: "cli (me@host)", startedAt: started, pid: process.pid, identity: processIdentity() });
    const during = history.list();
    expect(during).toHaveLength(1);
    expect(during[0]).toMatchObject({ runId: "r1", outcome: "running", finishedAt: null, pid: process.pid, requestedBy: "cli (me@host)" });
    expect(statSync(path).mode & 0o777).toBe(0o600);

    const archive = { name: "histdrone@2026-11-30T03:00:00.000", original_size: 5000, compressed_size: 4000, deduplicated_size: 1234, nfiles: 7 };
    const result = resultEvent(summary("r1", started, { trigger: "coordinator", warnings: ["a", "b"], archive, pruned: ["x"] }));
    history.finished(result, "coordinator-home", 2);
    const [record] = history.list();
    expect(record).toMatchObject({
      runId: "r1",
      trigger: "coordinator",
      requestedBy: "coordinator-home",
      outcome: "success",
      errorKind: null,
      archive: { name: archive.name, nfiles: 7, originalSize: 5000, compressedSize: 4000, deduplicatedSize: 1234 },
      addedBytes: 1234,
      durationSeconds: 2.5,
      warnings: 2,
      pruned: 1,
      pid: process.pid,
    });
    expect(record?.startedAt.toISOString()).toBe(started.toISOString());
    expect(historyJson(record ?? expect.fail("no record"))).toMatchObject({ run_id: "r1", added_bytes: 1234, archive: { deduplicated_size: 1234 }, requested_by: "coordinator-home" });
    expect(warnings).toEqual([]);
    const db = new Database(path, { readonly: true });
    expect(db.pragma("user_version", { simple: true })).toBe(HISTORY_SCHEMA_VERSION);
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    db.close();
  });

  it("a row left running by a dead process reads as interrupted/crashed; recovery stores it on the same row, keeping its trigger", async () => {
    const { history, path } = await open();
    const started = new Date(Date.now() - 60_000);
    history.started({ runId: "dead", operation: "scheduled", trigger: "button", requestedBy: "Home Assistant", startedAt: started, pid: deadPid(), identity: null });
    history.started({ runId: "other", operation: "prune", trigger: "schedule", requestedBy: null, startedAt: new Date(started.getTime() - 1000), pid: deadPid(), identity: null });
    expect(history.list()[0]).toMatchObject({ runId: "dead", outcome: "interrupted", errorKind: "crashed", trigger: "button" });
    const raw = () => new Database(path, { readonly: true });
    const before = raw();
    expect(before.prepare("SELECT outcome FROM runs WHERE run_id = 'dead'").get()).toEqual({ outcome: "running" });
    before.close();

    const recoveredResult = resultEvent({
      ...summary("dead", started, { operation: "scheduled", trigger: "startup", outcome: "interrupted", finished: new Date() }),
      failure: { kind: "crashed", message: "the drone stopped during scheduled (the process ended unexpectedly); run it again" },
    });
    history.recovered(recoveredResult);
    const after = raw();
    expect(after.prepare("SELECT run_id, outcome, error_kind, error, trigger FROM runs ORDER BY started_ms DESC").all()).toEqual([
      { run_id: "dead", outcome: "interrupted", error_kind: "crashed", error: recoveredResult.error, trigger: "button" },
      { run_id: "other", outcome: "interrupted", error_kind: "crashed", error: expect.stringContaining("prune"), trigger: "schedule" },
    ]);
    // when the process died is not known: no end, no duration; when it was found is noticed_at
    const ends = after.prepare("SELECT run_id, finished_at, noticed_at, duration_seconds FROM runs ORDER BY started_ms DESC").all() as Record<string, unknown>[];
    expect(ends.map(end => [end.run_id, end.finished_at, end.duration_seconds])).toEqual([
      ["dead", null, null],
      ["other", null, null],
    ]);
    for (const end of ends) expect(Date.parse(String(end.noticed_at))).toBeGreaterThanOrEqual(started.getTime());
    after.close();
    const [record] = history.list();
    expect(record).toMatchObject({ runId: "dead", finishedAt: null, durationSeconds: null, noticedAt: expect.any(Date) });
    if (!record) throw new Error("no record");
    expect(historyJson(record)).toMatchObject({ finished_at: null, duration_seconds: null, noticed_at: record.noticedAt?.toISOString() });
    expect(recentRunsAttributes([record]).recent_runs[0]).toMatchObject({ outcome: "interrupted", duration_seconds: null, error_kind: "crashed" });
    // recovery again (another start) changes nothing and adds nothing
    history.recovered(recoveredResult);
    expect(history.list()).toHaveLength(2);
  });

  it("a crashed run whose start was never recorded gets one row from the recovery, its end unknown", async () => {
    const { history } = await open();
    const started = new Date(Date.now() - 60_000);
    const recoveredResult = resultEvent({
      ...summary("unseen", started, { trigger: "startup", outcome: "interrupted", finished: new Date() }),
      failure: { kind: "crashed", message: "the drone stopped during create (the process ended unexpectedly); run it again" },
    });
    history.recovered(recoveredResult);
    history.recovered(recoveredResult);
    expect(history.list()).toEqual([
      expect.objectContaining({ runId: "unseen", outcome: "interrupted", errorKind: "crashed", finishedAt: null, durationSeconds: null, noticedAt: expect.any(Date) }),
    ]);
  });

  it("a version 1 history is brought to the current version: a crashed run's recovery time moves from finished_at to noticed_at", async () => {
    const { dir } = await open();
    const path = join(dir, "v1.history.db");
    const v1 = new Database(path);
    v1.exec(`CREATE TABLE runs (run_id TEXT PRIMARY KEY, operation TEXT NOT NULL, repository TEXT NOT NULL, trigger TEXT NOT NULL, requested_by TEXT,
      started_at TEXT NOT NULL, started_ms INTEGER NOT NULL, finished_at TEXT, outcome TEXT NOT NULL, error_kind TEXT, error TEXT, cancelled_by TEXT,
      archive_name TEXT, nfiles INTEGER, original_size INTEGER, compressed_size INTEGER, deduplicated_size INTEGER, added_bytes INTEGER,
      duration_seconds REAL, warnings INTEGER NOT NULL DEFAULT 0, pruned INTEGER NOT NULL DEFAULT 0, pid INTEGER, process_identity TEXT)`);
    const insert = v1.prepare(
      "INSERT INTO runs (run_id, operation, repository, trigger, started_at, started_ms, finished_at, outcome, error_kind, duration_seconds) VALUES (?, 'create', 'primary', 'cli', ?, ?, ?, ?, ?, ?)",
    );
    insert.run("crashed", "2026-11-01T03:00:00.000Z", Date.parse("2026-11-01T03:00:00.000Z"), "2026-11-04T09:00:00.000Z", "interrupted", "crashed", null);
    insert.run("fine", "2026-11-02T03:00:00.000Z", Date.parse("2026-11-02T03:00:00.000Z"), "2026-11-02T03:01:00.000Z", "success", null, 60);
    v1.pragma("user_version = 1");
    v1.close();
    const history = openRunHistory(path, { days: 4000, runs: 5000 }, () => undefined);
    opened.push(history);
    expect(history.list().map(record => [record.runId, record.finishedAt?.toISOString() ?? null, record.noticedAt?.toISOString() ?? null, record.durationSeconds])).toEqual([
      ["fine", "2026-11-02T03:01:00.000Z", null, 60],
      ["crashed", null, "2026-11-04T09:00:00.000Z", null],
    ]);
    const check = new Database(path, { readonly: true });
    expect(check.pragma("user_version", { simple: true })).toBe(HISTORY_SCHEMA_VERSION);
    check.close();
  });

  it("a start-up with nothing to recover does not open the history; the next write stores a dead process's running row as crashed", async () => {
    const { history, path } = await open();
    history.started({ runId: "dead", operation: "create", trigger: "schedule", requestedBy: null, startedAt: new Date(Date.now() - 60_000), pid: deadPid(), identity: null });
    history.close();
    const again = openRunHistory(path, { days: 400, runs: 5000 }, () => undefined);
    opened.push(again);
    const stored = () => {
      const check = new Database(path, { readonly: true });
      try {
        return check.prepare("SELECT outcome, error_kind FROM runs WHERE run_id = 'dead'").get();
      } finally {
        check.close();
      }
    };
    // closed, the history has no -wal file; opening it (WAL) makes one
    expect(existsSync(`${path}-wal`)).toBe(false);
    again.recovered(undefined);
    expect(existsSync(`${path}-wal`)).toBe(false);
    expect(stored()).toEqual({ outcome: "running", error_kind: null });
    again.started({ runId: "next", operation: "create", trigger: "cli", requestedBy: null, startedAt: new Date(), pid: process.pid, identity: processIdentity() });
    expect(stored()).toEqual({ outcome: "interrupted", error_kind: "crashed" });
  });

  it("keeps each dump of a run with its size, time and outcome (schema version 3), and none for a run without dumps", async () => {
    const { history } = await open();
    const started = new Date(Date.now() - 5000);
    const dumps = [
      { name: "homeassistant", kind: "sqlite" as const, outcome: "success" as const, bytes: 123_456, durationSeconds: 2.34, error: null },
      { name: "paperless", kind: "postgresql" as const, outcome: "failed" as const, bytes: 10, durationSeconds: 0.5, error: "dump paperless (postgresql) exited with 1: pg_dump: error: connection refused" },
    ];
    history.finished(resultEvent(summary("with-dumps", started, { dumps })), null, 1);
    history.finished(resultEvent(summary("without", new Date(started.getTime() - 1000))), null, 0);
    const [withDumps, without] = history.list();
    expect(withDumps?.dumps).toEqual([
      { name: "homeassistant", kind: "sqlite", outcome: "success", size: 123_456, durationSeconds: 2.3, error: null },
      { name: "paperless", kind: "postgresql", outcome: "failed", size: 10, durationSeconds: 0.5, error: "dump paperless (postgresql) exited with 1: pg_dump: error: connection refused" },
    ]);
    expect(historyJson(withDumps ?? expect.fail("no record")).dumps[0]).toEqual({ name: "homeassistant", kind: "sqlite", outcome: "success", size: 123_456, duration_seconds: 2.3, error: null });
    expect(without?.dumps).toEqual([]);
  });

  it("a row of a live process reads as running and is left alone by recovery", async () => {
    const { history } = await open();
    history.started({ runId: "live", operation: "create", trigger: "cli", requestedBy: null, startedAt: new Date(), pid: process.pid, identity: processIdentity() });
    history.recovered(undefined);
    expect(history.list()[0]).toMatchObject({ runId: "live", outcome: "running" });
  });

  it("keeps HISTORY_RUNS runs and HISTORY_DAYS days, trimmed after each finished run; a running row is never trimmed", async () => {
    const { history } = await open({ days: 30, runs: 3 });
    const now = Date.now();
    history.started({ runId: "old-running", operation: "check", trigger: "cli", requestedBy: null, startedAt: new Date(now - 90 * DAY), pid: process.pid, identity: processIdentity() });
    history.finished(resultEvent(summary("ancient", new Date(now - 40 * DAY))), null, 0);
    expect(history.list().map(record => record.runId)).toEqual(["old-running"]);
    for (let index = 0; index < 4; index++) history.finished(resultEvent(summary(`r${index}`, new Date(now - (10 - index) * 60_000))), null, 0);
    // newest first; r0 fell off the count, the running row stays
    expect(history.list().map(record => record.runId)).toEqual(["r3", "r2", "r1", "old-running"]);
  });

  it("answers limit, since and operation, newest first", async () => {
    const { history } = await open();
    const now = Date.now();
    history.finished(resultEvent(summary("a", new Date(now - 3 * DAY))), null, 0);
    history.finished(resultEvent(summary("b", new Date(now - 2 * DAY), { operation: "prune" })), null, 0);
    history.finished(resultEvent(summary("c", new Date(now - DAY))), null, 0);
    expect(history.list().map(record => record.runId)).toEqual(["c", "b", "a"]);
    expect(history.list({ limit: 2 }).map(record => record.runId)).toEqual(["c", "b"]);
    expect(history.list({ since: new Date(now - 2.5 * DAY) }).map(record => record.runId)).toEqual(["c", "b"]);
    expect(history.list({ operation: "create" }).map(record => record.runId)).toEqual(["c", "a"]);
    expect(() => history.list({ limit: 0 })).toThrow(/^history query not valid: limit: .*whole number of at least 1/);
  });

  it("a run that never started (dropped from the queue, refused by another process's lock) gets one row from its result", async () => {
    const { history } = await open();
    const at = new Date();
    history.finished(
      resultEvent({ ...summary("dropped", at, { outcome: "interrupted", finished: at, cancelledBy: "Home Assistant" }), failure: { kind: "cancelled", message: "cancelled before it started" } }),
      null,
      0,
    );
    expect(history.list()).toEqual([
      expect.objectContaining({ runId: "dropped", outcome: "interrupted", errorKind: "cancelled", cancelledBy: "Home Assistant", pid: null, durationSeconds: 0 }),
    ]);
  });

  it("a write that fails warns once and never throws; a database of a newer drone is left alone", async () => {
    const { path, dir } = await open();
    const first = openRunHistory(path, { days: 400, runs: 5000 }, () => undefined);
    first.finished(resultEvent(summary("kept", new Date())), null, 0);
    first.close();
    const db = new Database(path);
    db.pragma(`user_version = ${HISTORY_SCHEMA_VERSION + 1}`);
    db.close();
    const warnings: string[] = [];
    const newer = openRunHistory(path, { days: 400, runs: 5000 }, message => warnings.push(message));
    opened.push(newer);
    newer.started({ runId: "x", operation: "create", trigger: "cli", requestedBy: null, startedAt: new Date(), pid: process.pid, identity: null });
    newer.finished(resultEvent(summary("x", new Date())), null, 0);
    expect(newer.list()).toEqual([]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/could not be opened: .*newer than this drone's.*backups go on without it/);
    const check = new Database(path, { readonly: true });
    expect(check.prepare("SELECT run_id FROM runs").all()).toEqual([{ run_id: "kept" }]);
    check.close();
    expect(dir).toBeTruthy();
  });

  /** A clock and timers the test moves. */
  const fakeTiming = () => {
    const timing = {
      clock: Date.now(),
      timers: [] as { run: () => void; ms: number }[],
      now: () => timing.clock,
      later: (run: () => void, ms: number) => {
        const timer = { run, ms };
        timing.timers.push(timer);
        return () => void timing.timers.splice(timing.timers.indexOf(timer), 1);
      },
      // a held lock fails a write at once: the test does not wait 5 s for it
      busyTimeoutMs: 0,
      /** Run the timers due so far. */
      fire: () => {
        for (const timer of timing.timers.splice(0)) timer.run();
      },
    };
    return timing;
  };

  it("an open that failed is tried again at a later write, no sooner than a minute after; the warning comes again after an hour", async () => {
    const { dir } = await open();
    // the state folder cannot be made: a file sits where it should be
    const blocker = join(dir, "blocked");
    writeFileSync(blocker, "not a folder");
    const path = join(blocker, "histdrone.history.db");
    const timing = fakeTiming();
    const warnings: string[] = [];
    const history = openRunHistory(path, { days: 400, runs: 5000 }, message => warnings.push(message), timing);
    opened.push(history);
    const start = (runId: string) =>
      history.started({ runId, operation: "create", trigger: "cli", requestedBy: null, startedAt: new Date(timing.clock), pid: process.pid, identity: processIdentity() });
    start("lost-1");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/could not be opened: .*backups go on without it/);
    timing.clock += HISTORY_REOPEN_MS + 1;
    start("lost-2");
    // tried again and failed again: no second warning within the hour
    expect(warnings).toHaveLength(1);
    timing.clock += HISTORY_WARN_AGAIN_MS;
    start("lost-3");
    expect(warnings).toHaveLength(2);

    // the folder can be made now; within the minute of the last failure nothing is tried
    unlinkSync(blocker);
    start("within-the-minute");
    expect(existsSync(path)).toBe(false);
    timing.clock += HISTORY_REOPEN_MS + 1;
    start("works-again");
    expect(history.list().map(record => record.runId)).toEqual(["works-again"]);
    expect(warnings).toHaveLength(2);
  });

  it("a run's end that another process kept from being written (SQLITE_BUSY) is written by its one retry", async () => {
    const { path, history: other } = await open();
    // creates the file
    other.list();
    other.finished(resultEvent(summary("before", new Date(Date.now() - 60_000))), null, 0);
    const timing = fakeTiming();
    const warnings: string[] = [];
    const history = openRunHistory(path, { days: 400, runs: 5000 }, message => warnings.push(message), timing);
    opened.push(history);
    const started = new Date(Date.now() - 5000);
    history.started({ runId: "busy", operation: "create", trigger: "cli", requestedBy: null, startedAt: started, pid: process.pid, identity: processIdentity() });
    const holder = new Database(path);
    holder.exec("BEGIN EXCLUSIVE");
    history.finished(resultEvent(summary("busy", started)), "cli (me@host)", 0);
    expect(warnings.join("\n")).toMatch(/could not be written: .*(locked|busy)/i);
    expect(timing.timers.map(timer => timer.ms)).toEqual([HISTORY_RETRY_MS]);
    holder.exec("COMMIT");
    holder.close();
    expect(history.list()[0]).toMatchObject({ runId: "busy", outcome: "running" });
    timing.fire();
    expect(history.list()[0]).toMatchObject({ runId: "busy", outcome: "success", requestedBy: "cli (me@host)", durationSeconds: 2.5 });
  });

  it("a run's end is retried once only, and at close when its retry has not come yet; several wait side by side", async () => {
    const { path, history: other } = await open();
    other.list();
    other.finished(resultEvent(summary("before", new Date(Date.now() - 60_000))), null, 0);
    const timing = fakeTiming();
    const history = openRunHistory(path, { days: 400, runs: 5000 }, () => undefined, timing);
    const holder = new Database(path);
    holder.exec("BEGIN EXCLUSIVE");
    history.finished(resultEvent(summary("twice-busy", new Date())), null, 0);
    // the retry fails too: no third try is planned
    timing.fire();
    expect(timing.timers).toEqual([]);
    // two ends wait for their retry: each is kept, neither replaces the other
    history.finished(resultEvent(summary("at-close", new Date())), null, 0);
    history.finished(resultEvent(summary("at-close-too", new Date(Date.now() + 1000))), null, 0);
    expect(timing.timers).toHaveLength(2);
    holder.exec("COMMIT");
    holder.close();
    history.close();
    expect(timing.timers).toEqual([]);
    expect(other.list().map(record => record.runId)).toEqual(["at-close-too", "at-close", "before"]);
  });

  it("a damaged file is kept aside as .invalid and a new history started", async () => {
    const { path, dir, history } = await open();
    // creates the state folder
    history.finished(resultEvent(summary("elsewhere", new Date())), null, 0);
    const damagedPath = join(dir, "state", "damaged.history.db");
    const warnings: string[] = [];
    const fresh = openRunHistory(damagedPath, { days: 400, runs: 5000 }, message => warnings.push(message));
    opened.push(fresh);
    writeFileSync(damagedPath, "this is not a database, it only sits where one should be ".repeat(100));
    fresh.finished(resultEvent(summary("after", new Date())), null, 0);
    expect(fresh.list().map(record => record.runId)).toEqual(["after"]);
    expect(warnings.join("\n")).toContain(`kept as ${damagedPath}.invalid`);
    expect(statSync(`${damagedPath}.invalid`).size).toBeGreaterThan(0);
    expect(path).not.toBe(damagedPath);
  });

  it("a row that does not pass the schema is skipped with a warning, not returned half-read", async () => {
    const { history, path, warnings } = await open();
    history.finished(resultEvent(summary("good", new Date())), null, 0);
    const db = new Database(path);
    db.prepare("INSERT INTO runs (run_id, operation, repository, trigger, started_at, started_ms, outcome) VALUES ('bad', 'frobnicate', 'primary', 'cli', '2026-11-30T00:00:00.000Z', 1, 'success')").run();
    db.close();
    expect(history.list().map(record => record.runId)).toEqual(["good"]);
    expect(warnings.join("\n")).toMatch(/cannot read; skipped: operation/);
  });
});

describe("--since", () => {
  const now = new Date("2026-11-30T12:00:00.000Z");
  it("reads ages and ISO dates and times", () => {
    expect(parseSince("24h", now).toISOString()).toBe("2026-11-29T12:00:00.000Z");
    expect(parseSince("7d", now).toISOString()).toBe("2026-11-23T12:00:00.000Z");
    expect(parseSince("2w", now).toISOString()).toBe("2026-11-16T12:00:00.000Z");
    expect(parseSince("2026-11-20T08:00:00Z", now).toISOString()).toBe("2026-11-20T08:00:00.000Z");
    // a date alone is local midnight
    const local = parseSince("2026-11-20", now);
    expect([local.getFullYear(), local.getMonth(), local.getDate(), local.getHours(), local.getMinutes()]).toEqual([2026, 10, 20, 0, 0]);
  });
  it("refuses anything else in one line that says what to write", () => {
    for (const bad of ["yesterday", "7", "3x", "0d", "2026-13-45", "2026-02-30", "2026-11-20T25:00"]) {
      expect(() => parseSince(bad, now), bad).toThrow(/^--since ".*" is not a time: write an ISO date or date\/time .* or an age \(24h, 7d, 2w\)$/);
    }
  });
});

describe("the recent_runs attribute of Last Result", () => {
  const record = (index: number, runId = `run-${index}`): HistoryRecord => ({
    runId,
    operation: "scheduled",
    repository: "primary",
    trigger: "coordinator",
    requestedBy: "coordinator",
    startedAt: new Date(Date.UTC(2026, 10, 30, 3, index)),
    finishedAt: new Date(Date.UTC(2026, 10, 30, 3, index, 30)),
    noticedAt: null,
    outcome: "success",
    errorKind: null,
    error: "a long message that the attribute leaves out ".repeat(20),
    cancelledBy: null,
    archive: { name: `d@${index}`, nfiles: 3, originalSize: 10, compressedSize: 9, deduplicatedSize: 4 },
    addedBytes: 4,
    durationSeconds: 30.04,
    warnings: 0,
    pruned: 1,
    pid: 1,
    dumps: [],
  });

  it("lists the ten newest runs, compact: no messages, no archive details", () => {
    const records = Array.from({ length: 15 }, (_, index) => record(14 - index));
    const { recent_runs } = recentRunsAttributes(records);
    expect(recent_runs).toHaveLength(RECENT_RUNS);
    expect(recent_runs[0]).toEqual({
      run_id: "run-14",
      operation: "scheduled",
      trigger: "coordinator",
      outcome: "success",
      started_at: "2026-11-30T03:14:00.000Z",
      duration_seconds: 30,
      added: 4,
      error_kind: null,
    });
    expect(Buffer.byteLength(JSON.stringify({ recent_runs }))).toBeLessThan(2500);
  });

  it("drops the oldest runs to stay within its byte bound", () => {
    const records = Array.from({ length: 10 }, (_, index) => record(9 - index, `${index}-${"x".repeat(600)}`));
    const { recent_runs } = recentRunsAttributes(records);
    expect(recent_runs.length).toBeLessThan(10);
    expect(recent_runs.length).toBeGreaterThan(0);
    expect(recent_runs[0]?.run_id).toMatch(/^0-/);
    expect(Buffer.byteLength(JSON.stringify({ recent_runs }))).toBeLessThanOrEqual(RECENT_RUNS_MAX_BYTES);
  });
});
