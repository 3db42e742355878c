/**
 * The run history on the real borg: what a run leaves on record after success, failure,
 * cancel, kill -9 and SIGTERM, across restarts, and what `backup-drone history` prints.
 */
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";

import Database from "better-sqlite3";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

import { type HistoryRecord } from "../../../apps/drone/index.mjs";
import { TEST_PASSPHRASE, type TestRepository } from "../../helpers/borg.mjs";
import { bootDrone, droneTestConfig, makeDroneRepository } from "../../helpers/drone.mjs";
import { writeRandomFiles } from "../../helpers/fs.mjs";
import { builtBin, startProcess } from "../../helpers/process.mjs";

const MiB = 1024 * 1024;

/** The rows of a history file as stored (not as read through the engine). */
function storedRows(path: string) {
  const db = new Database(path, { readonly: true });
  try {
    return z
      .array(z.object({ run_id: z.string(), outcome: z.string(), error_kind: z.string().nullable(), error: z.string().nullable(), trigger: z.string() }))
      .parse(db.prepare("SELECT run_id, outcome, error_kind, error, trigger FROM runs ORDER BY started_ms DESC").all());
  } finally {
    db.close();
  }
}

const historyLineSchema = z.object({
  run_id: z.string(),
  operation: z.string(),
  trigger: z.string(),
  requested_by: z.string().nullable(),
  started_at: z.string(),
  finished_at: z.string().nullable(),
  outcome: z.string(),
  error_kind: z.string().nullable(),
  archive: z.object({ name: z.string(), nfiles: z.number(), deduplicated_size: z.number() }).nullable(),
  added_bytes: z.number().nullable(),
  duration_seconds: z.number().nullable(),
  pid: z.number().nullable(),
});
const historyLines = (text: string) =>
  text
    .split("\n")
    .filter(line => line.trim().length > 0)
    .map(line => historyLineSchema.parse(JSON.parse(line)));

