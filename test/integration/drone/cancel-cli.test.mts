/**
 * `backup-drone cancel` as people run it: the real bin, from another process, against a
 * one-shot `create` running in a second process and against a running daemon, and when
 * nothing runs. Real borg repositories in temp folders.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { chmod, writeFile } from "node:fs/promises";
import { hostname, userInfo } from "node:os";
import { join } from "node:path";

import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

import { resultEventSchema } from "../../../libs/protocol/index.mjs";
import { makeTestRepository, TEST_PASSPHRASE, type TestRepository } from "../../helpers/borg.mjs";
import { writeRandomFiles } from "../../helpers/fs.mjs";
import { builtBin, childEnv, type Running, startProcess } from "../../helpers/process.mjs";

const MiB = 1024 * 1024;
const BY = `cli (${userInfo().username}@${hostname()})`;

let bin = "";
beforeAll(async () => {
  bin = await builtBin("backup-drone");
}, 120_000);

type Context = { repo: TestRepository; cwd: string; args: string[]; env: Record<string, string> };
const start = (args: string[], context: Context) => startProcess(bin, [...args, ...context.args], { cwd: context.cwd, env: context.env });
const run = (args: string[], context: Context) => start(args, context).done;

/** A repository whose create lasts: lzma,9 over 16 MiB of random data in 16 files (borg 1.2 acts on SIGINT between files). */
async function setup(extra: Record<string, unknown> = {}): Promise<Context> {
  const repo = await makeTestRepository();
  await writeRandomFiles(join(repo.root, "source"), 16, MiB);
  const config = join(repo.root, "backup_drone.json");
  const drone = {
    DRONE_ID: "canceldrone",
    REPOSITORY: repo.repository.location,
    SOURCES: [join(repo.root, "source")],
    STATE_DIR: join(repo.root, "state"),
    BORG_BASE_DIR: repo.repository.baseDir,
    LOCK_WAIT_SECONDS: 2,
    COMPRESSION: "lzma,9",
    PROGRESS_INTERVAL_MS: 0,
    ...extra,
  };
  await writeFile(config, JSON.stringify({ drone }));
  return { repo, cwd: repo.root, args: ["--config", config], env: { DRONE_PASSPHRASE: TEST_PASSPHRASE } };
}

const cancelReportSchema = z.object({
  drone_id: z.string(),
  cancelled: z.boolean(),
  pid: z.number().nullable(),
  run_id: z.string().nullable(),
  operation: z.string().nullable(),
  outcome: z.string().nullable(),
  message: z.string(),
});

const lines = (text: string) => text.split("\n").filter(line => line.trim().length > 0);

/** The checkpoint archives of the drone, as `list --checkpoints --json` names them. */
async function checkpoints(context: Context): Promise<string[]> {
  const listed = await run(["list", "--json", "--checkpoints"], context);
  return lines(listed.stdout)
    .map(line => z.object({ name: z.string() }).parse(JSON.parse(line)).name)
    .filter(name => name.endsWith(".checkpoint"));
}

