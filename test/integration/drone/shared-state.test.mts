/**
 * Several processes of one drone on one machine: the daemon or a command running an
 * operation, and commands that only read. Real bins, real borg, real unrelated processes.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";

import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

import { isRecordedProcess, isRunning, observeProcess, type ProcessIdentity, processIdentity } from "../../../apps/drone/core/process-identity.mjs";
import { emptyState, type PersistedState, persistedStateSchema } from "../../../apps/drone/core/state.mjs";
import { makeTestRepository, TEST_PASSPHRASE, type TestRepository } from "../../helpers/borg.mjs";
import { droneTestConfig } from "../../helpers/drone.mjs";
import { tempDir, writeRandomFiles } from "../../helpers/fs.mjs";
import { builtBin, startProcess } from "../../helpers/process.mjs";
import { waitFor } from "../../helpers/wait.mjs";

let bin = "";
beforeAll(async () => {
  bin = await builtBin("backup-drone");
}, 120_000);

const run = (args: string[], options: { env?: Record<string, string>; cwd: string }) => startProcess(bin, args, options);

/** Wait until `check` holds. */
const until = (what: string, check: () => boolean | Promise<boolean>) => waitFor(check, what, 30_000, 50);

const exists = (path: string) => readFile(path).then(
  () => true,
  () => false,
);

