import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";

import { CreateApplication, type TServiceParams } from "@digital-alchemy/core";
import { afterEach, describe, expect, it } from "vitest";

import { isRunning } from "../../../apps/drone/core/process-identity.mjs";
import { isAlive } from "../../../apps/drone/core/run-lock.mjs";
import { LIB_DRONE } from "../../../apps/drone/drone.module.mjs";
import { type ResultEvent } from "../../../libs/protocol/index.mjs";
import { type TestRepository } from "../../helpers/borg.mjs";
import { bootDrone, droneTestConfig, makeDroneRepository } from "../../helpers/drone.mjs";
import { writeRandomFiles } from "../../helpers/fs.mjs";

const MiB = 1024 * 1024;

const HOST_APP = CreateApplication({
  name: "host_home_app",
  libraries: [LIB_DRONE],
  services: {
    nightly({ drone, lifecycle }: TServiceParams) {
      const results: ResultEvent[] = [];
      lifecycle.onReady(async () => {
        const engine = await drone.engine.ready();
        results.push(await engine.run("scheduled", "library"));
      });
      return { results };
    },
  },
});

declare module "@digital-alchemy/core" {
  export interface LoadedModules {
    host_home_app: typeof HOST_APP;
  }
}

describe("drone lifecycle", () => {
  let repo: TestRepository | undefined;
  const cleanups: (() => Promise<unknown>)[] = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await repo?.remove();
  });

  it("a host DA app that imports LIB_DRONE boots and runs a backup", async () => {
    repo = await makeDroneRepository();
    let params!: TServiceParams;
    await HOST_APP.bootstrap({
      configSources: { argv: false, env: false, file: false },
      configuration: { boilerplate: { LOG_LEVEL: "warn" }, drone: droneTestConfig(repo) } as never,
      appendService: { capture: (p: TServiceParams) => void (params = p) },
    });
    cleanups.push(() => HOST_APP.teardown());
    const results = params.host_home_app.nightly.results;
    expect(results).toHaveLength(1);
    expect(results[0]?.outcome).toBe("success");
    const archives = (await params.drone.engine.engine.client("primary").list()).value.archives;
    expect(archives.map(archive => archive.name)).toEqual([results[0]?.archive?.name]);
  });

  it("hooks: before runs first, a failing before hook with policy break stops the run, on_error runs", async () => {
    repo = await makeDroneRepository(1, 1024);
    const log = join(repo.root, "hooks.log");
    const drone = await bootDrone(
      droneTestConfig(repo, {
        HOOK_BEFORE: `echo "before $BACKUP_OPERATION" >> ${log}; test -e ${join(repo.root, "allow")}`,
        HOOK_AFTER: `echo after >> ${log}; exit 3`,
        HOOK_AFTER_POLICY: "continue",
        HOOK_ON_ERROR: `echo "on_error $BACKUP_ERROR" >> ${log}`,
      }),
    );
    cleanups.push(drone.teardown);
    const blocked = await drone.engine.run("scheduled", "library");
    expect(blocked.outcome).toBe("failed");
    expect(blocked.error_kind).toBe("hook_failed");
    expect(blocked.archive).toBeNull();
    expect((await drone.engine.client("primary").list()).value.archives).toEqual([]);

    await writeFile(join(repo.root, "allow"), "");
    const allowed = await drone.engine.run("scheduled", "library");
    expect(allowed.outcome).toBe("warning");
    expect(allowed.warnings).toContain("after hook exited with 3");
    expect(allowed.archive).not.toBeNull();
    const { readFile } = await import("node:fs/promises");
    const lines = (await readFile(log, "utf8")).trim().split("\n");
    expect(lines[0]).toBe("before scheduled");
    expect(lines[1]).toMatch(/^on_error before hook exited with 1/);
    expect(lines.slice(2)).toEqual(["before scheduled", "after"]);
  });

  it("standalone mode backs up when due; coordinated mode leaves scheduling to the coordinator", async () => {
    repo = await makeDroneRepository(1, 1024);
    const drone = await bootDrone(droneTestConfig(repo, { MODE: "coordinated" }));
    cleanups.push(drone.teardown);
    expect(drone.engine.due()).toEqual([]);
    await drone.engine.updateSettings({ mode: "standalone" });
    expect(drone.engine.due()).toEqual(["scheduled"]);
    const finished = new Promise<ResultEvent>(resolve => drone.engine.onResult(resolve));
    drone.params.drone.standalone.enable();
    drone.params.drone.standalone.tick();
    const result = await finished;
    expect(result).toMatchObject({ operation: "scheduled", trigger: "schedule", outcome: "success" });
    expect(drone.engine.due()).toEqual([]);
    const inADay = new Date(Date.now() + 1441 * 60_000);
    expect(drone.engine.due(inADay)).toEqual(["scheduled"]);
    await drone.engine.updateSettings({ mode: "paused" });
    expect(drone.engine.due(inADay)).toEqual([]);
  });

  it("shutdown during a create interrupts borg, which leaves a checkpoint; the result says interrupted", async () => {
    repo = await makeDroneRepository(0, 0);
    await writeRandomFiles(join(repo.root, "source"), 32, MiB);
    const drone = await bootDrone(droneTestConfig(repo, { COMPRESSION: "lzma,9" }));
    const underway = new Promise<void>(resolve =>
      drone.engine.onProgress(event => {
        if (event.original_size >= 2 * MiB) resolve();
      }),
    );
    const answer = drone.engine.request("create", "library");
    if (!answer.accepted) throw new Error(answer.reason);
    await underway;
    await drone.teardown();
    const result = await answer.done;
    expect(result.outcome).toBe("interrupted");
    expect(result.error_kind).toBe("interrupted");
    expect(drone.engine.persisted().running).toBeNull();
    const archives = (await drone.engine.client("primary").list({ considerCheckpoints: true })).value.archives;
    expect(archives).toHaveLength(1);
    expect(archives[0]?.name).toMatch(/^testdrone@.*\.checkpoint$/);
  });

  it("after kill -9 mid-backup, a restarted drone stops the orphaned borg, shows idle, and its next run succeeds", async () => {
    repo = await makeDroneRepository(4, 64 * 1024);
    const config = droneTestConfig(repo, { COMPRESSION: "lzma,9" });
    const first = await bootDrone(config);
    const kept = await first.engine.run("create", "library");
    expect(kept.outcome).toBe("success");
    await first.teardown();
    await writeRandomFiles(join(repo.root, "source"), 32, MiB, "more");

    const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "../../helpers/crash-drone.mts"), JSON.stringify(config)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const lines = createInterface({ input: child.stdout });
    const borgPid = await new Promise<number>((resolve, reject) => {
      lines.on("line", line => {
        const match = /^RUNNING (\d+)$/.exec(line);
        if (match) resolve(Number(match[1]));
      });
      child.on("exit", code => reject(new Error(`crash drone exited early (${code})`)));
    });
    const exited = new Promise(resolve => child.on("exit", resolve));
    child.kill("SIGKILL");
    await exited;
    expect(isAlive(borgPid)).toBe(true);

    const restarted = await bootDrone({ ...config, COMPRESSION: "lz4" });
    cleanups.push(restarted.teardown);
    const recovered = await restarted.engine.recover();
    expect(recovered).toMatchObject({ outcome: "interrupted", error_kind: "crashed", operation: "create" });
    // gone, or ended and waiting for init to collect it
    expect(isRunning(borgPid)).toBe(false);
    expect(restarted.engine.live().state).toBe("idle");
    expect(restarted.engine.persisted()).toMatchObject({ running: null, lastResult: "interrupted" });

    const next = await restarted.engine.run("scheduled", "library");
    expect(next.outcome).toBe("success");
    const names = (await restarted.engine.client("primary").list()).value.archives.map(archive => archive.name);
    expect(names).toContain(kept.archive?.name);
    const check = await restarted.engine.client("primary").check();
    expect(check.value.healthy).toBe(true);
  });
});
