/**
 * The built `backup-drone` keeps V8's compiled code of its command line in a per-user cache
 * (libs/process/code-cache.mts): written by a first run, taken as it is by the next ones,
 * rewritten when it is damaged or V8 cannot use it, and never read from or written to a folder
 * others may write. A cache can only cost time: every run here must answer as without one.
 */
import { spawnSync } from "node:child_process";
import { chmod, chown, mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

import { tempDir } from "../../helpers/fs.mjs";
import { builtBin, childEnv } from "../../helpers/process.mjs";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

let bin = "";
beforeAll(async () => {
  bin = await builtBin("backup-drone");
}, 120_000);

/** A home folder and a drone configuration that `status` can answer from (no repository is opened). */
async function setup() {
  const dir = await tempDir("code-cache");
  cleanups.push(dir.remove);
  const home = join(dir.path, "home");
  await mkdir(home, { mode: 0o700 });
  const config = join(dir.path, "backup_drone.json");
  const drone = { DRONE_ID: "cached", REPOSITORY: join(dir.path, "repo"), SOURCES: [dir.path], STATE_DIR: join(dir.path, "state") };
  await writeFile(config, JSON.stringify({ drone }), { mode: 0o600 });
  const cacheDir = join(home, ".cache", "backup-coordinator", "v8");
  const status = () => {
    const run = spawnSync(process.execPath, [bin, "status", "--json", "--config", config], { cwd: dir.path, env: childEnv({}, home), encoding: "utf8", timeout: 60_000 });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toBe("");
    return z.object({ drone_id: z.string() }).parse(JSON.parse(run.stdout)).drone_id;
  };
  const caches = async () => (await readdir(cacheDir).catch(() => [])).filter(name => name.endsWith(".v8cache"));
  return { home, cacheDir, status, caches };
}

describe("the command line's code cache", () => {
  it("a first run writes it (0600 in a 0700 folder), the next run uses it as it is", async () => {
    const { cacheDir, status, caches } = await setup();
    expect(status()).toBe("cached");
    const [name, ...others] = await caches();
    expect(name).toMatch(/^backup-drone-program\.cjs-[0-9a-f]{16}-\d+-\d+-v\d+\.\d+\.\d+-\w+\.v8cache$/);
    expect(others).toEqual([]);
    const file = join(cacheDir, name ?? "");
    expect((await stat(cacheDir)).mode & 0o777).toBe(0o700);
    const written = await stat(file);
    expect(written.mode & 0o777).toBe(0o600);
    const bytes = await readFile(file);

    // V8 took it: the run did not write it again
    expect(status()).toBe("cached");
    expect((await stat(file)).mtimeMs).toBe(written.mtimeMs);
    expect((await readFile(file)).equals(bytes)).toBe(true);
  });

  it("a cache damaged inside at the same length (bit rot: V8 does not checksum it, node would crash) is not used; the command answers and the cache is rewritten", async () => {
    const { cacheDir, status, caches } = await setup();
    status();
    const file = join(cacheDir, (await caches())[0] ?? "");
    const damaged = await readFile(file);
    // 200 bytes flipped across the code, past every header
    const start = Math.floor(damaged.length / 4);
    const step = Math.floor((damaged.length - start) / 200);
    for (let count = 0; count < 200; count++) {
      const index = start + count * step;
      damaged[index] = (damaged[index] ?? 0) ^ 0xff;
    }
    await writeFile(file, damaged, { mode: 0o600 });
    expect(status()).toBe("cached");
    const rewritten = await readFile(file);
    expect(rewritten.equals(damaged)).toBe(false);
    // and the new one is taken as it is
    const written = await stat(file);
    expect(status()).toBe("cached");
    expect((await stat(file)).mtimeMs).toBe(written.mtimeMs);
  });

  it("a cache of garbage is not used and is rewritten; the command answers as ever", async () => {
    const { cacheDir, status, caches } = await setup();
    status();
    const file = join(cacheDir, (await caches())[0] ?? "");
    const size = (await stat(file)).size;
    const garbage = Buffer.alloc(size, 0x5a);
    await writeFile(file, garbage, { mode: 0o600 });
    expect(status()).toBe("cached");
    const rewritten = await readFile(file);
    expect(rewritten.equals(garbage)).toBe(false);
    expect(rewritten.length).toBeGreaterThan(0);
  });

  it("a cache folder others may write is neither read nor written", async () => {
    const { cacheDir, status, caches } = await setup();
    await mkdir(cacheDir, { recursive: true, mode: 0o700 });
    await chmod(cacheDir, 0o777);
    expect(status()).toBe("cached");
    expect(await caches()).toEqual([]);
    // nor a cache file others may write, put there by someone else
    await chmod(cacheDir, 0o700);
    status();
    const file = join(cacheDir, (await caches())[0] ?? "");
    await chmod(file, 0o666);
    const before = await stat(file);
    expect(status()).toBe("cached");
    // not taken: the run compiled afresh and wrote its own (0600) over it
    const after = await stat(file);
    expect(after.mode & 0o777).toBe(0o600);
    expect(after.mtimeMs).toBeGreaterThan(before.mtimeMs);
  });

  it.skipIf(process.getuid?.() !== 0)("root with another user's HOME (sudo keeping it) creates nothing there", async () => {
    const { home, status } = await setup();
    await chown(home, 65_534, 65_534);
    expect(status()).toBe("cached");
    expect(await readdir(home)).toEqual([]);
  });

  it("without a usable cache folder (a file in its place) the command runs as without a cache", async () => {
    const { home, status, caches } = await setup();
    await writeFile(join(home, ".cache"), "not a folder");
    expect(status()).toBe("cached");
    expect(status()).toBe("cached");
    expect(await caches()).toEqual([]);
  });
});
