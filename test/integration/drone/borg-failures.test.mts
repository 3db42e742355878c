/**
 * borg failures that used to surface as `unknown` with a whole Python traceback, or as a
 * warning exit: an invalid exclude pattern, a full disk, a crash, and a stale lock of a
 * killed borg. Each is produced for real (a tmpfs of 3 MiB, a damaged cache file, a borg
 * killed with SIGKILL while it holds the lock) and run through the real bin.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import { EXIT_CODES } from "../../../apps/drone/cli/spec.mjs";
import { resultEventSchema } from "../../../libs/protocol/index.mjs";
import { makeTestRepository, TEST_PASSPHRASE, type TestRepository } from "../../helpers/borg.mjs";
import { tempDir, writeRandomFiles } from "../../helpers/fs.mjs";
import { builtBin, startProcess } from "../../helpers/process.mjs";

let bin = "";
beforeAll(async () => {
  bin = await builtBin("backup-drone");
}, 120_000);

const run = (args: string[], cwd: string, env: Record<string, string> = {}) =>
  startProcess(bin, args, { cwd, env: { DRONE_PASSPHRASE: TEST_PASSPHRASE, ...env } }).done;

/** The result event a `--json` operation printed last. */
const resultOf = (stdout: string) => resultEventSchema.parse(JSON.parse(stdout.trim().split("\n").at(-1) ?? "null"));

/** A config file for a drone on `repository`, backing up `source`. */
async function configFile(dir: string, drone: Record<string, unknown>): Promise<string[]> {
  const file = join(dir, "backup_drone.json");
  await writeFile(file, JSON.stringify({ drone: { DRONE_ID: "faults", STATE_DIR: join(dir, "state"), LOCK_WAIT_SECONDS: 2, ...drone } }));
  return ["--config", file];
}

describe("borg failures get kinds of their own and a one-line message", () => {
  let repo: TestRepository | undefined;
  afterEach(async () => {
    await repo?.remove();
    repo = undefined;
  });

  async function setup(extra: Record<string, unknown> = {}) {
    repo = await makeTestRepository();
    const source = join(repo.root, "source");
    await writeRandomFiles(source, 4, 32 * 1024);
    const args = await configFile(repo.root, {
      REPOSITORY: repo.repository.location,
      SOURCES: [source],
      BORG_BASE_DIR: repo.repository.baseDir,
      ...extra,
    });
    return { repo, args };
  }

  const archives = async (repository: TestRepository) => (await repository.client.list()).value.archives.map(archive => archive.name);

  it("an invalid EXCLUDES pattern fails create and backup as invalid_pattern, naming the pattern; no archive is made", async () => {
    const { repo, args } = await setup();
    const first = await run(["create", ...args], repo.root);
    expect(first.code, first.stderr).toBe(EXIT_CODES.success);
    const before = await archives(repo);

    const bad = await configFile(repo.root, {
      REPOSITORY: repo.repository.location,
      SOURCES: [join(repo.root, "source")],
      BORG_BASE_DIR: repo.repository.baseDir,
      EXCLUDES: ["*/.cache", "re:("],
    });
    for (const command of ["create", "backup"]) {
      const result = await run([command, "--json", ...bad], repo.root);
      expect(result.code, `${command}: ${result.stderr}`).toBe(EXIT_CODES.failed);
      const event = resultOf(result.stdout);
      expect(event.error_kind).toBe("invalid_pattern");
      expect(event.error).toBe(
        "borg create rejected the pattern re:( as invalid: missing ), unterminated subpattern at position 0. Fix the exclude pattern: re: is a Python regular expression, sh: and fm: are shell patterns, pp: and pf: are paths.",
      );
      expect(event.pruned).toEqual([]);
    }
    expect(await archives(repo)).toEqual(before);

    const find = await run(["find", "re:(", "--json", ...args], repo.root);
    expect(find.code).toBe(EXIT_CODES.failed);
    expect(JSON.parse(find.stdout)).toMatchObject({ outcome: "failed", error_kind: "invalid_pattern" });
  });

  it("a crash of borg (a damaged cache file) is borg_crashed: the exception in one line; the traceback only at debug level", async () => {
    const { repo, args } = await setup();
    const first = await run(["create", ...args], repo.root);
    expect(first.code, first.stderr).toBe(EXIT_CODES.success);
    const cacheRoot = join(repo.repository.baseDir ?? "", ".cache", "borg");
    const [cacheDir] = readdirSync(cacheRoot).filter(name => /^[0-9a-f]{64}$/.test(name));
    const config = join(cacheRoot, cacheDir ?? "", "config");
    await writeFile(config, (await readFile(config, "utf8")).replace("version = 1", "version = x"));

    const result = await run(["create", "--json", ...args], repo.root);
    expect(result.code, result.stderr).toBe(EXIT_CODES.failed);
    const event = resultOf(result.stdout);
    expect(event.error_kind).toBe("borg_crashed");
    expect(event.error).toMatch(/^borg create crashed \(exit code 2\): ValueError: invalid literal for int\(\) with base 10: 'x' \(in borg\/\S+\.py\)\. /);
    expect(event.error).not.toContain("\n");
    expect(result.stdout + result.stderr).not.toContain("Traceback");

    const debug = await run(["create", ...args], repo.root, { LOG_LEVEL: "debug" });
    expect(debug.code).toBe(EXIT_CODES.failed);
    expect(debug.stderr).toContain("borg's traceback:\nTraceback (most recent call last):");
    expect(debug.stderr).toContain("ValueError: invalid literal for int() with base 10: 'x'");
  });

  it("a stale lock of a killed borg, which borg removes itself, leaves a successful run with a note (exit 0)", async () => {
    const { repo, args } = await setup();
    // a borg that holds the repository's exclusive lock, killed with its whole group: its lock stays behind
    const holder = spawn("borg", ["with-lock", repo.repository.location, "sleep", "60"], {
      env: { ...process.env, BORG_BASE_DIR: repo.repository.baseDir ?? "" },
      detached: true,
      stdio: "ignore",
    });
    const lockDir = join(repo.repository.location, "lock.exclusive");
    const deadline = Date.now() + 20_000;
    while (!(existsSync(lockDir) && readdirSync(lockDir).length > 0) && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50));
    process.kill(-(holder.pid ?? 0), "SIGKILL");
    await new Promise(resolve => holder.once("close", resolve));
    expect(readdirSync(lockDir)).toHaveLength(1);

    const result = await run(["create", "--json", ...args], repo.root);
    expect(result.code, result.stderr).toBe(EXIT_CODES.success);
    const event = resultOf(result.stdout);
    expect(event.outcome).toBe("success");
    expect(event.warnings).toEqual([]);
    expect(event.notes).toEqual([`borg removed a stale lock of its process ${holder.pid} on this host, which no longer runs (an earlier run was killed or crashed)`]);
    expect(existsSync(lockDir)).toBe(false);
    expect(await archives(repo)).toHaveLength(1);

    const status = await run(["status", "--json", ...args], repo.root);
    expect(JSON.parse(status.stdout)).toMatchObject({ persisted: { lastResult: "success" } });
  });
});