describe("backup-drone cancel", () => {
  let context: Context | undefined;
  const children: Running[] = [];
  afterEach(async () => {
    for (const child of children.splice(0)) {
      child.kill("SIGKILL");
      await child.done;
    }
    await context?.repo.remove();
    context = undefined;
  });

  it("when nothing runs: says so, exits 0; --json says cancelled false", async () => {
    context = await setup();
    const plain = await run(["cancel"], context);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout.trim()).toBe("nothing is running for canceldrone");
    const json = await run(["cancel", "--json"], context);
    expect(json.code).toBe(0);
    expect(cancelReportSchema.parse(JSON.parse(json.stdout))).toEqual({
      drone_id: "canceldrone",
      cancelled: false,
      pid: null,
      run_id: null,
      operation: null,
      outcome: null,
      message: "nothing is running for canceldrone",
    });
  });

  it("cancels a one-shot create running in another process: that process ends interrupted (exit 3), a checkpoint is kept", async () => {
    context = await setup();
    const create = start(["create", "--json"], context);
    children.push(create);
    // the progress events on stdout: borg is reading the sources
    await create.waitFor(/"original_size":[1-9]\d{6,}/, 60_000);

    const cancel = await run(["cancel", "--json"], context);
    expect(cancel.code, cancel.stderr).toBe(0);
    const report = cancelReportSchema.parse(JSON.parse(cancel.stdout));
    expect(report).toMatchObject({ drone_id: "canceldrone", cancelled: true, pid: create.pid, operation: "create", outcome: "interrupted" });
    expect(report.message).toBe(`cancelled by ${BY}; borg kept a checkpoint, and the next run reuses what it uploaded until then`);

    const finished = await create.done;
    expect(finished.code).toBe(3);
    const result = resultEventSchema.parse(JSON.parse(lines(finished.stdout).at(-1) ?? "null"));
    expect(result).toMatchObject({ run_id: report.run_id, outcome: "interrupted", error_kind: "cancelled", cancelled_by: BY });
    expect(await checkpoints(context)).toHaveLength(1);
  });

  it("cancels the daemon's scheduled run: the daemon keeps running and logs the cancel; nothing is pruned; the words name the checkpoint", async () => {
    context = await setup({ MODE: "standalone" });
    const daemon = start(["daemon"], context);
    children.push(daemon);
    await daemon.waitFor(/scheduled: creating/, 60_000);

    const cancel = await run(["cancel"], context);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(cancel.stdout.trim()).toBe(`✔ scheduled cancelled: cancelled by ${BY}; borg kept a checkpoint, and the next run reuses what it uploaded until then`);
    await daemon.waitFor(new RegExp(`cancel requested by ${BY.replace(/[()]/g, "\\$&")}`), 10_000);
    expect(daemon.alive()).toBe(true);
    expect(daemon.output().stdout + daemon.output().stderr).not.toMatch(/pruning|on_error/);

    const status = await run(["status", "--json"], context);
    const persisted = z
      .object({ persisted: z.object({ lastResult: z.string().nullable(), lastPrune: z.string().nullable(), running: z.unknown() }) })
      .parse(JSON.parse(status.stdout)).persisted;
    expect(persisted).toEqual({ lastResult: "interrupted", lastPrune: null, running: null });

    daemon.kill("SIGTERM");
    const finished = await daemon.done;
    expect(finished.code, finished.stderr).toBe(0);
    expect(await checkpoints(context)).toHaveLength(1);
  });

  // signalling another user's process needs root to set up: the test runs where the suite runs as root
  it.skipIf(process.getuid?.() !== 0)("run by another user: refused with what to do, and the run goes on; the drone's user (root) then cancels it", async () => {
    context = await setup({ HOOK_BEFORE: "sleep 60" });
    const backup = start(["backup"], context);
    children.push(backup);
    // the before hook runs: the status says an operation runs
    let busy = false;
    for (let waited = 0; !busy && waited < 30_000; waited += 200) {
      busy = (await run(["status", "--json"], context)).stdout.includes('"busy":true');
      if (!busy) await new Promise(resolve => setTimeout(resolve, 200));
    }
    expect(busy).toBe(true);
    // the temp folder is root's alone: let nobody reach the configuration, not the state (0700)
    await chmod(context.repo.root, 0o755);
    const other = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, bin, "cancel", ...context.args], {
      cwd: "/",
      env: childEnv({}, "/tmp"),
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(other.status, other.stderr).toBe(2);
    expect(other.stderr).toContain(`cannot use the drone's state ${join(context.repo.root, "state", "canceldrone.json")}: permission denied`);
    expect(other.stderr).toContain("run the command as that user or as root");
    expect(backup.alive()).toBe(true);

    const cancel = await run(["cancel"], context);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(cancel.stdout).toContain(`✔ scheduled cancelled: cancelled by ${BY} — before hook stopped`);
    expect((await backup.done).code).toBe(3);
  });

  // needs root to run a drone as another user and to cancel it: the test runs where the suite runs as root
  it.skipIf(process.getuid?.() !== 0)("as root only: root cancels a drone that runs as another user; the request is given to that user, so the drone can read it", async () => {
    context = await setup({ HOOK_BEFORE: "sleep 60" });
    // the drone's folder (configuration, state, repository) belongs to nobody, who runs it
    spawnSync("chown", ["-R", "65534:65534", context.repo.root]);
    await chmod(context.repo.root, 0o755);
    const { cwd, args, env } = context;
    const child = spawn("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, bin, "backup", ...args], {
      cwd,
      env: childEnv(env, cwd),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>(resolve => child.on("close", code => resolve(code)));
    children.push({ pid: child.pid ?? 0, kill: signal => void child.kill(signal), done: exited.then(code => ({ code, signal: null, stdout: output, stderr: "" })) } as Running);
    // the run has begun once nobody's process holds the run lock (looked at directly: a command
    // run as root before the drone's first start would create its state root's)
    const lock = join(cwd, "state", "canceldrone.lock");
    for (let waited = 0; !existsSync(lock) && waited < 30_000; waited += 100) await new Promise(resolve => setTimeout(resolve, 100));
    expect(statSync(lock).uid, output).toBe(65534);

    const cancel = await run(["cancel"], context);
    expect(cancel.code, cancel.stderr + output).toBe(0);
    expect(cancel.stdout).toContain(`✔ scheduled cancelled: cancelled by ${BY} — before hook stopped`);
    expect(await exited, output).toBe(3);
    expect(output).not.toContain("cancel request failed");
  });
});
