/**
 * A repository lock left by the drone's own dead run, with the real borg on a local
 * repository. The "orphaned borg serve" of a NAS is played by `borg with-lock REPO sleep`
 * under another BORG_HOST_ID (so borg's own removal of a same-host stale lock does not
 * apply), and the crash by a state file whose running record names dead processes. The
 * holder is ended with SIGKILL: like an orphaned serve, it must commit nothing more (borg
 * with-lock ended otherwise commits on its way out, which a serve without a client never does).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { once } from "node:events";
import { join } from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { defaultConfigValues, parseDroneConfig } from "../../../apps/drone/config.mjs";
import { createDroneEngine } from "../../../apps/drone/core/engine.mjs";
import { processIdentity } from "../../../apps/drone/core/process-identity.mjs";
import { openStateStore } from "../../../apps/drone/core/state.mjs";
import { type TestRepository } from "../../helpers/borg.mjs";
import { droneTestConfig, makeDroneRepository } from "../../helpers/drone.mjs";

const quiet = () => undefined;

describe("a lock left on the repository by the drone's dead run", () => {
  let repo: TestRepository | undefined;
  const holders: ChildProcess[] = [];

  afterEach(async () => {
    for (const holder of holders.splice(0)) {
      if (holder.exitCode === null && holder.signalCode === null && holder.pid !== undefined) {
        const exited = once(holder, "exit");
        // the whole group: borg with-lock and the sleep it runs
        process.kill(-holder.pid, "SIGKILL");
        await exited;
      }
    }
    await repo?.remove();
    repo = undefined;
  });

  /** The drone's engine on the test repository, with its log lines kept. */
  const drone = async (repository: TestRepository, extra: Record<string, unknown> = {}) => {
    const config = parseDroneConfig({ ...defaultConfigValues(), ...droneTestConfig(repository, extra) });
    const store = await openStateStore(join(config.stateDir, `${config.droneId}.json`), quiet);
    const warnings: string[] = [];
    const engine = createDroneEngine({ config, store, log: { debug: quiet, info: quiet, warn: line => void warnings.push(line), error: quiet } });
    return { engine, store, warnings, location: config.repository, baseDir: config.borgBaseDir ?? "" };
  };

  /** Another host's borg holding the repository's exclusive lock until killed. */
  const orphanedServe = async (repository: TestRepository) => {
    const holder = spawn("borg", ["with-lock", repository.repository.location, "sh", "-c", "echo locked; exec sleep 1000"], {
      env: { ...process.env, BORG_BASE_DIR: join(repository.root, "nas-base"), BORG_HOST_ID: "nas-serve@4242" },
      stdio: ["ignore", "pipe", "inherit"],
      detached: true,
    });
    holders.push(holder);
    await new Promise<void>((resolve, reject) => {
      holder.stdout.once("data", () => resolve());
      holder.once("exit", code => reject(new Error(`borg with-lock exited early (${code})`)));
    });
    return holder;
  };

  /** A first backup, then the drone's state as a kill -9 mid-backup leaves it, recovered by a fresh drone. */
  const crashedDrone = async (repository: TestRepository) => {
    const first = await drone(repository);
    const kept = await first.engine.run("create", "cli");
    expect(kept.outcome).toBe("success");
    await first.store.update(state => {
      state.running = {
        runId: "run-killed",
        operation: "scheduled",
        startedAt: new Date(Date.now() - 60_000).toISOString(),
        pid: 0,
        identity: processIdentity(),
        borgPid: 0,
        borgIdentity: null,
        borgCommand: "create",
        checkpointAt: null,
      };
    });
    return kept.archive?.name ?? "";
  };

  const lockDir = (repository: TestRepository) => join(repository.repository.location, "lock.exclusive");

  it("the next run proves the lock is its dead run's, breaks it, succeeds, and says so; borg check is clean", async () => {
    repo = await makeDroneRepository(4, 64 * 1024);
    const kept = await crashedDrone(repo);
    const serve = await orphanedServe(repo);
    const { engine, store, warnings, location } = await drone(repo);
    const recovered = await engine.recover();
    expect(recovered).toMatchObject({ error_kind: "crashed", run_id: "run-killed" });
    expect(store.get().orphanedLocks).toMatchObject([{ repository: "primary", runId: "run-killed", operation: "scheduled" }]);

    const result = await engine.run("scheduled", "cli");
    expect(result.outcome).toBe("success");
    expect(result.notes).toEqual([`the lock on ${location} left by run run-killed (scheduled), which died with the drone, was broken and the run went on`]);
    expect(warnings.filter(line => line.includes("lock"))).toEqual([
      expect.stringMatching(/^.* was still locked for run run-killed \(scheduled\), which died with the drone .*the lock was broken \(borg break-lock\) and borg create runs again$/) as string,
    ]);
    expect(store.get().orphanedLocks).toEqual([]);
    // the orphan lives on, as a serve does for hours, and holds no lock any more
    expect(serve.exitCode).toBeNull();
    expect(existsSync(lockDir(repo))).toBe(false);
    const names = (await engine.client("primary").list()).value.archives.map(archive => archive.name);
    expect(names).toEqual([kept, result.archive?.name]);
    const check = await engine.client("primary").check();
    expect(check.value).toEqual({ healthy: true, problems: [] });
  });

  it("with another drone's archive in the repository it refuses, names the archive and the command, and leaves the lock", async () => {
    repo = await makeDroneRepository(4, 64 * 1024);
    await repo.client.create({ archive: "desktop@2026-11-20T01:00:00.000", paths: [join(repo.root, "source")] });
    await crashedDrone(repo);
    await orphanedServe(repo);
    const { engine, store, location, baseDir } = await drone(repo);
    await engine.recover();

    const result = await engine.run("scheduled", "cli");
    expect(result).toMatchObject({ outcome: "failed", error_kind: "lock_timeout", notes: [] });
    expect(result.error).toContain("The drone's run run-killed (scheduled) died while using it");
    expect(result.error).toContain("another drone's archives are in the repository (desktop@2026-11-20T01:00:00.000)");
    expect(result.error).toContain(`then run \`BORG_BASE_DIR=${baseDir} borg break-lock ${location}\`.`);
    expect(existsSync(lockDir(repo))).toBe(true);
    // still there for a later run, once the other drone's lock, if it is one, is gone
    expect(store.get().orphanedLocks).toHaveLength(1);
  });

  it("without a record of a dead run it never breaks a lock: the failure names the command", async () => {
    repo = await makeDroneRepository(4, 64 * 1024);
    const first = await drone(repo);
    expect((await first.engine.run("create", "cli")).outcome).toBe("success");
    await orphanedServe(repo);
    const { engine, location, baseDir } = await drone(repo);
    expect(await engine.recover()).toBeUndefined();

    const result = await engine.run("scheduled", "cli");
    expect(result).toMatchObject({ outcome: "failed", error_kind: "lock_timeout", notes: [] });
    expect(result.error).toBe(
      `${location} is locked by another borg process. Wait for it to finish; if no borg runs any more (for example after a crash on another machine), run \`BORG_BASE_DIR=${baseDir} borg break-lock ${location}\`.`,
    );
    expect(existsSync(lockDir(repo))).toBe(true);
  });

  it("a run that opened the repository clears the record, though it failed: a later lock is not the dead run's", async () => {
    repo = await makeDroneRepository(2, 16 * 1024);
    await crashedDrone(repo);
    const { engine, store } = await drone(repo, { PASSPHRASE: "not-the-passphrase" });
    await engine.recover();
    expect(store.get().orphanedLocks).toHaveLength(1);
    const result = await engine.run("create", "cli");
    expect(result).toMatchObject({ outcome: "failed", error_kind: "passphrase_wrong" });
    expect(store.get().orphanedLocks).toEqual([]);
  });
});
