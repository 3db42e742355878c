/**
 * Never lose a backup: a run whose sources are gone makes no archive, and a suspicious
 * archive holds prune. Real borg on temp repositories; the keep rules (one archive a day)
 * would prune every older archive of today if the guard let prune run.
 */
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterEach, beforeAll, describe, expect, it } from "vitest";

import { resultEventSchema } from "../../../libs/protocol/index.mjs";
import { TEST_PASSPHRASE, type TestRepository } from "../../helpers/borg.mjs";
import { bootDrone, droneTestConfig, makeDroneRepository } from "../../helpers/drone.mjs";
import { writeRandomFiles } from "../../helpers/fs.mjs";
import { builtBin, startProcess } from "../../helpers/process.mjs";

/** Keep one archive a day: a prune after three archives today removes two. */
const ONE_A_DAY = { KEEP_DAILY: 1, KEEP_WEEKLY: 0, KEEP_MONTHLY: 0, KEEP_YEARLY: 0 };

async function archiveNames(repo: TestRepository): Promise<string[]> {
  return (await repo.client.list({ prefix: "testdrone@" })).value.archives.map(archive => archive.name);
}

describe("the prune guard, on real borg", () => {
  let repo: TestRepository | undefined;
  let teardown: (() => Promise<void>) | undefined;

  afterEach(async () => {
    await teardown?.();
    await repo?.remove();
    teardown = undefined;
    repo = undefined;
  });

  /** Three archives of today, made with the given configuration, then a drone with `next` config. */
  async function threeArchivesThen(next: Record<string, unknown>, first: Record<string, unknown> = {}) {
    repo = await makeDroneRepository();
    const before = await bootDrone(droneTestConfig(repo, { ...ONE_A_DAY, ...first }));
    for (let i = 0; i < 3; i++) expect((await before.engine.run("create", "library")).outcome).toBe("success");
    await before.teardown();
    const drone = await bootDrone(droneTestConfig(repo, { ...ONE_A_DAY, ...next }));
    teardown = drone.teardown;
    return { drone, archives: await archiveNames(repo) };
  }

  it("every source missing: the run fails before borg, names the sources, keeps every archive and Last Backup", async () => {
    const { drone, archives } = await threeArchivesThen({ SOURCES: ["/nonexistent-source-a", "/nonexistent-source-b"] });
    const lastBackup = drone.engine.persisted().lastBackup;
    const result = await drone.engine.run("scheduled", "library");
    expect(resultEventSchema.parse(result)).toEqual(result);
    expect(result).toMatchObject({ outcome: "failed", error_kind: "sources_missing", archive: null, pruned: [] });
    expect(result.error).toContain("/nonexistent-source-a (missing)");
    expect(result.error).toContain("/nonexistent-source-b (missing)");
    expect(await archiveNames(repo!)).toEqual(archives);
    expect(drone.engine.persisted().lastBackup).toBe(lastBackup);
  });

  it("a source that is an empty folder (an unmounted mount point) counts as missing", async () => {
    const { drone, archives } = await threeArchivesThen({});
    const source = join(repo!.root, "source");
    await rm(source, { recursive: true });
    await mkdir(source);
    const result = await drone.engine.run("scheduled", "library");
    expect(result).toMatchObject({ outcome: "failed", error_kind: "sources_missing" });
    expect(result.error).toContain(`${source} (an empty folder)`);
    expect(await archiveNames(repo!)).toEqual(archives);
  });

  it("an archive of no file (everything excluded) is deleted again and nothing is pruned", async () => {
    const { drone, archives } = await threeArchivesThen({ EXCLUDES: ["*/file-*"] });
    const lastBackup = drone.engine.persisted().lastBackup;
    const result = await drone.engine.run("scheduled", "library");
    expect(result).toMatchObject({ outcome: "failed", error_kind: "empty_archive", pruned: [] });
    expect(result.error).toContain("read no file");
    expect(await archiveNames(repo!)).toEqual(archives);
    expect(drone.engine.persisted().lastBackup).toBe(lastBackup);
  });

  it("a vanished source holds prune: the archive is kept, nothing is pruned, until the hold is released", async () => {
    repo = await makeDroneRepository();
    const second = join(repo.root, "second");
    await writeRandomFiles(second, 4, 64 * 1024);
    const config = droneTestConfig(repo, { ...ONE_A_DAY, SOURCES: [join(repo.root, "source"), second] });
    const drone = await bootDrone(config);
    teardown = drone.teardown;
    for (let i = 0; i < 3; i++) expect((await drone.engine.run("create", "library")).outcome).toBe("success");
    const before = await archiveNames(repo);

    await rm(second, { recursive: true });
    const held = await drone.engine.run("scheduled", "library");
    expect(resultEventSchema.parse(held)).toEqual(held);
    expect(held).toMatchObject({ outcome: "held", error_kind: "prune_held", pruned: [] });
    expect(held.error).toContain(`${second} (missing)`);
    expect(held.error).toContain("backup-drone release");
    expect(held.archive?.name).toMatch(/^testdrone@/);
    const afterHeld = await archiveNames(repo);
    expect(afterHeld).toEqual([...before, held.archive?.name]);
    expect(drone.engine.persisted().pruneHold?.archive).toBe(held.archive?.name);
    expect(drone.engine.persisted().lastResult).toBe("held");

    // a manual prune is held too, and so is every later run until a person releases the hold
    const prune = await drone.engine.run("prune", "library");
    expect(prune).toMatchObject({ outcome: "held", pruned: [] });
    const later = await drone.engine.run("scheduled", "library");
    expect(later).toMatchObject({ outcome: "held", pruned: [] });
    expect(await archiveNames(repo)).toHaveLength(afterHeld.length + 1);

    expect(await drone.engine.releasePruneHold("library")).toBe(true);
    expect(drone.engine.persisted().pruneHold).toBeNull();
    expect(await drone.engine.releasePruneHold("library")).toBe(false);
    const released = await drone.engine.run("prune", "library");
    expect(released.outcome).toBe("success");
    expect(released.pruned.length).toBeGreaterThan(0);
    expect(await archiveNames(repo)).toEqual([later.archive?.name]);
  });

  it("the file count falling by more than GUARD_SHRINK_PERCENT holds prune; with PRUNE_GUARD off it prunes", async () => {
    const { drone, archives } = await threeArchivesThen({});
    const source = join(repo!.root, "source");
    const files = (await readdir(source)).sort();
    for (const name of files.slice(0, 6)) await rm(join(source, name));
    const held = await drone.engine.run("scheduled", "library");
    expect(held).toMatchObject({ outcome: "held", pruned: [] });
    expect(held.error).toContain("the file count fell by 75 %");
    expect(await archiveNames(repo!)).toEqual([...archives, held.archive?.name]);
    await drone.teardown();

    const unguarded = await bootDrone(droneTestConfig(repo!, { ...ONE_A_DAY, PRUNE_GUARD: false }));
    teardown = unguarded.teardown;
    // the hold was recorded while the guard was on; releasing it is still a person's step
    await unguarded.engine.releasePruneHold("library");
    for (const name of files.slice(6)) await rm(join(source, name));
    await writeFile(join(source, "only"), "one small file");
    const pruned = await unguarded.engine.run("scheduled", "library");
    expect(pruned.outcome).toBe("success");
    expect(pruned.pruned.length).toBe(archives.length + 1);
  });

  it("with the state file lost, the guard compares with the newest archive in the repository; a create alone reports held", async () => {
    repo = await makeDroneRepository();
    const before = await bootDrone(droneTestConfig(repo, ONE_A_DAY));
    for (let i = 0; i < 3; i++) expect((await before.engine.run("create", "library")).outcome).toBe("success");
    await before.teardown();
    const archives = await archiveNames(repo);
    await rm(join(repo.root, "state"), { recursive: true });
    const source = join(repo.root, "source");
    for (const name of (await readdir(source)).sort().slice(0, 6)) await rm(join(source, name));

    const drone = await bootDrone(droneTestConfig(repo, ONE_A_DAY));
    teardown = drone.teardown;
    expect(drone.engine.persisted().lastArchive).toBeNull();
    const created = await drone.engine.run("create", "library");
    expect(created).toMatchObject({ outcome: "held", error_kind: "prune_held" });
    expect(created.error).toContain(`the file count fell by 75 % (8 in ${archives.at(-1)}`);
    const scheduled = await drone.engine.run("scheduled", "library");
    expect(scheduled).toMatchObject({ outcome: "held", pruned: [] });
    expect(await archiveNames(repo)).toEqual([...archives, created.archive?.name, scheduled.archive?.name]);
  });

  /** A borg that writes each subcommand it is started with into `calls`, then runs the real borg. */
  async function countingBorg(dir: string) {
    const calls = join(dir, "borg-calls.txt");
    const binary = join(dir, "counting-borg");
    await writeFile(binary, `#!/bin/sh\necho "$1" >> ${JSON.stringify(calls)}\nexec borg "$@"\n`, { mode: 0o755 });
    await writeFile(calls, "");
    // `--version` is asked once per binary and then remembered: only subcommands count
    const subcommands = async () => (await readFile(calls, "utf8")).split("\n").filter(line => line.length > 0 && !line.startsWith("-"));
    return { binary, subcommands, reset: () => writeFile(calls, "") };
  }

  it("after this drone's init, its first backup starts only borg create: no archive of it can be in the repository", async () => {
    repo = await makeDroneRepository();
    const borg = await countingBorg(repo.root);
    const fresh = join(repo.root, "fresh", "repo");
    const drone = await bootDrone(droneTestConfig(repo, { ...ONE_A_DAY, REPOSITORY: fresh, BORG_BINARY: borg.binary }));
    teardown = drone.teardown;
    await drone.engine.initRepository({ encryption: "repokey-blake2", makeParentDirs: true });
    expect(drone.engine.persisted().createdRepository).toMatchObject({ location: fresh });
    await borg.reset();

    const first = await drone.engine.run("create", "library");
    expect(first.outcome).toBe("success");
    expect(await borg.subcommands()).toEqual(["create"]);
    // the record stands until the first archive: from then on the state names that archive
    expect(drone.engine.persisted().createdRepository).toBeNull();
    expect(drone.engine.persisted().lastArchive?.name).toBe(first.archive?.name);
  });

  it("a record of another repository (REPOSITORY changed after init) spares no look: the guard compares with the newest archive there", async () => {
    repo = await makeDroneRepository();
    const elsewhere = join(repo.root, "state-elsewhere");
    const before = await bootDrone(droneTestConfig(repo, { ...ONE_A_DAY, STATE_DIR: elsewhere }));
    for (let i = 0; i < 3; i++) expect((await before.engine.run("create", "library")).outcome).toBe("success");
    await before.teardown();
    const archives = await archiveNames(repo);

    const borg = await countingBorg(repo.root);
    const other = join(repo.root, "other", "repo");
    const initialised = await bootDrone(droneTestConfig(repo, { ...ONE_A_DAY, REPOSITORY: other, BORG_BINARY: borg.binary }));
    await initialised.engine.initRepository({ encryption: "repokey-blake2", makeParentDirs: true });
    await initialised.teardown();

    const source = join(repo.root, "source");
    for (const name of (await readdir(source)).sort().slice(0, 6)) await rm(join(source, name));
    const drone = await bootDrone(droneTestConfig(repo, { ...ONE_A_DAY, BORG_BINARY: borg.binary }));
    teardown = drone.teardown;
    expect(drone.engine.persisted().createdRepository).toMatchObject({ location: other });
    await borg.reset();
    const created = await drone.engine.run("create", "library");
    expect(await borg.subcommands()).toEqual(["info", "create"]);
    expect(created).toMatchObject({ outcome: "held", error_kind: "prune_held" });
    expect(created.error).toContain(`the file count fell by 75 % (8 in ${archives.at(-1)}`);
  });

  it("most of the archive being new data (files rewritten at once) holds prune; an unchanged rerun does not", async () => {
    const { drone, archives } = await threeArchivesThen({ GUARD_CHANGE_MIN_MB: 0 });
    const unchanged = await drone.engine.run("create", "library");
    expect(unchanged.outcome).toBe("success");
    expect(drone.engine.persisted().pruneHold).toBeNull();

    const source = join(repo!.root, "source");
    await rm(source, { recursive: true });
    await writeRandomFiles(source, 8, 256 * 1024);
    const held = await drone.engine.run("scheduled", "library");
    expect(held).toMatchObject({ outcome: "held", pruned: [] });
    expect(held.error).toMatch(/of the archive is new data/);
    expect(await archiveNames(repo!)).toEqual([...archives, unchanged.archive?.name, held.archive?.name]);
  });
});