describe("the run history on the real borg", () => {
  let repo: TestRepository | undefined;
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await repo?.remove();
    repo = undefined;
  });

  it("a successful create is running while it runs, then recorded with its archive and what it added; the record survives a restart", async () => {
    repo = await makeDroneRepository(4, 64 * 1024);
    const config = droneTestConfig(repo);
    const first = await bootDrone(config);
    cleanups.push(first.teardown);
    let during: HistoryRecord[] = [];
    first.engine.onProgress(() => {
      if (during.length === 0) during = first.engine.history();
    });
    const result = await first.engine.run("create", "library", { requestedBy: "a test" });
    expect(result.outcome).toBe("success");
    expect(during[0]).toMatchObject({ runId: result.run_id, outcome: "running", finishedAt: null, pid: process.pid });

    const expected = {
      runId: result.run_id,
      operation: "create",
      repository: "primary",
      trigger: "library",
      requestedBy: "a test",
      outcome: "success",
      errorKind: null,
      archive: {
        name: result.archive?.name,
        nfiles: 4,
        originalSize: result.archive?.original_size,
        compressedSize: result.archive?.compressed_size,
        deduplicatedSize: result.archive?.deduplicated_size,
      },
      addedBytes: result.archive?.deduplicated_size,
      durationSeconds: result.duration_seconds,
      warnings: 0,
      pid: process.pid,
    };
    expect(first.engine.history()).toEqual([expect.objectContaining(expected)]);
    expect(result.archive?.deduplicated_size).toBeGreaterThan(0);
    await first.teardown();
    cleanups.pop();

    const second = await bootDrone(config);
    cleanups.push(second.teardown);
    const again = await second.engine.run("stats", "library");
    const records = second.engine.history();
    expect(records.map(record => record.runId)).toEqual([again.run_id, result.run_id]);
    expect(records[1]).toMatchObject(expected);
    expect(second.engine.history({ operation: "create" }).map(record => record.runId)).toEqual([result.run_id]);
  });

  it("a failed run is recorded with its error kind and message", async () => {
    repo = await makeDroneRepository(1, 1024);
    const drone = await bootDrone(droneTestConfig(repo, { REPOSITORY: join(repo.root, "no-such-repository") }));
    cleanups.push(drone.teardown);
    const result = await drone.engine.run("create", "library");
    expect(result.outcome).toBe("failed");
    expect(result.error_kind).not.toBeNull();
    expect(drone.engine.history()).toEqual([
      expect.objectContaining({ runId: result.run_id, outcome: "failed", errorKind: result.error_kind, error: result.error, archive: null, addedBytes: null }),
    ]);
  });

  it("a cancel during a real create: the run is interrupted/cancelled with who cancelled it, the queued job dropped is on record too", async () => {
    repo = await makeDroneRepository(0, 0);
    await writeRandomFiles(join(repo.root, "source"), 16, MiB);
    const drone = await bootDrone(droneTestConfig(repo, { COMPRESSION: "lzma,9" }));
    cleanups.push(drone.teardown);
    const underway = new Promise<void>(resolve =>
      drone.engine.onProgress(event => {
        if (event.original_size > 0) resolve();
      }),
    );
    const answer = drone.engine.request("create", "library");
    const queued = drone.engine.request("stats", "button", { requestedBy: "Home Assistant" });
    if (!answer.accepted || !queued.accepted) throw new Error("refused");
    await underway;
    const cancel = await drone.engine.cancel("the tester");
    expect(cancel.cancelled?.result).toMatchObject({ outcome: "interrupted", error_kind: "cancelled", cancelled_by: "the tester" });
    const records = drone.engine.history();
    const byRun = new Map(records.map(record => [record.runId, record]));
    expect(records).toHaveLength(2);
    expect(byRun.get(answer.runId)).toMatchObject({ outcome: "interrupted", errorKind: "cancelled", cancelledBy: "the tester", pid: process.pid });
    expect(byRun.get(answer.runId)?.finishedAt).not.toBeNull();
    expect(byRun.get(queued.runId)).toMatchObject({
      operation: "stats",
      trigger: "button",
      requestedBy: "Home Assistant",
      outcome: "interrupted",
      errorKind: "cancelled",
      cancelledBy: "the tester",
      pid: null,
    });
  });

  it("kill -9 of a process mid-create: running while it lives (a run it refuses is on record too), then interrupted/crashed, stored so on the same row by recovery", async () => {
    repo = await makeDroneRepository(2, 64 * 1024);
    const config = droneTestConfig(repo, { COMPRESSION: "lzma,9" });
    await writeRandomFiles(join(repo.root, "source"), 24, MiB, "more");
    const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "../../helpers/crash-drone.mts"), JSON.stringify(config)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const lines = createInterface({ input: child.stdout });
    await new Promise<void>((resolve, reject) => {
      lines.on("line", line => {
        if (/^RUNNING \d+$/.test(line)) resolve();
      });
      child.on("exit", code => reject(new Error(`crash drone exited early (${code})`)));
    });
    const path = join(repo.root, "state", "testdrone.history.db");
    const [stored] = storedRows(path);
    expect(stored).toMatchObject({ outcome: "running", trigger: "cli" });

    // another process of the drone, while the create runs: its own run is refused by the run lock, and recorded so
    const restarted = await bootDrone(config);
    cleanups.push(restarted.teardown);
    const refused = await restarted.engine.run("stats", "library");
    expect(refused).toMatchObject({ outcome: "failed", error_kind: "busy" });
    expect(restarted.engine.history()).toEqual([
      expect.objectContaining({ runId: refused.run_id, outcome: "failed", errorKind: "busy", pid: null }),
      expect.objectContaining({ runId: stored?.run_id, outcome: "running", pid: child.pid }),
    ]);

    const exited = new Promise(resolve => child.on("exit", resolve));
    child.kill("SIGKILL");
    await exited;
    // read before any recovery: the dead owner is seen
    expect(restarted.engine.history({ operation: "create" })).toEqual([
      expect.objectContaining({ runId: stored?.run_id, outcome: "interrupted", errorKind: "crashed", trigger: "cli", pid: child.pid }),
    ]);
    const recovered = await restarted.engine.recover();
    expect(recovered).toMatchObject({ run_id: stored?.run_id, error_kind: "crashed" });
    expect(storedRows(path)).toEqual([
      expect.objectContaining({ run_id: refused.run_id, outcome: "failed", error_kind: "busy" }),
      { run_id: stored?.run_id, outcome: "interrupted", error_kind: "crashed", error: recovered?.error, trigger: "cli" },
    ]);
    expect(restarted.engine.history()).toHaveLength(2);
    // when it died is not known: no end, no duration; noticed_at says when the recovery found it
    expect(restarted.engine.history({ operation: "create" })[0]).toMatchObject({ finishedAt: null, durationSeconds: null, noticedAt: expect.any(Date) });
  });
});

