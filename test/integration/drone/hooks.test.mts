/**
 * Hooks that hang: a hook whose child keeps its output open is stopped with its whole
 * process group at its timeout, at a shutdown and at the run's timeout, and the result says
 * what happened. The hooks are real shells; the runs use a real borg repository.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { defaultConfigValues, parseDroneConfig } from "../../../apps/drone/config.mjs";
import { createDroneEngine } from "../../../apps/drone/core/engine.mjs";
import { runHook } from "../../../apps/drone/core/hooks.mjs";
import { openStateStore } from "../../../apps/drone/core/state.mjs";
import { type TestRepository } from "../../helpers/borg.mjs";
import { bootDrone, droneTestConfig, makeDroneRepository } from "../../helpers/drone.mjs";
import { writeRandomFiles } from "../../helpers/fs.mjs";
import { groupGone, liveInGroup, numberInFile } from "../../helpers/process-group.mjs";

const MiB = 1024 * 1024;
const quiet = () => undefined;
const QUIET_LOG = { debug: quiet, info: quiet, warn: quiet, error: quiet };

/** A hook that writes its process (group) id, then waits on a child that keeps stdout open. */
const hangingHook = (pidFile: string) => `echo $$ > ${pidFile}; echo started; sleep 60 & sleep 60`;

/** The hook's group while it runs: the shell and both sleeps, in a group of their own. */
async function runningGroup(pidFile: string): Promise<number> {
  const pgid = await numberInFile(pidFile);
  const members = liveInGroup(pgid);
  expect(members.filter(member => /^\d+ \S+ sleep 60$/.test(member))).toHaveLength(2);
  return pgid;
}

