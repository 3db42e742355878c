/**
 * The npm package as a user gets it: `npm pack`, then the tarball installed with its production
 * dependencies only in an empty folder. Its bins run, its library subpaths export what the docs
 * say, its files are the built code, docs and LICENSE (no tests, no TypeScript sources), and a
 * backup runs from it with real borg, so no devDependency is needed at run time.
 *
 * The install is offline and reproducible: the empty folder gets a lockfile made from the
 * project's own (the versions the suite tested), and npm takes the tarballs from its cache, which
 * `npm ci` of the project filled. better-sqlite3's native build (about 90 s from source here) is
 * not redone: the project's own build of the same version is copied in.
 */
import { execFile } from "node:child_process";
import { builtinModules } from "node:module";
import { cp, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { promisify } from "node:util";

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

import { tempDir } from "../../helpers/fs.mjs";
import { builtBin, childEnv, ROOT } from "../../helpers/process.mjs";

const run = promisify(execFile);

const packed = z.array(z.object({ filename: z.string(), files: z.array(z.object({ path: z.string() })) })).length(1);
const lockEntry = z.looseObject({ version: z.string().optional(), dev: z.boolean().optional() });
const lockfile = z.looseObject({ packages: z.record(z.string(), lockEntry) });
const manifest = z.looseObject({
  name: z.string(),
  version: z.string(),
  dependencies: z.record(z.string(), z.string()),
  devDependencies: z.record(z.string(), z.string()),
  bin: z.record(z.string(), z.string()),
});
const exportsSeen = z.object({ drone: z.string(), engine: z.string(), coordinator: z.string(), borg: z.string(), secret: z.string(), result: z.string(), schema: z.string() });
const archiveList = z.object({ archives: z.array(z.object({ name: z.string() })) });

/** The package a bare import specifier names (`@scope/name/sub` → `@scope/name`). */
function packageOf(specifier: string): string {
  const parts = specifier.split("/");
  return (specifier.startsWith("@") ? parts.slice(0, 2) : parts.slice(0, 1)).join("/");
}

describe("the npm package, installed from its tarball in an empty folder", () => {
  let temp: { path: string; remove: () => Promise<void> } | undefined;
  let files: string[] = [];
  let tarball = "";
  let app = "";
  let pkg: z.infer<typeof manifest>;

  beforeAll(async () => {
    // dist as the sources are now; `npm pack` would run prepare (the same build) into the
    // project's dist while other test files run its bins, so the build happens here, once
    await builtBin("backup-drone");
    await builtBin("backup-coordinator");
    pkg = manifest.parse(JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")));
    temp = await tempDir("package");
    const [pack] = packed.parse(JSON.parse((await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", temp.path], { cwd: ROOT })).stdout));
    tarball = pack?.filename ?? "";
    files = (pack?.files ?? []).map(file => file.path);

    app = join(temp.path, "app");
    await mkdir(app);
    const lock = lockfile.parse(JSON.parse(await readFile(join(ROOT, "package-lock.json"), "utf8")));
    const packages: Record<string, unknown> = {
      "": { name: "empty-folder", version: "1.0.0", dependencies: { [pkg.name]: `file:../${tarball}` } },
      [`node_modules/${pkg.name}`]: { version: pkg.version, resolved: `file:../${tarball}`, dependencies: pkg.dependencies, bin: pkg.bin },
    };
    for (const [path, entry] of Object.entries(lock.packages)) if (path !== "" && entry.dev !== true) packages[path] = entry;
    await writeFile(join(app, "package.json"), JSON.stringify(packages[""]));
    await writeFile(join(app, "package-lock.json"), JSON.stringify({ name: "empty-folder", version: "1.0.0", lockfileVersion: 3, requires: true, packages }));
    await run("npm", ["ci", "--offline", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"], { cwd: app });
    const sqlite = "node_modules/better-sqlite3";
    const version = (dir: string) => readFile(join(dir, sqlite, "package.json"), "utf8").then(text => z.looseObject({ version: z.string() }).parse(JSON.parse(text)).version);
    expect(await version(app)).toBe(await version(ROOT));
    await cp(join(ROOT, sqlite, "build"), join(app, sqlite, "build"), { recursive: true });
  }, 170_000);

  afterAll(async () => {
    await temp?.remove();
  });

  it("holds LICENSE, README.md, the built code and the docs; no tests and no TypeScript sources", () => {
    for (const file of ["LICENSE", "README.md", "package.json", pkg.bin["backup-drone"] ?? "", pkg.bin["backup-coordinator"] ?? "", "docs/install.md", "docs/cli.md"]) {
      expect(files).toContain(file);
    }
    expect(files.filter(file => file.startsWith("test/") || file.startsWith("scripts/") || file.startsWith("bench/"))).toEqual([]);
    expect(files.filter(file => file.endsWith(".mts") && !file.endsWith(".d.mts"))).toEqual([]);
    expect(files.filter(file => !/^(dist|docs|examples|deploy|homeassistant)\//.test(file)).sort()).toEqual(["LICENSE", "README.md", "package.json"]);
  });

  it("README.md and install.md name the tarball as npm pack writes it", async () => {
    expect(tarball).toBe(`${pkg.name}-${pkg.version}.tgz`);
    for (const document of ["README.md", "docs/install.md"]) {
      const text = await readFile(join(ROOT, document), "utf8");
      expect(text.includes(`npm install -g ./${tarball}`), `${document} says: npm install -g ./${tarball}`).toBe(true);
    }
  });

  it("the bins run from node_modules/.bin", async () => {
    const env = childEnv({}, temp?.path ?? "");
    const drone = await run(join(app, "node_modules", ".bin", "backup-drone"), ["--help"], { cwd: app, env });
    expect(drone.stdout).toMatch(/backup-drone \[command\]/);
    expect(drone.stdout).toContain("restore");
    const coordinator = await run(join(app, "node_modules", ".bin", "backup-coordinator"), ["--help"], { cwd: app, env });
    expect(coordinator.stdout).toContain("backup-coordinator");
    expect((await run(join(app, "node_modules", ".bin", "backup-drone"), ["--version"], { cwd: app, env })).stdout.trim()).toContain(pkg.version);
  });

  it("backup-coordinator/drone, /coordinator, /borg and /protocol export what the docs say", async () => {
    const script = `
      const drone = await import("backup-coordinator/drone");
      const coordinator = await import("backup-coordinator/coordinator");
      const borg = await import("backup-coordinator/borg");
      const protocol = await import("backup-coordinator/protocol");
      console.log(JSON.stringify({
        drone: drone.LIB_DRONE.name, engine: typeof drone.createDroneEngine,
        coordinator: coordinator.LIB_BACKUP_COORDINATOR.name,
        borg: typeof borg.createBorgClient, secret: typeof borg.Secret,
        result: protocol.EVENT_TYPES.result, schema: typeof protocol.resultEventSchema.parse,
      }));`;
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], { cwd: app, env: childEnv({}, temp?.path ?? "") });
    expect(exportsSeen.parse(JSON.parse(stdout))).toEqual({
      drone: "drone",
      engine: "function",
      coordinator: "backup_coordinator",
      borg: "function",
      secret: "function",
      result: "backup_drone_result",
      schema: "function",
    });
  });

  it("the installed code imports only node's modules, itself and its dependencies (never a devDependency)", async () => {
    const dist = join(app, "node_modules", pkg.name, "dist");
    const allowed = new Set([...Object.keys(pkg.dependencies), pkg.name]);
    const strays: string[] = [];
    let checked = 0;
    for (const entry of await readdir(dist, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith(".mjs")) continue;
      const source = await readFile(join(entry.parentPath, entry.name), "utf8");
      // a specifier never spans lines: in the bundled bins a "from" in one string and a quote lines below are no import
      for (const [, specifier] of source.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^import\s*)"([^"\n]+)"/gm)) {
        if (specifier === undefined || specifier.startsWith(".")) continue;
        checked++;
        const name = packageOf(specifier);
        if (specifier.startsWith("node:") || builtinModules.includes(name) || allowed.has(name)) continue;
        strays.push(`${relative(dist, join(entry.parentPath, entry.name))}: ${specifier}${name in pkg.devDependencies ? " (a devDependency)" : ""}`);
      }
    }
    expect(checked).toBeGreaterThan(20);
    expect(strays).toEqual([]);
  });

  it("with production dependencies only, backup-drone init and create make a backup with real borg", async () => {
    const home = join(temp?.path ?? "", "home");
    const source = join(home, "data");
    await mkdir(source, { recursive: true });
    await writeFile(join(source, "hello.txt"), "hello\n");
    await writeFile(join(home, "passphrase"), "correct horse battery staple\n", { mode: 0o600 });
    const repository = join(home, "repo");
    const env = childEnv({ DRONE_REPOSITORY: repository, DRONE_PASSPHRASE_FILE: join(home, "passphrase"), DRONE_SOURCES: source, DRONE_ID: "packaged" }, home);
    const bin = join(app, "node_modules", ".bin", "backup-drone");
    await run(bin, ["init"], { cwd: app, env });
    const create = await run(bin, ["create", "--json"], { cwd: app, env });
    expect(create.stdout).toContain('"outcome":"success"');
    const listed = await run("borg", ["list", "--json", repository], { env: { ...env, BORG_PASSPHRASE: "correct horse battery staple" } });
    expect(archiveList.parse(JSON.parse(listed.stdout)).archives.map(archive => archive.name)).toEqual([expect.stringMatching(/^packaged@/)]);
  });
});
