/**
 * Crash recovery against real processes that are, or are not, the ones the state file names:
 * the drone signals only the recorded borg, and a recorded owner whose pid now belongs to
 * someone else counts as gone. No borg runs here: recovery does not call it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { defaultConfigValues, parseDroneConfig } from "../../../apps/drone/config.mjs";
import { createDroneEngine } from "../../../apps/drone/core/engine.mjs";
import { isRunning, type ProcessIdentity, processIdentity } from "../../../apps/drone/core/process-identity.mjs";
import { openStateStore, type RunningMarker } from "../../../apps/drone/core/state.mjs";
import { tempDir } from "../../helpers/fs.mjs";

const quiet = () => undefined;

describe("crash recovery names processes by more than their pid", () => {
  let dir: { path: string; remove: () => Promise<void> };
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    dir = await tempDir("recover");
  });
  afterEach(async () => {
    for (const child of children.splice(0)) child.kill("SIGKILL");
    await dir.remove();
  });

  /** A live process unrelated to any drone, with its real identity. */
  const bystander = async (): Promise<{ pid: number; identity: ProcessIdentity }> => {
    const child = spawn("sleep", ["60"], { stdio: "ignore" });
    children.push(child);
    await once(child, "spawn");
    const pid = child.pid ?? 0;
    const identity = processIdentity(pid);
    if (!identity) throw new Error("no /proc identity for the bystander");
    return { pid, identity };
  };

  /** A pid that no longer runs. */
  const deadPid = async () => {
    const child = spawn("true", { stdio: "ignore" });
    await once(child, "exit");
    return child.pid ?? 0;
  };

  const engineWith = async (running: RunningMarker) => {
    const config = parseDroneConfig({
      ...defaultConfigValues(),
      DRONE_ID: "laptop",
      REPOSITORY: join(dir.path, "repo"),
      SOURCES: [join(dir.path, "source")],
      STATE_DIR: join(dir.path, "state"),
    });
    const store = await openStateStore(join(config.stateDir, "laptop.json"), quiet);
    await store.update(state => void (state.running = running));
    const warnings: string[] = [];
    const engine = createDroneEngine({ config, store, log: { debug: quiet, info: quiet, warn: message => void warnings.push(message), error: quiet } });
    return { engine, store, warnings };
  };

  const marker = (fields: Partial<RunningMarker>): RunningMarker => ({
    runId: "crashed-run",
    operation: "create",
    startedAt: new Date(Date.now() - 3_600_000).toISOString(),
    pid: 1,
    identity: null,
    borgPid: null,
    borgIdentity: null,
    borgCommand: "create",
    checkpointAt: null,
    ...fields,
  });

  it("stops the borg it recorded when that process still runs", async () => {
    const borg = await bystander();
    const { engine, store } = await engineWith(marker({ pid: await deadPid(), identity: processIdentity(), borgPid: borg.pid, borgIdentity: borg.identity }));
    const result = await engine.recover();
    expect(result).toMatchObject({ outcome: "interrupted", error_kind: "crashed" });
    expect(isRunning(borg.pid)).toBe(false);
    expect(store.get().running).toBeNull();
  });

  it("claims a checkpoint only when the run recorded that borg committed one", async () => {
    const without = await engineWith(marker({ pid: await deadPid(), identity: processIdentity() }));
    const plain = await without.engine.recover();
    expect(plain?.error).toContain("run it again");
    expect(plain?.error).not.toContain("checkpoint");
    const committed = await engineWith(marker({ pid: await deadPid(), identity: processIdentity(), checkpointAt: "2026-11-20T02:05:00.000Z" }));
    const result = await committed.engine.recover();
    expect(result?.error).toMatch(/borg committed a checkpoint at 2026-11-20 \d\d:05:00, and the next backup reuses what it uploaded until then/);
  });

  it("a dead run whose borg is gone leaves a record of the repository it may have left locked; a run that started no borg leaves none", async () => {
    const dead = await engineWith(marker({ pid: await deadPid(), identity: processIdentity(), borgPid: await deadPid() }));
    await dead.engine.recover();
    expect(dead.store.get().orphanedLocks).toEqual([
      { repository: "primary", runId: "crashed-run", operation: "create", foundDeadAt: expect.any(String) as string, cause: "crash", borgCommand: "create" },
    ]);

    await dead.store.update(state => void (state.running = marker({ runId: "offsite-run", operation: "offsite", pid: 0, borgPid: 0 })));
    const second = createDroneEngine({ config: dead.engine.config, store: dead.store, log: { debug: quiet, info: quiet, warn: quiet, error: quiet } });
    await second.recover();
    // one record per repository: the primary's stays beside the offsite's
    expect(dead.store.get().orphanedLocks.map(lock => [lock.repository, lock.runId])).toEqual([
      ["primary", "crashed-run"],
      ["offsite", "offsite-run"],
    ]);

    await dead.store.update(state => {
      state.orphanedLocks = [];
      state.running = marker({ runId: "no-borg", pid: 0, borgPid: null });
    });
    await second.recover();
    expect(dead.store.get().orphanedLocks).toEqual([]);
  });

  it("never signals a process that took the recorded borg's pid (another start time)", async () => {
    const other = await bystander();
    const { engine, store } = await engineWith(
      marker({ pid: await deadPid(), identity: processIdentity(), borgPid: other.pid, borgIdentity: { ...other.identity, startTicks: other.identity.startTicks - 7 } }),
    );
    const result = await engine.recover();
    expect(result).toMatchObject({ error_kind: "crashed" });
    await sleep(100);
    expect(isRunning(other.pid)).toBe(true);
    expect(store.get()).toMatchObject({ running: null, lastResult: "interrupted" });
  });

  it("an owner whose pid now belongs to a process of another boot is gone: the run is reported, no one is signalled", async () => {
    const owner = await bystander();
    const borg = await bystander();
    const { engine } = await engineWith(
      marker({
        pid: owner.pid,
        identity: { ...owner.identity, bootId: "a-boot-before-the-last-reboot" },
        borgPid: borg.pid,
        borgIdentity: { ...borg.identity, bootId: "a-boot-before-the-last-reboot" },
      }),
    );
    expect(await engine.recover()).toMatchObject({ error_kind: "crashed" });
    await sleep(100);
    expect(isRunning(owner.pid)).toBe(true);
    expect(isRunning(borg.pid)).toBe(true);
  });

  it("an owner that is still the recorded process is running the run: nothing is recovered", async () => {
    const owner = await bystander();
    const { engine, store } = await engineWith(marker({ pid: owner.pid, identity: owner.identity }));
    expect(await engine.recover()).toBeUndefined();
    expect(store.get().running?.runId).toBe("crashed-run");
  });

  it("a record of an older drone (pids only) whose processes started after the run is not theirs", async () => {
    const owner = await bystander();
    const borg = await bystander();
    const { engine } = await engineWith(marker({ pid: owner.pid, borgPid: borg.pid }));
    expect(await engine.recover()).toMatchObject({ error_kind: "crashed" });
    await sleep(100);
    expect(isRunning(owner.pid)).toBe(true);
    // started after the run, but it is not borg
    expect(isRunning(borg.pid)).toBe(true);
  });
});