describe("the prune guard from the command line", () => {
  let bin = "";
  let repo: TestRepository | undefined;
  beforeAll(async () => {
    bin = await builtBin("backup-drone");
  }, 120_000);
  afterEach(async () => {
    await repo?.remove();
    repo = undefined;
  });

  it("DRONE_SOURCES=/nonexistent backup-drone backup fails (exit 2) and prunes nothing; a held backup exits 7 until `release`", async () => {
    repo = await makeDroneRepository(8, 32 * 1024);
    const config = join(repo.root, "backup_drone.json");
    const { PASSPHRASE: _secret, SOURCES: _sources, ...drone } = droneTestConfig(repo, ONE_A_DAY);
    await writeFile(config, JSON.stringify({ drone }));
    const source = join(repo.root, "source");
    const cli = (args: string[], env: Record<string, string> = {}) =>
      startProcess(bin, [...args, "--config", config], { cwd: repo!.root, env: { DRONE_PASSPHRASE: TEST_PASSPHRASE, DRONE_SOURCES: source, ...env } }).done;

    for (let i = 0; i < 3; i++) expect((await cli(["create"])).code).toBe(0);
    const archives = await archiveNames(repo);
    expect(archives).toHaveLength(3);

    const missing = await cli(["backup"], { DRONE_SOURCES: "/nonexistent" });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("/nonexistent (missing)");
    expect(missing.stdout + missing.stderr).not.toMatch(/pruned \d+ archive/);
    expect(await archiveNames(repo)).toEqual(archives);

    for (const name of (await readdir(source)).slice(0, 6)) await rm(join(source, name));
    const held = await cli(["backup"]);
    expect(held.code).toBe(7);
    expect(held.stdout).toContain("prune held");
    expect(held.stdout).toContain("backup-drone release");
    expect(await archiveNames(repo)).toHaveLength(4);
    const status = await cli(["status"]);
    expect(status.stdout).toContain("prune held");
    expect((await cli(["prune"])).code).toBe(7);
    expect(await archiveNames(repo)).toHaveLength(4);

    const released = await cli(["release"]);
    expect(released.code).toBe(0);
    expect(released.stdout).toContain("prune hold released");
    expect((await cli(["release", "--json"])).stdout.trim()).toBe(JSON.stringify({ released: false, hold: null }));
    const pruned = await cli(["prune"]);
    expect(pruned.code).toBe(0);
    expect(await archiveNames(repo)).toHaveLength(1);
  });
});