describe("hooks that hang", () => {
  let repo: TestRepository | undefined;
  const cleanups: (() => Promise<unknown>)[] = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await repo?.remove();
    repo = undefined;
  });

  it("at its timeout a hook is stopped with every process of its group, though a child held its output open", async () => {
    repo = await makeDroneRepository(0, 0);
    const pidFile = join(repo.root, "hook.pid");
    const outcome = runHook("before", { command: hangingHook(pidFile), policy: "break" }, 2, { PATH: process.env.PATH ?? "/usr/bin:/bin" });
    const pgid = await runningGroup(pidFile);
    const ended = await outcome;
    expect(ended).toEqual({
      ok: false,
      summary: "before hook timed out after 2 s; its processes were stopped",
      output: ["started"],
      interrupted: false,
    });
    expect(liveInGroup(pgid)).toEqual([]);
    expect(await groupGone(pgid)).toBe(true);
  });

  it("a before hook that times out fails the run (policy break) before borg starts; its group is gone", async () => {
    repo = await makeDroneRepository(1, 1024);
    const pidFile = join(repo.root, "hook.pid");
    const drone = await bootDrone(droneTestConfig(repo, { HOOK_BEFORE: hangingHook(pidFile), HOOK_TIMEOUT_SECONDS: 2 }));
    cleanups.push(drone.teardown);
    const answer = drone.engine.request("scheduled", "library");
    if (!answer.accepted) throw new Error(answer.reason);
    const pgid = await runningGroup(pidFile);
    const result = await answer.done;
    expect(result).toMatchObject({
      outcome: "failed",
      error_kind: "hook_failed",
      error: "before hook timed out after 2 s; its processes were stopped; the run stopped (policy break)",
      archive: null,
    });
    expect(liveInGroup(pgid)).toEqual([]);
    expect(await groupGone(pgid)).toBe(true);
    expect((await drone.engine.client("primary").list()).value.archives).toEqual([]);
  });

  it("a shutdown mid-hook stops the hook's group at once and ends the run as interrupted; on_error is not started", async () => {
    repo = await makeDroneRepository(1, 1024);
    const pidFile = join(repo.root, "hook.pid");
    const onErrorFile = join(repo.root, "on-error.ran");
    const drone = await bootDrone(
      droneTestConfig(repo, { HOOK_BEFORE: hangingHook(pidFile), HOOK_TIMEOUT_SECONDS: 600, HOOK_ON_ERROR: `touch ${onErrorFile}` }),
    );
    const answer = drone.engine.request("scheduled", "library");
    if (!answer.accepted) throw new Error(answer.reason);
    const pgid = await runningGroup(pidFile);
    await drone.teardown();
    const result = await answer.done;
    expect(result).toMatchObject({
      outcome: "interrupted",
      error_kind: "interrupted",
      error: "before hook stopped: the run was interrupted (the drone is shutting down); its processes were stopped",
      archive: null,
    });
    expect(liveInGroup(pgid)).toEqual([]);
    expect(await groupGone(pgid)).toBe(true);
    expect(existsSync(onErrorFile)).toBe(false);
    expect(drone.engine.persisted().running).toBeNull();
  });

  it("the run timeout mid-hook stops the hook's group; the message says so and claims no checkpoint; on_error reports it", async () => {
    repo = await makeDroneRepository(1, 1024);
    const pidFile = join(repo.root, "hook.pid");
    const onErrorFile = join(repo.root, "on-error.txt");
    const values = droneTestConfig(repo, {
      HOOK_BEFORE: hangingHook(pidFile),
      HOOK_TIMEOUT_SECONDS: 600,
      HOOK_ON_ERROR: `printf '%s' "$BACKUP_ERROR" > ${onErrorFile}`,
    });
    // RUN_TIMEOUT_MINUTES is at least 1 in a configuration; the engine takes any length
    const config = { ...parseDroneConfig({ ...defaultConfigValues(), ...values }), runTimeoutMinutes: 0.05 };
    const store = await openStateStore(join(config.stateDir, `${config.droneId}.json`), quiet);
    const engine = createDroneEngine({ config, store, log: QUIET_LOG });
    cleanups.push(() => engine.shutdown());
    const answer = engine.request("scheduled", "library");
    if (!answer.accepted) throw new Error(answer.reason);
    const pgid = await runningGroup(pidFile);
    const result = await answer.done;
    const message =
      "the run took longer than 0.05 minutes and was interrupted — before hook stopped: the run was interrupted (run timeout); its processes were stopped";
    expect(result).toMatchObject({ outcome: "interrupted", error_kind: "run_timeout", error: message, archive: null });
    expect(result.error).not.toContain("checkpoint");
    expect(liveInGroup(pgid)).toEqual([]);
    expect(await groupGone(pgid)).toBe(true);
    const { readFile } = await import("node:fs/promises");
    expect(await readFile(onErrorFile, "utf8")).toBe(message);
  });

  it("the run timeout during borg create claims the checkpoint borg really wrote", async () => {
    repo = await makeDroneRepository(0, 0);
    // far more than lzma -9 gets through before the 3 s run timeout on any machine (it reads
    // random data at a few MiB/s): borg is always mid-create when the timeout interrupts it
    await writeRandomFiles(join(repo.root, "source"), 96, MiB);
    const values = droneTestConfig(repo, { COMPRESSION: "lzma,9" });
    const config = { ...parseDroneConfig({ ...defaultConfigValues(), ...values }), runTimeoutMinutes: 0.05 };
    const store = await openStateStore(join(config.stateDir, `${config.droneId}.json`), quiet);
    const engine = createDroneEngine({ config, store, log: QUIET_LOG });
    cleanups.push(() => engine.shutdown());
    const result = await engine.run("create", "library");
    expect(result).toMatchObject({
      outcome: "interrupted",
      error_kind: "run_timeout",
      error: "the run took longer than 0.05 minutes and was interrupted; borg kept a checkpoint, and the next run reuses what it uploaded until then",
    });
    const archives = (await engine.client("primary").list({ considerCheckpoints: true })).value.archives;
    expect(archives.map(archive => archive.name)).toEqual([expect.stringMatching(/^testdrone@.*\.checkpoint$/)]);
  });
});
