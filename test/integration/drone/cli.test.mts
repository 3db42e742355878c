/**
 * The `backup-drone` command as people run it: the real bin (package.json "bin", built by
 * `npm run build`) spawned as a child process, against real borg repositories in temp folders.
 */
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { existsSync, statSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

import { COMMAND_NAMES } from "../../../apps/drone/cli/spec.mjs";
import { progressEventSchema, resultEventSchema } from "../../../libs/protocol/index.mjs";
import { makeTestRepository, TEST_PASSPHRASE, type TestRepository } from "../../helpers/borg.mjs";
import { tempDir, writeRandomFiles } from "../../helpers/fs.mjs";
import { builtBin, childEnv, ROOT, startProcess } from "../../helpers/process.mjs";

let bin = "";
beforeAll(async () => {
  bin = await builtBin("backup-drone");
}, 120_000);

const start = (args: string[], options: { env?: Record<string, string>; cwd: string }) => startProcess(bin, args, options);

const run = (args: string[], options: { env?: Record<string, string>; cwd: string }) => start(args, options).done;

/** A repository with data, a config file for it, and the arguments that select that file. */
async function setup(extra: Record<string, unknown> = {}, data: { files: number; bytes: number } = { files: 6, bytes: 128 * 1024 }) {
  const repo = await makeTestRepository();
  await writeRandomFiles(join(repo.root, "source"), data.files, data.bytes);
  const config = join(repo.root, "backup_drone.json");
  const drone = {
    DRONE_ID: "clidrone",
    REPOSITORY: repo.repository.location,
    SOURCES: [join(repo.root, "source")],
    STATE_DIR: join(repo.root, "state"),
    BORG_BASE_DIR: repo.repository.baseDir,
    LOCK_WAIT_SECONDS: 2,
    ...extra,
  };
  await writeFile(config, JSON.stringify({ drone }));
  // the passphrase comes from the environment, as a person might give it; never a file the test leaks
  return { repo, cwd: repo.root, args: ["--config", config], env: { DRONE_PASSPHRASE: TEST_PASSPHRASE } };
}

const jsonLines = (text: string): unknown[] =>
  text
    .split("\n")
    .filter(line => line.trim().length > 0)
    .map(line => JSON.parse(line) as unknown);

describe("backup-drone, the command", () => {
  let repo: TestRepository | undefined;
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await repo?.remove();
    await cleanup?.();
    repo = undefined;
    cleanup = undefined;
  });

  it("--help of every command exits 0, names the command and lists its exit codes; a typo is a usage error", async () => {
    const dir = await tempDir("cli-help");
    cleanup = dir.remove;
    const results = await Promise.all(COMMAND_NAMES.map(command => run([command, "--help"], { cwd: dir.path })));
    for (const [index, result] of results.entries()) {
      const command = COMMAND_NAMES[index] ?? "";
      expect(result.code, command).toBe(0);
      expect(result.stdout).toContain(`backup-drone ${command}`);
      expect(result.stdout).toMatch(/Exit codes:\n\s+0 {2}success/);
    }
    const top = await run(["--help"], { cwd: dir.path });
    expect(top.code).toBe(0);
    for (const command of COMMAND_NAMES) expect(top.stdout).toContain(command);
    const typo = await run(["status", "--jsno"], { cwd: dir.path });
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("unknown option --jsno");
    const unknown = await run(["frobnicate"], { cwd: dir.path });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
  });

  it("a reader that closes the pipe first (`backup-drone --help | head -0`) ends the command quietly: exit 0, no stack trace", async () => {
    const dir = await tempDir("drone-cli-pipe");
    cleanup = dir.remove;
    const child = spawn(process.execPath, [bin, "--help"], { cwd: dir.path, env: childEnv({}, dir.path), stdio: ["ignore", "pipe", "pipe"] });
    // our end of its stdout closes before the command writes: its write fails with EPIPE
    child.stdout.destroy();
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const [code, signal] = (await once(child, "close")) as [number | null, NodeJS.Signals | null];
    expect(stderr).toBe("");
    expect({ code, signal }).toEqual({ code: 0, signal: null });
  });

  it("an invalid configuration exits 2 and names every bad key at once, even at LOG_LEVEL=silent", async () => {
    const dir = await tempDir("cli-config");
    cleanup = dir.remove;
    const empty = join(dir.path, "empty.json");
    await writeFile(empty, "{}");
    for (const command of ["create", "daemon"]) {
      const result = await run([command, "--config", empty], {
        cwd: dir.path,
        env: { DRONE_KEEP_DAILY: "-1", DRONE_KEEP_WITHIN: "2 weeks", LOG_LEVEL: "silent" },
      });
      expect(result.code, command).toBe(2);
      expect(result.stderr).toContain("invalid configuration");
      expect(result.stderr).toContain("drone.REPOSITORY");
      expect(result.stderr).toContain("drone.KEEP_DAILY");
      expect(result.stderr).toContain("drone.KEEP_WITHIN");
    }
  });

  it("create --json prints progress events and one result event as the protocol defines them; list and status too", async () => {
    const context = await setup({}, { files: 8, bytes: 512 * 1024 });
    repo = context.repo;
    const created = await run(["create", "--json", ...context.args], context);
    expect(created.code, created.stderr).toBe(0);
    const lines = jsonLines(created.stdout);
    const result = resultEventSchema.parse(lines.at(-1));
    expect(result).toMatchObject({ operation: "create", outcome: "success", trigger: "cli", drone_id: "clidrone" });
    expect(result.archive?.name).toMatch(/^clidrone@/);
    const progress = lines.slice(0, -1).map(line => progressEventSchema.parse(line));
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.every(event => event.run_id === result.run_id)).toBe(true);
    expect(progress.at(-1)?.finished).toBe(true);
    expect(created.stdout + created.stderr).not.toContain(TEST_PASSPHRASE);

    const listed = await run(["list", "--json", ...context.args], context);
    expect(listed.code, listed.stderr).toBe(0);
    const archives = jsonLines(listed.stdout).map(line => z.object({ name: z.string(), id: z.string(), start: z.iso.datetime() }).parse(line));
    expect(archives.map(archive => archive.name)).toEqual([result.archive?.name]);

    const status = await run(["status", "--json", ...context.args], context);
    expect(status.code, status.stderr).toBe(0);
    const view = z
      .object({
        drone_id: z.literal("clidrone"),
        repository: z.string(),
        settings: z.object({ mode: z.string(), keepDaily: z.number() }),
        persisted: z.object({ lastBackup: z.string(), lastResult: z.literal("success"), lastArchive: z.object({ name: z.string() }) }),
        live: z.object({ busy: z.literal(false) }),
      })
      .parse(JSON.parse(status.stdout));
    expect(view.persisted.lastArchive.name).toBe(result.archive?.name);

    // a switch on the command line wins over the configuration file
    const human = await run(["status", ...context.args, "--KEEP_DAILY=3"], context);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/keep\s+daily 3, weekly 4/);
    // the next backup: the coordinator's to plan (the command does not hear Home Assistant), or the drone's own schedule
    const coordinated = await run(["status", ...context.args, "--MODE=coordinated"], context);
    expect(coordinated.stdout).toMatch(/next backup\s+planned by the coordinator/);
    const standalone = await run(["status", "--json", ...context.args, "--MODE=standalone", "--FREQUENCY_MINUTES=90"], context);
    const own = z.object({ next_backup: z.string(), persisted: z.object({ lastBackup: z.string() }) }).parse(JSON.parse(standalone.stdout));
    expect(Date.parse(own.next_backup)).toBe(Date.parse(own.persisted.lastBackup) + 90 * 60_000);
  });

  it("a wrong passphrase exits 2 with a message that says what to do, and never shows the passphrase", async () => {
    const context = await setup();
    repo = context.repo;
    const wrong = "wrong-canary-passphrase-42";
    const result = await run(["create", ...context.args], { ...context, env: { DRONE_PASSPHRASE: wrong } });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/create failed after .*passphrase for .* is wrong\. Check the configured passphrase/);
    expect(result.stdout + result.stderr).not.toContain(wrong);
  });

  it("the daemon without Home Assistant, standalone: backs up on its own, logs it, and SIGTERM exits 0", async () => {
    const context = await setup({ MODE: "standalone", FREQUENCY_MINUTES: 5 });
    repo = context.repo;
    const daemon = start(["daemon", ...context.args], context);
    await daemon.waitFor(/scheduled succeeded in .* archive clidrone@/, 30_000);
    expect(daemon.output().stdout).toContain("no Home Assistant token configured");
    process.kill(daemon.pid, "SIGTERM");
    const finished = await daemon.done;
    expect(finished.code).toBe(0);
    const listed = await run(["list", "--json", ...context.args], context);
    expect(jsonLines(listed.stdout)).toHaveLength(1);
  });

  it("SIGTERM during a create: the daemon stops borg, which keeps a checkpoint, and exits 0 within 15 s", async () => {
    // lzma,9 on 32 MiB of incompressible data: slow enough to be stopped mid-way. In several
    // files: borg 1.2.4 acts on SIGINT between files, so one huge file would run on until the
    // engine's SIGTERM after its 8 s grace period
    const context = await setup({ MODE: "standalone", COMPRESSION: "lzma,9" }, { files: 8, bytes: 4 * 1024 * 1024 });
    repo = context.repo;
    const daemon = start(["daemon", ...context.args], context);
    await daemon.waitFor(/scheduled: creating/, 30_000);
    await new Promise(resolve => setTimeout(resolve, 1000));
    const signalled = Date.now();
    process.kill(daemon.pid, "SIGTERM");
    const finished = await daemon.done;
    expect(Date.now() - signalled).toBeLessThan(15_000);
    expect(finished.code, finished.stderr).toBe(0);
    expect(finished.stdout + finished.stderr).toMatch(/interrupted/);
    const listed = await run(["list", "--json", "--checkpoints", ...context.args], context);
    const names = jsonLines(listed.stdout).map(line => z.object({ name: z.string() }).parse(line).name);
    expect(names.some(name => name.startsWith("clidrone@") && name.endsWith(".checkpoint"))).toBe(true);
  });

  it("npm run demo: runs end to end in a fresh folder", async () => {
    const dir = await tempDir("cli-demo");
    cleanup = dir.remove;
    const tsx = join(ROOT, "node_modules", ".bin", "tsx");
    const demo = spawnSync(tsx, [join(ROOT, "scripts", "demo.mts")], {
      cwd: dir.path,
      env: childEnv({}, dir.path),
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(demo.status, `${demo.stdout}\n${demo.stderr}`).toBe(0);
    expect(demo.stdout).toMatch(/second backup\s+.* stored/);
    expect(demo.stdout).toMatch(/archives\s+2/);
    expect(existsSync(join(dir.path, ".demo", "repository"))).toBe(true);
    expect((statSync(join(dir.path, ".demo", "passphrase")).mode & 0o777).toString(8)).toBe("600");
  });

  it("Ctrl-C during the demo's backup: the command stops borg and says so, the demo waits for it and exits 3", async () => {
    const dir = await tempDir("cli-demo-interrupt");
    cleanup = dir.remove;
    // as `npm run demo` starts it, without npm (which exits 130 on SIGINT whatever its child says)
    const demo = spawn(process.execPath, ["--import", import.meta.resolve("tsx/esm"), join(ROOT, "scripts", "demo.mts")], {
      cwd: dir.path,
      env: childEnv({}, dir.path),
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const backingUp = new Promise<void>(resolve => {
      const see = (chunk: Buffer) => {
        output += chunk.toString("utf8");
        if (/scheduled: creating/.test(output)) resolve();
      };
      demo.stdout.on("data", see);
      demo.stderr.on("data", see);
    });
    const closed = once(demo, "close") as Promise<[number | null, NodeJS.Signals | null]>;
    await backingUp;
    // a terminal's Ctrl-C: SIGINT to the whole process group (the demo and the command it runs)
    process.kill(-(demo.pid ?? 0), "SIGINT");
    const [code] = await closed;
    expect(code, output).toBe(3);
    expect(output).toMatch(/■ scheduled was interrupted/);
    expect(output).toContain("demo interrupted (Ctrl-C)");
  });
});