describe("a full disk", () => {
  let mount: { path: string; remove: () => Promise<void> } | undefined;
  let mounted = false;
  beforeAll(async () => {
    mount = await tempDir("small-disk");
    const done = spawnSync("mount", ["-t", "tmpfs", "-o", "size=3m", "tmpfs", mount.path]);
    if (done.status !== 0) throw new Error(`mount a 3 MiB tmpfs (needs root): ${done.stderr.toString()}`);
    mounted = true;
  });
  afterAll(async () => {
    if (mounted && mount) spawnSync("umount", [mount.path]);
    await mount?.remove();
  });

  it("is disk_full, says it is the repository's filesystem in one line, and leaves no archive", async () => {
    const dir = await tempDir("disk-full");
    try {
      const source = join(dir.path, "source");
      await mkdir(source);
      await writeRandomFiles(source, 4, 2 * 1024 * 1024);
      const repository = join(mount?.path ?? "", "repo");
      const args = await configFile(dir.path, { REPOSITORY: repository, SOURCES: [source], BORG_BASE_DIR: join(dir.path, "borg-base") });
      const init = await run(["init", ...args], dir.path);
      expect(init.code, init.stderr).toBe(EXIT_CODES.success);

      const result = await run(["create", "--json", ...args], dir.path);
      expect(result.code, result.stderr).toBe(EXIT_CODES.failed);
      const event = resultOf(result.stdout);
      expect(event.error_kind).toBe("disk_full");
      expect(event.error).toMatch(new RegExp(`^No space left on device on the repository's filesystem: ${repository.replaceAll("/", "\\/")}[ .]`));
      expect(event.error).not.toContain("\n");
      expect(event.error?.length).toBeLessThanOrEqual(255);
      expect(event.archive).toBeNull();

      const list = await run(["list", "--json", ...args], dir.path);
      expect(list.code, list.stderr).toBe(EXIT_CODES.success);
      expect(list.stdout.trim()).toBe("");
    } finally {
      await dir.remove();
    }
  });
});