describe("processes of one drone share its state and its lock", () => {
  let repo: TestRepository | undefined;
  const children: ChildProcess[] = [];
  const cleanups: (() => Promise<void>)[] = [];

  afterEach(async () => {
    for (const child of children.splice(0)) child.kill("SIGKILL");
    for (const cleanup of cleanups.splice(0)) await cleanup();
    await repo?.remove();
    repo = undefined;
  });

  async function setup(extra: Record<string, unknown> = {}) {
    repo = await makeTestRepository();
    await writeRandomFiles(join(repo.root, "source"), 6, 64 * 1024);
    const stateDir = join(repo.root, "state");
    const config = join(repo.root, "backup_drone.json");
    const drone = {
      DRONE_ID: "clidrone",
      REPOSITORY: repo.repository.location,
      SOURCES: [join(repo.root, "source")],
      STATE_DIR: stateDir,
      BORG_BASE_DIR: repo.repository.baseDir,
      LOCK_WAIT_SECONDS: 30,
      ...extra,
    };
    await writeFile(config, JSON.stringify({ drone }));
    return { root: repo.root, stateDir, stateFile: join(stateDir, "clidrone.json"), args: ["--config", config], env: { DRONE_PASSPHRASE: TEST_PASSPHRASE } };
  }

  /** A borg that waits for a file before it starts: `marker` appears once it waits. */
  async function gatedBorg(root: string, name: string) {
    const script = join(root, `${name}.sh`);
    const marker = join(root, `${name}.waiting`);
    const go = join(root, `${name}.go`);
    await writeFile(script, `#!/bin/sh\ntouch '${marker}'\nwhile [ ! -e '${go}' ]; do sleep 0.05; done\nexec borg "$@"\n`);
    await chmod(script, 0o755);
    return { script, marker, open: () => writeFile(go, "") };
  }

  const readState = async (file: string): Promise<PersistedState> => persistedStateSchema.parse(JSON.parse(await readFile(file, "utf8")));

  it("find, started during a create and ending after it, keeps the create's result; nothing reports a crash afterwards", async () => {
    const context = await setup();
    const gateA = await gatedBorg(context.root, "borg-a");
    const gateB = await gatedBorg(context.root, "borg-b");
    // the create marks its run, then waits in front of borg
    const create = run(["create", "--json", ...context.args], { cwd: context.root, env: { ...context.env, DRONE_BORG_BINARY: gateA.script } });
    await until("the create to reach borg", () => exists(gateA.marker));
    expect((await readState(context.stateFile)).running?.operation).toBe("create");
    // find loads the state while the create runs, then waits in front of its borg
    const find = run(["find", "file-*", ...context.args], { cwd: context.root, env: { ...context.env, DRONE_BORG_BINARY: gateB.script } });
    await until("find to reach borg", () => exists(gateB.marker));
    await gateA.open();
    const created = await create.done;
    expect(created.code, created.stderr).toBe(0);
    const archive = z.object({ archive: z.object({ name: z.string() }) }).parse(JSON.parse(created.stdout.trim().split("\n").at(-1) ?? "")).archive.name;
    // only now does find list the archives (and remember the new one)
    await gateB.open();
    const found = await find.done;
    expect(found.code, found.stderr).toBe(0);

    const state = await readState(context.stateFile);
    expect(state).toMatchObject({ running: null, lastResult: "success", lastArchive: { name: archive } });
    expect(state.lastBackup).not.toBeNull();
    expect(state.recentArchives).toContain(archive);
    const before = await stat(context.stateFile, { bigint: true });
    const status = await run(["status", "--json", ...context.args], { cwd: context.root, env: context.env }).done;
    const view = z.object({ live: z.object({ busy: z.boolean() }), persisted: z.object({ lastResult: z.string().nullable() }) }).parse(JSON.parse(status.stdout));
    expect(view).toEqual({ live: { busy: false }, persisted: { lastResult: "success" } });
    // a command that changes nothing writes nothing
    const after = await stat(context.stateFile, { bigint: true });
    expect([after.ino, after.mtimeNs]).toEqual([before.ino, before.mtimeNs]);
    const next = await run(["create", ...context.args], { cwd: context.root, env: context.env }).done;
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).not.toMatch(/did not finish/);
  });

  it("a state and a run lock naming unrelated processes: none is signalled, the run proceeds; the process they name exactly holds the lock", async () => {
    const context = await setup();
    const bystander = async () => {
      const child = spawn("sleep", ["120"], { stdio: "ignore" });
      children.push(child);
      await once(child, "spawn");
      const pid = child.pid ?? 0;
      const identity = processIdentity(pid);
      if (!identity) throw new Error("no /proc identity");
      return { child, pid, identity };
    };
    // their pids, as if recorded before a reboot (another boot) or by a process since replaced (another start time)
    const owner = await bystander();
    const borg = await bystander();
    const reused = (identity: ProcessIdentity): ProcessIdentity => ({ ...identity, startTicks: identity.startTicks + 1 });
    const startedAt = new Date(Date.now() - 60_000).toISOString();
    const state: PersistedState = {
      ...emptyState(),
      running: { runId: "before-reboot", operation: "create", startedAt, pid: owner.pid, identity: reused(owner.identity), borgPid: borg.pid, borgIdentity: { ...borg.identity, bootId: "the-boot-before" }, borgCommand: "create", checkpointAt: null },
    };
    await mkdir(context.stateDir, { recursive: true });
    await writeFile(context.stateFile, JSON.stringify(state));
    const lock = join(context.stateDir, "clidrone.lock");
    await writeFile(lock, JSON.stringify({ pid: owner.pid, identity: reused(owner.identity), since: startedAt }));

    const status = await run(["status", "--json", ...context.args], { cwd: context.root, env: context.env }).done;
    expect(z.object({ live: z.object({ busy: z.boolean() }) }).parse(JSON.parse(status.stdout)).live.busy).toBe(false);
    const created = await run(["create", ...context.args], { cwd: context.root, env: context.env }).done;
    expect(created.code, created.stderr).toBe(0);
    // the recorded run is reported as interrupted, and its recorded processes are left alone
    expect(created.stderr).toMatch(/the previous create .* did not finish/);
    expect(owner.child.exitCode ?? owner.child.signalCode).toBeNull();
    expect(borg.child.exitCode ?? borg.child.signalCode).toBeNull();
    expect(isRunning(owner.pid) && isRunning(borg.pid)).toBe(true);
    expect((await readState(context.stateFile)).running).toBeNull();

    // the lock names the live process exactly: the command is refused, from any folder
    await writeFile(lock, JSON.stringify({ pid: owner.pid, identity: owner.identity, since: new Date().toISOString() }));
    const elsewhere = await tempDir("elsewhere");
    cleanups.push(elsewhere.remove);
    const refused = await run(["create", ...context.args], { cwd: elsewhere.path, env: context.env }).done;
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain(`pid ${owner.pid}`);
  });

  it("a relative STATE_DIR is a configuration error naming the key", async () => {
    const context = await setup({ STATE_DIR: "state" });
    const elsewhere = await tempDir("elsewhere");
    cleanups.push(elsewhere.remove);
    const result = await run(["status", ...context.args], { cwd: elsewhere.path, env: context.env }).done;
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/drone\.STATE_DIR: must be an absolute path/);
    expect(await exists(join(elsewhere.path, "state", "clidrone.json"))).toBe(false);
  });

  it("two processes changing the state file at once: every change lands", async () => {
    const dir = await tempDir("state-writers");
    cleanups.push(dir.remove);
    const file = join(dir.path, "laptop.json");
    const writer = () => {
      const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "../../helpers/state-writer.mts"), file, "150"], { stdio: ["ignore", "pipe", "pipe"] });
      children.push(child);
      let stderr = "";
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      return once(child, "exit").then(([code]) => ({ code: code as number | null, stderr }));
    };
    const [first, second] = await Promise.all([writer(), writer()]);
    expect(first?.code, first?.stderr).toBe(0);
    expect(second?.code, second?.stderr).toBe(0);
    expect((await readState(file)).archiveCount).toBe(300);
  });

  it("a BORG_BINARY wrapper that execs borg: the run records the borg that runs, not the wrapper it started as", async () => {
    repo = await makeTestRepository();
    await writeRandomFiles(join(repo.root, "source"), 16, 1024 * 1024);
    const wrapper = join(repo.root, "borg-wrapper.sh");
    // it does something first, so that the drone sees the wrapper when borg is spawned
    await writeFile(wrapper, '#!/bin/sh\nsleep 0.3\nexec borg "$@"\n');
    await chmod(wrapper, 0o755);
    const config = droneTestConfig(repo, { COMPRESSION: "lzma,9", BORG_BINARY: wrapper });
    const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "../../helpers/crash-drone.mts"), JSON.stringify(config)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.push(child);
    const lines = createInterface({ input: child.stdout });
    const borgPid = await new Promise<number>((resolve, reject) => {
      lines.on("line", line => {
        const match = /^RUNNING (\d+)$/.exec(line);
        if (match) resolve(Number(match[1]));
      });
      child.on("exit", code => reject(new Error(`crash drone exited early (${code})`)));
    });
    const stateFile = join(repo.root, "state", "testdrone.json");
    await until("the state to name the running borg", async () => {
      const running = (await readState(stateFile)).running;
      return running?.borgPid === borgPid && isRecordedProcess({ pid: borgPid, identity: running.borgIdentity }, observeProcess(borgPid));
    });
    child.kill("SIGKILL");
    await once(child, "exit");
    if (isRunning(borgPid)) process.kill(borgPid, "SIGTERM");
  });
});