describe("backup-drone history, the command", () => {
  let bin = "";
  beforeAll(async () => {
    bin = await builtBin("backup-drone");
  }, 120_000);
  let repo: TestRepository | undefined;
  afterEach(async () => {
    await repo?.remove();
    repo = undefined;
  });

  it("SIGTERM of a one-shot create leaves it interrupted on record; the table and JSON lines show the runs; a bad --since is a usage error", async () => {
    repo = await makeDroneRepository(2, 64 * 1024);
    const configFile = join(repo.root, "backup_drone.json");
    const drone = {
      DRONE_ID: "histcli",
      REPOSITORY: repo.repository.location,
      SOURCES: [join(repo.root, "source")],
      STATE_DIR: join(repo.root, "state"),
      BORG_BASE_DIR: repo.repository.baseDir,
      LOCK_WAIT_SECONDS: 2,
    };
    await writeFile(configFile, JSON.stringify({ drone }));
    const options = { cwd: repo.root, env: { DRONE_PASSPHRASE: TEST_PASSPHRASE } };
    const args = ["--config", configFile];
    const run = (command: string[]) => startProcess(bin, [...command, ...args], options).done;

    const created = await run(["create", "--json"]);
    expect(created.code, created.stderr).toBe(0);

    await writeRandomFiles(join(repo.root, "source"), 8, 4 * MiB, "big");
    // live progress (the default is one event a minute): SIGTERM goes out while borg reads
    const slow = startProcess(bin, ["create", "--json", "--COMPRESSION=lzma,9", "--PROGRESS_INTERVAL_MS=200", ...args], options);
    await slow.waitFor(/"original_size":[1-9]/, 30_000);
    slow.kill("SIGTERM");
    const stopped = await slow.done;
    expect(stopped.code).toBe(3);

    const listed = await run(["history", "--json"]);
    expect(listed.code, listed.stderr).toBe(0);
    const records = historyLines(listed.stdout);
    expect(records).toHaveLength(2);
    const [interrupted, success] = records;
    expect(interrupted).toMatchObject({ operation: "create", trigger: "cli", outcome: "interrupted", error_kind: "interrupted" });
    expect(interrupted?.finished_at).not.toBeNull();
    expect(interrupted?.requested_by).toMatch(/^cli \(.+@.+\)$/);
    expect(success).toMatchObject({ operation: "create", outcome: "success", error_kind: null });
    expect(success?.added_bytes).toBe(success?.archive?.deduplicated_size);
    expect(success?.archive?.nfiles).toBe(2);

    const limited = await run(["history", "--json", "--limit", "1"]);
    expect(historyLines(limited.stdout).map(record => record.run_id)).toEqual([interrupted?.run_id]);
    const future = await run(["history", "--json", "--since", "2999-01-01"]);
    expect(future.code).toBe(0);
    expect(future.stdout).toBe("");
    const recent = await run(["history", "--json", "--since", "1h"]);
    expect(historyLines(recent.stdout)).toHaveLength(2);

    const table = await run(["history"]);
    expect(table.code).toBe(0);
    const rows = table.stdout.trimEnd().split("\n");
    expect(rows[0]).toMatch(/WHEN\s+OPERATION\s+TRIGGER\s+OUTCOME\s+DURATION\s+FILES\s+ADDED\s+ERROR KIND/);
    expect(rows).toHaveLength(3);
    expect(rows[1]).toMatch(/create\s+cli\s+interrupted\s+.*\s+–\s+–\s+interrupted$/);
    expect(rows[2]).toMatch(/create\s+cli\s+success\s+.*\s2\s+\d+(\.\d+)? KiB$/);
    expect(table.stderr).toContain("2 runs, newest first");

    const bad = await run(["history", "--since", "last tuesday"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.split("\n")[0]).toBe(
      'backup-drone: --since "last tuesday" is not a time: write an ISO date or date/time (2026-11-20, 2026-11-20T08:00) or an age (24h, 7d, 2w)',
    );
    const badLimit = await run(["history", "--limit", "0"]);
    expect(badLimit.code).toBe(2);
    expect(badLimit.stderr).toContain("--limit takes a whole number of at least 1");
  });
});
