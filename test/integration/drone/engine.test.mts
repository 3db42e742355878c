import { readdirSync, readFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { type ProgressEvent, progressEventSchema, type ResultEvent, resultEventSchema } from "../../../libs/protocol/index.mjs";
import { TEST_PASSPHRASE, type TestRepository } from "../../helpers/borg.mjs";
import { bootDrone, droneTestConfig, makeDroneRepository } from "../../helpers/drone.mjs";

describe("the drone engine booted through DA without Home Assistant", () => {
  let repo: TestRepository | undefined;
  let teardown: (() => Promise<void>) | undefined;

  afterEach(async () => {
    await teardown?.();
    await repo?.remove();
  });

  it("a scheduled backup runs create, prune, compact and stats, and reports progress and one result", async () => {
    repo = await makeDroneRepository();
    const drone = await bootDrone(droneTestConfig(repo));
    teardown = drone.teardown;
    const progress: ProgressEvent[] = [];
    const results: ResultEvent[] = [];
    const states = new Set<string>();
    drone.engine.onProgress(event => progress.push(event));
    drone.engine.onResult(event => results.push(event));
    drone.engine.onChange(() => states.add(drone.engine.live().state));

    const result = await drone.engine.run("scheduled", "library");
    expect(result.outcome).toBe("success");
    expect(result.archive?.name).toMatch(/^testdrone@\d{4}-\d\d-\d\dT/);
    expect(resultEventSchema.parse(result)).toEqual(result);
    expect(results).toEqual([result]);
    expect([...states]).toEqual(expect.arrayContaining(["creating", "pruning", "compacting", "updating_stats", "idle"]));
    expect(drone.engine.live().state).toBe("idle");
    for (const event of progress) progressEventSchema.parse(event);
    expect(progress.some(event => event.operation === "scheduled" && event.state === "creating")).toBe(true);

    const persisted = drone.engine.persisted();
    expect(persisted.lastBackup).not.toBeNull();
    expect(persisted.lastPrune).not.toBeNull();
    expect(persisted.archiveCount).toBe(1);
    expect(persisted.totals?.deduplicatedSize).toBeGreaterThan(0);
    const stateFile = await readFile(join(repo.root, "state", "testdrone.json"), "utf8");
    expect(stateFile).not.toContain(TEST_PASSPHRASE);
  });

  it("a second backup has a percent estimate from the first; a press while busy is queued once, a duplicate refused", async () => {
    repo = await makeDroneRepository();
    const drone = await bootDrone(droneTestConfig(repo));
    teardown = drone.teardown;
    await drone.engine.run("create", "library");
    const progress: ProgressEvent[] = [];
    drone.engine.onProgress(event => progress.push(event));

    const first = drone.engine.request("create", "button");
    const second = drone.engine.request("stats", "button");
    const duplicate = drone.engine.request("stats", "button");
    const again = drone.engine.request("create", "button");
    expect(first).toMatchObject({ accepted: true, queued: false });
    expect(second).toMatchObject({ accepted: true, queued: true });
    expect(duplicate).toEqual({ accepted: false, reason: "stats is already queued" });
    expect(again).toEqual({ accepted: false, reason: "create is already running" });
    if (!first.accepted || !second.accepted) throw new Error("unreachable");
    const [created, stats] = await Promise.all([first.done, second.done]);
    expect(created.outcome).toBe("success");
    expect(stats.outcome).toBe("success");
    expect(new Date(stats.started_at).getTime()).toBeGreaterThanOrEqual(new Date(created.finished_at).getTime());
    const final = progress.filter(event => event.finished && event.operation === "create");
    expect(final.at(-1)?.percent).toBe(100);
    expect(progress.some(event => event.expected_size !== null)).toBe(true);
    expect(drone.engine.persisted().archiveCount).toBe(2);
  });

  it("onBorgStart tells of each borg a run's steps start, once it started; a listener that throws costs the run nothing", async () => {
    repo = await makeDroneRepository(2, 1024);
    // a borg that notes each start before it becomes the real one
    const started = join(repo.root, "borg-starts.txt");
    const wrapper = join(repo.root, "borg-wrapper.sh");
    await writeFile(started, "");
    await writeFile(wrapper, `#!/bin/sh\necho "$1" >> ${JSON.stringify(started)}\nexec borg "$@"\n`, { mode: 0o755 });
    const drone = await bootDrone(droneTestConfig(repo, { BORG_BINARY: wrapper }));
    teardown = drone.teardown;
    // the version is asked once the drone boots, before any run
    const before = (await readFile(started, "utf8")).split("\n").filter(Boolean).length;
    // each time: whether this process had a child then (the borg just started)
    const seen: boolean[] = [];
    const children = () =>
      readdirSync(`/proc/${process.pid}/task`).flatMap(task => readFileSync(`/proc/${process.pid}/task/${task}/children`, "utf8").trim().split(/\s+/).filter(Boolean));
    drone.engine.onBorgStart(() => void seen.push(children().length > 0));
    drone.engine.onBorgStart(() => {
      throw new Error("a listener's own bug");
    });
    const result = await drone.engine.run("scheduled", "library");
    expect(result.outcome).toBe("success");
    const commands = (await readFile(started, "utf8")).split("\n").filter(Boolean).slice(before);
    expect(commands).toEqual(expect.arrayContaining(["create", "prune", "compact"]));
    // told for each of the run's steps (create, prune, compact, stats at least), each time with borg started
    expect(seen.length).toBeGreaterThanOrEqual(4);
    expect(seen.length).toBeLessThanOrEqual(commands.length);
    expect(seen.every(Boolean)).toBe(true);
  });

  it("a wrong passphrase ends as a failed result that says what to do, and the drone returns to idle", async () => {
    repo = await makeDroneRepository(1, 1024);
    const drone = await bootDrone(droneTestConfig(repo, { PASSPHRASE: "wrong-passphrase-canary" }));
    teardown = drone.teardown;
    const result = await drone.engine.run("scheduled", "library");
    expect(result.outcome).toBe("failed");
    expect(result.error_kind).toBe("passphrase_wrong");
    expect(result.error).toContain("passphrase");
    expect(JSON.stringify(result)).not.toContain("wrong-passphrase-canary");
    expect(drone.engine.live().state).toBe("idle");
    expect(drone.engine.persisted()).toMatchObject({ lastResult: "failed", lastBackup: null });
  });
});
