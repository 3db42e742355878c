/**
 * Cancel, through the engine (the library call the Cancel button, the `cancel` command and
 * `backup-drone cancel` end in), on real borg repositories: what borg keeps, what runs after
 * (nothing), what the result says, and what a second cancel, an idle cancel and a request
 * during the wind-down get.
 */
import { existsSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { type DroneEngine } from "../../../apps/drone/core/engine.mjs";
import { nextBackupState } from "../../../apps/drone/ha/values.mjs";
import { buildStatusEvent } from "../../../apps/drone/ha/status.mjs";
import { type ResultEvent } from "../../../libs/protocol/index.mjs";
import { type TestRepository } from "../../helpers/borg.mjs";
import { bootDrone, droneTestConfig, makeDroneRepository } from "../../helpers/drone.mjs";
import { writeRandomFiles } from "../../helpers/fs.mjs";
import { groupGone, liveInGroup, numberInFile } from "../../helpers/process-group.mjs";

const MiB = 1024 * 1024;
const CHECKPOINT_SENTENCE = "borg kept a checkpoint, and the next run reuses what it uploaded until then";

/** Resolves once borg create has read `bytes` of the sources (the progress events say so). */
const createdAtLeast = (engine: DroneEngine, bytes: number) =>
  new Promise<void>(resolve =>
    engine.onProgress(event => {
      if (event.state === "creating" && event.original_size >= bytes) resolve();
    }),
  );

/** Resolves once the engine shows `state`. */
const reachesState = (engine: DroneEngine, state: ReturnType<DroneEngine["live"]>["state"]) =>
  new Promise<void>(resolve => {
    if (engine.live().state === state) return resolve();
    const stop = engine.onChange(() => {
      if (engine.live().state !== state) return;
      stop();
      resolve();
    });
  });

const accepted = (answer: ReturnType<DroneEngine["request"]>) => {
  if (!answer.accepted) throw new Error(`refused: ${answer.reason}`);
  return answer;
};

describe("cancel, on real borg", () => {
  let repo: TestRepository | undefined;
  const teardowns: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const teardown of teardowns.splice(0).reverse()) await teardown();
    await repo?.remove();
    repo = undefined;
  });

  async function boot(extra: Record<string, unknown> = {}) {
    if (!repo) throw new Error("no repository");
    const drone = await bootDrone(droneTestConfig(repo, extra));
    teardowns.push(drone.teardown);
    return drone;
  }

  it("cancel during a create: interrupted, cancelled, by whom; the checkpoint is kept, borg check is clean, the next create reuses it", async () => {
    repo = await makeDroneRepository(0, 0);
    const dataSize = await writeRandomFiles(join(repo.root, "source"), 16, MiB);
    // lzma,9 on random data: a few MB/s, slow enough to cancel while borg reads; many files,
    // since borg 1.2 acts on SIGINT between files
    const { engine } = await boot({ COMPRESSION: "lzma,9" });
    const underway = createdAtLeast(engine, 2 * MiB);
    const answer = accepted(engine.request("create", "library"));
    await underway;

    const cancelled = await engine.cancel("library test");
    const result = await answer.done;
    expect(cancelled).toEqual({ cancelled: { runId: answer.runId, operation: "create", result }, dropped: [] });
    expect(result).toMatchObject({
      run_id: answer.runId,
      outcome: "interrupted",
      error_kind: "cancelled",
      cancelled_by: "library test",
      error: `cancelled by library test; ${CHECKPOINT_SENTENCE}`,
      archive: null,
    });
    expect(engine.live()).toMatchObject({ state: "idle", operation: null, runId: null });
    expect(engine.persisted()).toMatchObject({ running: null, lastResult: "interrupted", lastBackup: null });

    const client = engine.client("primary");
    const archives = (await client.list({ considerCheckpoints: true })).value.archives.map(archive => archive.name);
    expect(archives).toEqual([expect.stringMatching(/^testdrone@.*\.checkpoint$/)]);
    const check = await client.check();
    expect(check.outcome).toBe("success");

    const next = await engine.run("create", "library");
    expect(next.outcome).toBe("success");
    expect(next.archive?.original_size).toBeGreaterThanOrEqual(dataSize);
    // what the checkpoint uploaded is not stored again
    expect(next.archive?.deduplicated_size).toBeLessThan(dataSize - MiB);
  });

  it("a cancelled scheduled run prunes nothing, compacts nothing, runs neither its after hook nor on_error", async () => {
    repo = await makeDroneRepository(4, 64 * 1024);
    const afterMark = join(repo.root, "after.ran");
    const errorMark = join(repo.root, "on-error.ran");
    // KEEP_DAILY=1 alone: a prune after this run would remove the older of the two archives below
    const rules = { KEEP_DAILY: 1, KEEP_WEEKLY: 0, KEEP_MONTHLY: 0, KEEP_YEARLY: 0, KEEP_WITHIN: "" };
    const first = await boot(rules);
    expect((await first.engine.run("create", "library")).outcome).toBe("success");
    expect((await first.engine.run("create", "library")).outcome).toBe("success");
    await first.teardown();
    teardowns.splice(0);
    const before = (await first.engine.client("primary").list()).value.archives.map(archive => archive.name);
    expect(before).toHaveLength(2);

    await writeRandomFiles(join(repo.root, "source", "more"), 16, MiB);
    const { engine } = await boot({
      ...rules,
      COMPRESSION: "lzma,9",
      HOOK_AFTER: `touch ${afterMark}`,
      HOOK_ON_ERROR: `touch ${errorMark}`,
    });
    const steps: string[] = [];
    engine.onChange(() => {
      const state = engine.live().state;
      if (steps.at(-1) !== state) steps.push(state);
    });
    const underway = createdAtLeast(engine, 2 * MiB);
    const answer = accepted(engine.request("scheduled", "schedule"));
    await underway;
    const { cancelled } = await engine.cancel("Home Assistant (Cancel button)");
    const result = await answer.done;

    expect(cancelled?.result).toBe(result);
    expect(result).toMatchObject({ operation: "scheduled", outcome: "interrupted", error_kind: "cancelled", cancelled_by: "Home Assistant (Cancel button)", pruned: [] });
    expect(steps).not.toContain("pruning");
    expect(steps).not.toContain("compacting");
    const after = (await engine.client("primary").list()).value.archives.map(archive => archive.name);
    expect(after).toEqual(before);
    expect(engine.persisted().lastPrune).toBeNull();
    expect(existsSync(afterMark)).toBe(false);
    expect(existsSync(errorMark)).toBe(false);
  });

  it("cancel while the before hook runs: the hook's process group is stopped, borg never starts", async () => {
    repo = await makeDroneRepository(2, 1024);
    const pidFile = join(repo.root, "hook.pid");
    const { engine } = await boot({ HOOK_BEFORE: `echo $$ > ${pidFile}; sleep 60 & sleep 60` });
    const answer = accepted(engine.request("scheduled", "button"));
    const pgid = await numberInFile(pidFile);
    expect(liveInGroup(pgid).filter(member => /^\d+ \S+ sleep 60$/.test(member))).toHaveLength(2);

    await engine.cancel("library test");
    const result = await answer.done;
    expect(await groupGone(pgid)).toBe(true);
    expect(result).toMatchObject({ outcome: "interrupted", error_kind: "cancelled", cancelled_by: "library test" });
    expect(result.error).toBe("cancelled by library test — before hook stopped: the run was interrupted; its processes were stopped");
    expect((await engine.client("primary").list({ considerCheckpoints: true })).value.archives).toEqual([]);
  });

  it("cancel while the passcommand runs: it is stopped with its processes, borg never starts", async () => {
    repo = await makeDroneRepository(2, 1024);
    const pidFile = join(repo.root, "passcommand.pid");
    const { engine } = await boot({ PASSPHRASE: "", PASSCOMMAND: `echo $$ > ${pidFile}; sleep 60; echo never` });
    const answer = accepted(engine.request("create", "button"));
    const pgid = await numberInFile(pidFile);
    await engine.cancel("library test");
    const result = await answer.done;
    expect(await groupGone(pgid)).toBe(true);
    expect(result).toMatchObject({ outcome: "interrupted", error_kind: "cancelled", cancelled_by: "library test" });
    expect(result.error).toContain("passcommand");
    expect(result.error).toContain("before borg create started");
    expect(engine.persisted().running).toBeNull();
  });

  it("cancel during a check: borg 1.2 ignores a first SIGINT there, so it gets SIGTERM and the check ends interrupted", async () => {
    repo = await makeDroneRepository(0, 0);
    await writeRandomFiles(join(repo.root, "source"), 48, 2 * MiB);
    const { engine } = await boot({ COMPRESSION: "none" });
    expect((await engine.run("create", "library")).outcome).toBe("success");
    const answer = accepted(engine.request("verify", "library"));
    await reachesState(engine, "verifying_data");
    await engine.cancel("library test");
    const result = await answer.done;
    expect(result).toMatchObject({ operation: "verify", outcome: "interrupted", error_kind: "cancelled", cancelled_by: "library test" });
    expect(result.error).not.toContain("checkpoint");
    expect(engine.persisted().lastCheck).toBeNull();
  });

  it("a second cancel while the first is under way answers the same; a request during the wind-down queues and runs", async () => {
    repo = await makeDroneRepository(0, 0);
    await writeRandomFiles(join(repo.root, "source"), 16, MiB);
    const { engine } = await boot({ COMPRESSION: "lzma,9" });
    const underway = createdAtLeast(engine, MiB);
    const answer = accepted(engine.request("create", "library"));
    await underway;

    const first = engine.cancel("first");
    const second = engine.cancel("second");
    const later = accepted(engine.request("stats", "library"));
    expect(later.queued).toBe(true);
    const [one, two] = await Promise.all([first, second]);
    expect(two).toEqual(one);
    expect(one.cancelled?.runId).toBe(answer.runId);
    expect((await answer.done).cancelled_by).toBe("first");

    const stats: ResultEvent = await later.done;
    expect(stats).toMatchObject({ operation: "stats", outcome: "success", cancelled_by: null });
  });

  it("queued operations are dropped, each with its own result; a cancel when idle cancels nothing", async () => {
    repo = await makeDroneRepository(2, 1024);
    const pidFile = join(repo.root, "hook.pid");
    const { engine } = await boot({ HOOK_BEFORE: `echo $$ > ${pidFile}; sleep 60` });
    const results: ResultEvent[] = [];
    engine.onResult(result => results.push(result));
    const running = accepted(engine.request("scheduled", "button"));
    const waiting = accepted(engine.request("stats", "button"));
    await numberInFile(pidFile);

    const answer = await engine.cancel("library test");
    expect(answer.dropped).toEqual(["stats"]);
    expect(answer.cancelled?.runId).toBe(running.runId);
    const dropped = await waiting.done;
    expect(dropped).toMatchObject({ run_id: waiting.runId, outcome: "interrupted", error_kind: "cancelled", cancelled_by: "library test", duration_seconds: 0 });
    expect(results.map(result => result.run_id).sort()).toEqual([running.runId, waiting.runId].sort());

    expect(await engine.cancel("library test")).toEqual({ cancelled: null, dropped: [] });
    expect(results).toHaveLength(2);
  });

  it("standalone: a cancelled backup is not started again by the schedule until its next regular time; a press runs at once and clears it", async () => {
    repo = await makeDroneRepository(2, 1024);
    const pidFile = join(repo.root, "hook.pid");
    const gate = join(repo.root, "hold");
    // the before hook waits while the gate file exists: the first run is held there and cancelled
    await writeFile(gate, "");
    const drone = await boot({ MODE: "standalone", FREQUENCY_MINUTES: 60, HOOK_BEFORE: `echo $$ > ${pidFile}; while [ -e ${gate} ]; do sleep 0.1; done` });
    const { engine } = drone;
    const running = accepted(engine.request("scheduled", "schedule"));
    await numberInFile(pidFile);
    await engine.cancel("library test");
    expect((await running.done).error_kind).toBe("cancelled");
    const cancelledAt = engine.persisted().cancelledAt.primary;
    expect(cancelledAt).not.toBeNull();
    const regular = new Date(Date.parse(cancelledAt!) + 60 * 60_000);

    // never backed up, so without the cancel it would be due now; the schedule now waits an hour
    const now = new Date();
    expect(engine.due(now)).toEqual([]);
    expect(engine.due(regular)).toEqual(["scheduled"]);
    drone.params.drone.standalone.enable();
    drone.params.drone.standalone.tick();
    expect(engine.live()).toMatchObject({ state: "idle", operation: null, queue: [] });
    expect(nextBackupState(engine.settings(), engine.persisted(), null, now)).toBe(regular.toISOString());
    expect(buildStatusEvent(engine, {}, "test", now)).toMatchObject({ cancelled_at: cancelledAt, offsite_cancelled_at: null });

    await rm(gate);
    const pressed = await engine.run("create", "button");
    expect(pressed.outcome).toBe("success");
    expect(engine.persisted().cancelledAt.primary).toBeNull();
    expect(buildStatusEvent(engine, {}, "test").cancelled_at).toBeNull();
  });

  it("a backup dropped from the queue by a cancel is put off too; the cancelled compact in front of it puts off nothing", async () => {
    repo = await makeDroneRepository(2, 1024);
    const pidFile = join(repo.root, "passcommand.pid");
    const { engine } = await boot({ MODE: "standalone", PASSPHRASE: "", PASSCOMMAND: `echo $$ > ${pidFile}; sleep 60; echo never` });
    const compact = accepted(engine.request("compact", "button"));
    const waiting = accepted(engine.request("scheduled", "schedule"));
    expect(waiting.queued).toBe(true);
    await numberInFile(pidFile);
    expect(engine.due()).toEqual(["scheduled"]);
    expect(await engine.cancel("library test")).toMatchObject({ dropped: ["scheduled"] });
    expect((await compact.done).error_kind).toBe("cancelled");
    expect((await waiting.done).error_kind).toBe("cancelled");
    expect(engine.persisted().cancelledAt).toEqual({ primary: expect.any(String), offsite: null });
    expect(engine.due()).toEqual([]);
  });
});
