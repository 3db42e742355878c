import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, readFile, stat, unlink, utimes, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { processIdentity } from "../../../apps/drone/core/process-identity.mjs";
import { emptyState, openStateStore, type PersistedState, salvageState } from "../../../apps/drone/core/state.mjs";
import { tempDir } from "../../helpers/fs.mjs";

const running = (pid: number): NonNullable<PersistedState["running"]> => ({
  runId: "run-1",
  operation: "scheduled",
  startedAt: "2026-11-01T10:00:00.000Z",
  pid,
  identity: processIdentity(),
  borgPid: null,
  borgIdentity: null,
  borgCommand: null,
  checkpointAt: null,
});

describe("the state file, shared by several processes of one drone", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let file: string;
  const warnings: string[] = [];
  const warn = (message: string) => void warnings.push(message);
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    dir = await tempDir("state");
    file = join(dir.path, "state", "laptop.json");
    warnings.length = 0;
  });
  afterEach(async () => {
    for (const child of children.splice(0)) child.kill("SIGKILL");
    await dir.remove();
  });

  it("a command that loaded the file before a run ended does not erase the run's result", async () => {
    // the daemon starts a run; a one-shot command (find) loads the state meanwhile
    const daemon = await openStateStore(file, warn);
    await daemon.update(state => void (state.running = running(process.pid)));
    const command = await openStateStore(file, warn);
    expect(command.get().running?.runId).toBe("run-1");
    // the run ends; then the command records the archives it listed
    await daemon.update(state => {
      state.running = null;
      state.lastResult = "success";
      state.lastBackup = "2026-11-01T10:05:00.000Z";
    });
    await command.update(state => void (state.recentArchives = ["laptop@2026-11-01T10:00:00"]));

    const saved = JSON.parse(await readFile(file, "utf8")) as PersistedState;
    expect(saved).toMatchObject({ running: null, lastResult: "success", lastBackup: "2026-11-01T10:05:00.000Z", recentArchives: ["laptop@2026-11-01T10:00:00"] });
    // each sees the other's writes without writing itself
    expect(command.get()).toMatchObject({ running: null, lastResult: "success" });
    expect(daemon.get().recentArchives).toEqual(["laptop@2026-11-01T10:00:00"]);
  });

  it("interleaved changes of two stores on one file all land", async () => {
    const first = await openStateStore(file, warn);
    const second = await openStateStore(file, warn);
    await first.update(state => void (state.archiveCount = 0));
    const bump = (state: PersistedState) => void (state.archiveCount = (state.archiveCount ?? 0) + 1);
    await Promise.all(Array.from({ length: 40 }, (_, index) => (index % 2 === 0 ? first : second).update(bump)));
    expect(first.get().archiveCount).toBe(40);
    expect(second.get().archiveCount).toBe(40);
    expect((JSON.parse(await readFile(file, "utf8")) as PersistedState).archiveCount).toBe(40);
  });

  it("writes atomically with mode 0600, and a change that changes nothing writes nothing", async () => {
    const store = await openStateStore(file, warn);
    await store.update(state => void (state.lastResult = "success"));
    const written = await stat(file, { bigint: true });
    expect(written.mode & 0o777n).toBe(0o600n);
    await store.update(state => void (state.lastResult = "success"));
    await store.update(() => undefined);
    const after = await stat(file, { bigint: true });
    expect([after.ino, after.mtimeNs]).toEqual([written.ino, written.mtimeNs]);
    // a change that would make the file unreadable is refused, and nothing is written
    await expect(store.update(state => void ((state as { lastResult: unknown }).lastResult = "bogus"))).rejects.toThrow();
    expect((JSON.parse(await readFile(file, "utf8")) as PersistedState).lastResult).toBe("success");
  });

  it("a file with one bad field keeps every field that still reads, the prune hold and the guard's baseline among them", async () => {
    const hold = { since: "2026-11-01T00:00:00.000Z", archive: "laptop@1", reasons: ["the file count fell by 75 %"] };
    const lastArchive = { name: "laptop@1", originalSize: 10, nfiles: 2, durationSeconds: 1 };
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, JSON.stringify({ ...emptyState(), lastResult: "bogus", pruneHold: hold, lastArchive }));
    const store = await openStateStore(file, warn);
    expect(store.get()).toMatchObject({ pruneHold: hold, lastArchive, lastResult: null });
    const saved = JSON.parse(await readFile(file, "utf8")) as PersistedState;
    expect(saved.pruneHold).toEqual(hold);
    expect(salvageState({ ...emptyState(), pruneHold: { since: "yesterday" } }).pruneHold?.reasons[0]).toContain("state file was damaged");
    expect(salvageState({ ...emptyState(), pruneHold: null }).pruneHold).toBeNull();
  });

  it("a damaged file is kept aside at load; one damaged later is replaced by the last state read, never by nothing", async () => {
    const store = await openStateStore(file, warn);
    await store.update(state => void (state.settings = { keepDaily: 3 }));
    await writeFile(file, "{ not json");
    const reopened = await openStateStore(join(dir.path, "state", "laptop.json"), warn);
    // nothing could be read, so whether prune was held is unknown: it is held
    expect(reopened.get()).toEqual({ ...emptyState(), pruneHold: expect.objectContaining({ reasons: [expect.stringContaining("state file was damaged")] }) });
    expect(await readFile(`${file}.invalid`, "utf8")).toBe("{ not json");
    expect(warnings.at(-1)).toContain("kept as");

    await store.update(state => void (state.lastResult = "warning"));
    await writeFile(file, JSON.stringify({ version: 99 }));
    // reading keeps the last good state; the next change sets the damaged file aside
    expect(store.get().lastResult).toBe("warning");
    await store.update(state => void (state.lastPrune = "2026-11-01T00:00:00.000Z"));
    const saved = JSON.parse(await readFile(file, "utf8")) as PersistedState;
    expect(saved).toMatchObject({ lastResult: "warning", lastPrune: "2026-11-01T00:00:00.000Z" });
    expect(JSON.parse(await readFile(`${file}.invalid`, "utf8"))).toEqual({ version: 99 });
  });

  it("a file from an older drone (no process identities) loads", async () => {
    const old = { ...emptyState(), running: { runId: "r", operation: "create", startedAt: "2026-01-01T00:00:00.000Z", pid: 4321, borgPid: 4322 } };
    await openStateStore(file, warn);
    await writeFile(file, JSON.stringify(old));
    const store = await openStateStore(file, warn);
    expect(store.get().running).toMatchObject({ pid: 4321, identity: null, borgPid: 4322, borgIdentity: null });
    expect(warnings).toEqual([]);
  });

  it("when a backup was cancelled: absent in an older file, and a damaged value, read as never (each file its own object)", async () => {
    const { cancelledAt: _absent, ...older } = emptyState();
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, JSON.stringify(older));
    const store = await openStateStore(file, warn);
    expect(store.get().cancelledAt).toEqual({ primary: null, offsite: null });
    expect(warnings).toEqual([]);
    await store.update(state => void (state.cancelledAt.primary = "2026-11-01T00:00:00.000Z"));
    // the default is not shared: a second state read from an older file still has nulls
    expect(salvageState(older).cancelledAt).toEqual({ primary: null, offsite: null });
    const damaged = salvageState({ ...emptyState(), lastPrune: "2026-11-01T00:00:00.000Z", cancelledAt: { primary: "yesterday", offsite: null } });
    expect(damaged).toMatchObject({ lastPrune: "2026-11-01T00:00:00.000Z", cancelledAt: { primary: null, offsite: null } });
  });

  it("a state lock left by a dead process is broken; one held by a live process for too long is taken over with a warning", async () => {
    const store = await openStateStore(file, warn);
    const lock = `${file}.lock`;
    const dead = spawn("true", { stdio: "ignore" });
    await once(dead, "exit");
    await writeFile(lock, JSON.stringify({ pid: dead.pid, identity: null, since: new Date().toISOString() }));
    await store.update(state => void (state.lastResult = "success"));
    expect(store.get().lastResult).toBe("success");
    expect(warnings).toEqual([]);

    const sleeper = spawn("sleep", ["60"], { stdio: "ignore" });
    children.push(sleeper);
    await once(sleeper, "spawn");
    const pid = sleeper.pid ?? 0;
    await writeFile(lock, JSON.stringify({ pid, identity: processIdentity(pid), since: new Date().toISOString() }));
    const longAgo = new Date(Date.now() - 120_000);
    await utimes(lock, longAgo, longAgo);
    await store.update(state => void (state.lastResult = "failed"));
    expect(store.get().lastResult).toBe("failed");
    expect(warnings.at(-1)).toMatch(/state lock .* held for \d+ s by pid \d+; taking it over/);
    await expect(stat(lock)).rejects.toThrow();
  });

  it("a change waits while a live process holds the state lock", async () => {
    const store = await openStateStore(file, warn);
    const sleeper = spawn("sleep", ["60"], { stdio: "ignore" });
    children.push(sleeper);
    await once(sleeper, "spawn");
    const pid = sleeper.pid ?? 0;
    const lock = `${file}.lock`;
    await writeFile(lock, JSON.stringify({ pid, identity: processIdentity(pid), since: new Date().toISOString() }));
    let done = false;
    const change = store.update(state => void (state.lastResult = "success")).then(() => (done = true));
    // the holder is alive: nothing is written while it holds the lock
    await new Promise(resolve => setTimeout(resolve, 200));
    expect(done).toBe(false);
    await expect(stat(file)).rejects.toThrow();
    await unlink(lock);
    await change;
    expect(store.get().lastResult).toBe("success");
  });
});
