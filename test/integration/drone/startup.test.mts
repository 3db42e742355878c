/**
 * Start-up of the `backup-drone` command: what it loads and what it runs before the real
 * work. Home Assistant's client libraries are imported only when Home Assistant is
 * configured, dotenvx only when there is an env file, execa never (borg, hooks and passcommands
 * start through node:child_process), and the
 * borg version is detected once and then remembered for that binary. Modules are observed
 * with a resolve hook and Node's CommonJS cache at exit (a module-load probe), not with timings.
 */
import { spawnSync } from "node:child_process";
import { chmod, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

import { binaryIdentity, createBorgClient, readCachedVersion } from "../../../libs/borg/index.mjs";
import { makeTestRepository, TEST_PASSPHRASE } from "../../helpers/borg.mjs";
import { tempDir } from "../../helpers/fs.mjs";
import { builtBin, childEnv, ROOT } from "../../helpers/process.mjs";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function scratch(label: string) {
  const dir = await tempDir(label);
  cleanups.push(dir.remove);
  return dir.path;
}

/**
 * A `--import` module that records into `file` the URL of every ES module the process
 * resolves, and at exit every file in the CommonJS cache (what `require` loaded).
 */
async function moduleProbe(dir: string, file: string): Promise<string> {
  const hooks = join(dir, "probe-hooks.mjs");
  await writeFile(
    hooks,
    [
      'import { appendFileSync } from "node:fs";',
      "export async function resolve(specifier, context, next) {",
      "  const result = await next(specifier, context);",
      `  appendFileSync(${JSON.stringify(file)}, result.url + "\\n");`,
      "  return result;",
      "}",
    ].join("\n"),
  );
  const register = join(dir, "probe-register.mjs");
  await writeFile(
    register,
    [
      'import { appendFileSync } from "node:fs";',
      'import { createRequire, register } from "node:module";',
      'import { pathToFileURL } from "node:url";',
      `register(${JSON.stringify(pathToFileURL(hooks).href)});`,
      "const cache = createRequire(import.meta.url).cache;",
      `process.on("exit", () => appendFileSync(${JSON.stringify(file)}, Object.keys(cache).map(path => pathToFileURL(path).href + "\\n").join("")));`,
    ].join("\n"),
  );
  return pathToFileURL(register).href;
}

const bundleMeta = z.object({ outputs: z.record(z.string(), z.object({ inputs: z.record(z.string(), z.unknown()) })) });

/**
 * The modules a process loaded, with the bundle's files (dist/bin) opened up into the sources
 * esbuild put in them (its metafile, dist/bin/meta.json): `bundle:/` and the source's path
 * from the project's root, e.g. `bundle:/node_modules/zod/…` or `bundle:/apps/drone/core/engine.mts`.
 */
async function withBundledSources(modules: readonly string[]): Promise<string[]> {
  const meta = bundleMeta.parse(JSON.parse(await readFile(join(ROOT, "dist", "bin", "meta.json"), "utf8")));
  const sources = modules.flatMap(url => {
    const output = meta.outputs[relative(ROOT, fileURLToPath(url))];
    return output === undefined ? [] : Object.keys(output.inputs).map(input => `bundle:/${input}`);
  });
  return [...modules, ...sources];
}

/** Run node with the probe; returns the modules it loaded (see {@link withBundledSources}) and how it exited. */
async function probed(dir: string, args: string[], env: Record<string, string> = {}) {
  const file = join(dir, `modules-${Math.random().toString(36).slice(2)}.txt`);
  await writeFile(file, "");
  const probe = await moduleProbe(dir, file);
  const run = spawnSync(process.execPath, ["--import", probe, ...args], { cwd: dir, env: childEnv(env, dir), encoding: "utf8", timeout: 60_000 });
  const modules = (await readFile(file, "utf8")).split("\n").filter(line => line.startsWith("file:"));
  return { ...run, modules: await withBundledSources(modules) };
}

/** Whether a package's code was loaded, from node_modules or from the bundle. */
const loaded = (modules: readonly string[], name: string) => modules.some(url => url.includes(`/node_modules/${name}/`));

describe("what a one-shot command loads", () => {
  let bin = "";
  beforeAll(async () => {
    bin = await builtBin("backup-drone");
  }, 120_000);

  it("without a Home Assistant token, status and list import neither hass nor synapse (core and the drone load)", async () => {
    const dir = await scratch("startup-probe");
    const repo = await makeTestRepository();
    cleanups.push(repo.remove);
    const config = join(dir, "backup_drone.json");
    const drone = { DRONE_ID: "probe", REPOSITORY: repo.repository.location, SOURCES: [dir], STATE_DIR: join(dir, "state"), BORG_BASE_DIR: repo.repository.baseDir };
    await writeFile(config, JSON.stringify({ drone }));
    for (const command of ["status", "list"]) {
      const run = await probed(dir, [bin, command, "--config", config], { DRONE_PASSPHRASE: TEST_PASSPHRASE });
      expect(run.status, `${command}: ${run.stderr}`).toBe(0);
      // the probe sees the modules that did load: DA core and the drone's own engine
      expect(loaded(run.modules, "@digital-alchemy/core"), command).toBe(true);
      expect(run.modules, command).toContain("bundle:/apps/drone/core/engine.mts");
      expect(loaded(run.modules, "@digital-alchemy/hass"), command).toBe(false);
      expect(loaded(run.modules, "@digital-alchemy/synapse"), command).toBe(false);
      // nor the drone's bridge to them, which would have nothing to bridge
      expect(run.modules.filter(url => url.includes("/apps/drone/ha/") || url.includes("/libs/ha/")), command).toEqual([]);
      // dotenvx's own dependencies (undici, ajv, conf…) wait for an env file to read
      expect(loaded(run.modules, "undici"), command).toBe(false);
      expect(loaded(run.modules, "ajv"), command).toBe(false);
      // borg, hooks and passcommands start through node:child_process
      expect(loaded(run.modules, "execa"), command).toBe(false);
    }
  });

  it("the drone reads --env-file itself (dotenvx never loads), and ./.env is not read", async () => {
    const dir = await scratch("startup-env-file");
    const repo = await makeTestRepository();
    cleanups.push(repo.remove);
    const config = join(dir, "backup_drone.json");
    const drone = { REPOSITORY: repo.repository.location, SOURCES: [dir], STATE_DIR: join(dir, "state"), BORG_BASE_DIR: repo.repository.baseDir };
    await writeFile(config, JSON.stringify({ drone }));
    await writeFile(join(dir, ".env"), "DRONE_ID=from-dotenv\n");
    await writeFile(join(dir, "drone.env"), "DRONE_ID=from-env-file\n");
    const run = await probed(dir, [bin, "status", "--json", "--config", config, "--env-file", "drone.env"], { DRONE_PASSPHRASE: TEST_PASSPHRASE });
    expect(run.status, run.stderr).toBe(0);
    expect(z.object({ drone_id: z.string() }).parse(JSON.parse(run.stdout)).drone_id).toBe("from-env-file");
    // dotenvx's own dependencies: the stand-in never hands over to the real package
    expect(loaded(run.modules, "undici")).toBe(false);
    expect(loaded(run.modules, "ajv")).toBe(false);
    const plain = await probed(dir, [bin, "status", "--json", "--config", config], { DRONE_PASSPHRASE: TEST_PASSPHRASE });
    expect(plain.status, plain.stderr).toBe(0);
    expect(z.object({ drone_id: z.string() }).parse(JSON.parse(plain.stdout)).drone_id).not.toBe("from-dotenv");
  });

  it("both bundles wrap DA's environment loader (scripts/bundle.mts), DA's own behind it", async () => {
    const meta = bundleMeta.parse(JSON.parse(await readFile(join(ROOT, "dist", "bin", "meta.json"), "utf8")));
    const loader = "node_modules/@digital-alchemy/core/dist/helpers/config-environment-loader.mjs";
    const wrapped = (output: string) => {
      const inputs = Object.keys(meta.outputs[output]?.inputs ?? {});
      return inputs.includes(loader) && inputs.some(input => input.startsWith("da-environment-loader:") && input.endsWith(loader));
    };
    expect(wrapped("dist/bin/backup-drone-program.cjs")).toBe(true);
    // the daemon's and the coordinator's DA core, in a shared chunk
    expect(Object.keys(meta.outputs).filter(output => output.endsWith(".mjs") && wrapped(output))).toHaveLength(1);
  });

  it("the command line's drone application imports hass and synapse when Home Assistant is configured", async () => {
    const dir = await scratch("startup-probe-ha");
    const boot = pathToFileURL(join(ROOT, "dist", "apps", "drone", "cli", "application.mjs")).href;
    const script = (homeAssistant: boolean) =>
      `const { loadDroneApplication } = await import(${JSON.stringify(boot)}); const app = await loadDroneApplication(${homeAssistant}); ` +
      `process.stdout.write(JSON.stringify({ name: app.name, libraries: app.libraries.map(library => library.name) }));`;
    const withHa = await probed(dir, ["--input-type=module", "-e", script(true)]);
    expect(withHa.status, withHa.stderr).toBe(0);
    expect(JSON.parse(withHa.stdout)).toEqual({ name: "backup_drone", libraries: ["hass", "synapse", "drone"] });
    expect(loaded(withHa.modules, "@digital-alchemy/hass")).toBe(true);
    expect(loaded(withHa.modules, "@digital-alchemy/synapse")).toBe(true);

    const without = await probed(dir, ["--input-type=module", "-e", script(false)]);
    expect(without.status, without.stderr).toBe(0);
    expect(JSON.parse(without.stdout)).toEqual({ name: "backup_drone", libraries: ["drone"] });
    expect(loaded(without.modules, "@digital-alchemy/hass")).toBe(false);
    expect(loaded(without.modules, "@digital-alchemy/synapse")).toBe(false);
  });
});

describe("the borg version, detected once per binary", () => {
  /** A stand-in borg that answers --version and counts how often it was asked. */
  async function countingBorg(dir: string, version = "1.2.4") {
    const counter = join(dir, "asked.txt");
    const path = join(dir, "borg");
    await writeFile(counter, "");
    await writeFile(path, `#!/bin/sh\necho asked >> ${JSON.stringify(counter)}\necho "borg ${version}"\n`);
    await chmod(path, 0o755);
    const asked = async () => (await readFile(counter, "utf8")).split("\n").filter(Boolean).length;
    return { path, asked };
  }

  it("a second client (another process) reads the remembered version instead of starting borg again", async () => {
    const dir = await scratch("version-cache");
    const borg = await countingBorg(dir);
    const cacheFile = join(dir, "state", "borg-version.json");
    const repository = { location: join(dir, "repo") };

    const first = createBorgClient(repository, { binary: borg.path, versionCacheFile: cacheFile });
    expect((await first.version()).text).toBe("1.2.4");
    expect(await first.features()).toEqual({ modernExitCodes: false, quarterlyKeepRules: false });
    expect(await borg.asked()).toBe(1);

    const second = createBorgClient(repository, { binary: borg.path, versionCacheFile: cacheFile });
    expect((await second.version()).text).toBe("1.2.4");
    expect(await borg.asked()).toBe(1);

    // without a cache file every client asks borg itself
    const uncached = createBorgClient(repository, { binary: borg.path });
    await uncached.version();
    expect(await borg.asked()).toBe(2);
  });

  it("a replaced binary is asked again, and a newer borg's features follow", async () => {
    const dir = await scratch("version-cache-upgrade");
    const borg = await countingBorg(dir);
    const cacheFile = join(dir, "borg-version.json");
    const repository = { location: join(dir, "repo") };
    await createBorgClient(repository, { binary: borg.path, versionCacheFile: cacheFile }).version();
    expect(await borg.asked()).toBe(1);

    // an upgrade rewrites the file; even with the old mtime put back, its ctime changes
    const { mtime } = await stat(borg.path);
    const counter = join(dir, "asked.txt");
    await rm(borg.path);
    await writeFile(borg.path, `#!/bin/sh\necho asked >> ${JSON.stringify(counter)}\necho "borg 1.4.1"\n`);
    await chmod(borg.path, 0o755);
    await utimes(borg.path, mtime, mtime);

    const upgraded = createBorgClient(repository, { binary: borg.path, versionCacheFile: cacheFile });
    expect((await upgraded.version()).text).toBe("1.4.1");
    expect((await upgraded.features()).quarterlyKeepRules).toBe(true);
    expect(await borg.asked()).toBe(2);
  });

  it("a damaged or foreign cache file is ignored and rewritten; an old entry is detected again", async () => {
    const dir = await scratch("version-cache-damaged");
    const borg = await countingBorg(dir);
    const cacheFile = join(dir, "borg-version.json");
    const repository = { location: join(dir, "repo") };
    await writeFile(cacheFile, "{ not json");
    expect((await createBorgClient(repository, { binary: borg.path, versionCacheFile: cacheFile }).version()).text).toBe("1.2.4");
    await writeFile(cacheFile, JSON.stringify({ v: 1, entries: [{ binary: { path: borg.path }, version: "1.4.9" }] }));
    expect((await createBorgClient(repository, { binary: borg.path, versionCacheFile: cacheFile }).version()).text).toBe("1.2.4");
    expect(await borg.asked()).toBe(2);

    // what was written is read back for this binary, but not once it is older than a day
    const identity = await binaryIdentity(borg.path);
    expect((await readCachedVersion(cacheFile, identity))?.text).toBe("1.2.4");
    expect(await readCachedVersion(cacheFile, identity, Date.now() + 25 * 60 * 60 * 1000)).toBeUndefined();
  });

  it("the real borg: a prune through the engine's client remembers the version in the state folder", async () => {
    const repo = await makeTestRepository();
    cleanups.push(repo.remove);
    const cacheFile = join(repo.root, "state", "borg-version.json");
    const client = createBorgClient(repo.repository, { versionCacheFile: cacheFile });
    await client.prune({ prefix: "nothing@", keep: { daily: 1 } });
    const cached = z
      .object({ entries: z.array(z.object({ binary: z.object({ path: z.string() }), version: z.object({ major: z.number() }) })) })
      .parse(JSON.parse(await readFile(cacheFile, "utf8")));
    expect(cached.entries).toHaveLength(1);
    expect(cached.entries[0]?.binary.path).toMatch(/\/borg$/);
    expect(cached.entries[0]?.version.major).toBe(1);
  });
});
