/**
 * Restore and find against real borg: byte-identical files (whole archive and a subset),
 * versions across archives, the non-empty target rule, this drone's archives only, the
 * queue, and the Home Assistant Restore button, archive choice and target.
 */
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { type DroneEngine } from "../../../apps/drone/core/engine.mjs";
import { EVENT_TYPES, type ProgressEvent, resultEventSchema } from "../../../libs/protocol/index.mjs";
import { type TestRepository } from "../../helpers/borg.mjs";
import { bootDrone, droneTestConfig, makeDroneRepository } from "../../helpers/drone.mjs";
import { fileHashes, tempDir } from "../../helpers/fs.mjs";
import { bootHassDrone, type HassDrone, teardownCheckingSecrets } from "../../helpers/hass.mjs";
import { waitFor } from "../../helpers/wait.mjs";

/** Every file under `root`: its path relative to root, sha256, size, mode and mtime (ms). */
async function snapshot(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    const info = await stat(path);
    const hash = entry.isFile() ? createHash("sha256").update(await readFile(path)).digest("hex") : "dir";
    out[relative(root, path)] = `${hash} ${info.size} ${info.mode.toString(8)} ${info.mtimeMs}`;
  }
  return out;
}

/** Where the archived source folder lands under a restore target (borg keeps the full path, without the leading /). */
const restoredSource = (target: string, repo: TestRepository) => join(target, join(repo.root, "source").slice(1));

describe("restore and find (engine, real borg)", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  const setup = async () => {
    const repo = await makeDroneRepository(6, 200 * 1024);
    await mkdir(join(repo.root, "source", "docs"), { recursive: true });
    await writeFile(join(repo.root, "source", "docs", "notes.txt"), "version one\n");
    const drone = await bootDrone(droneTestConfig(repo));
    cleanups.push(async () => {
      await drone.teardown();
      await repo.remove();
    });
    return { repo, engine: drone.engine };
  };

  const target = async () => {
    const dir = await tempDir("restore");
    cleanups.push(dir.remove);
    return dir.path;
  };

  it("restores the whole archive and a subset of paths byte for byte, with progress and a result", async () => {
    const { repo, engine } = await setup();
    const created = await engine.run("create", "library");
    expect(created.outcome).toBe("success");
    const original = await fileHashes(join(repo.root, "source"));
    expect(Object.keys(original)).toHaveLength(7);

    const progress: ProgressEvent[] = [];
    engine.onProgress(event => progress.push(event));
    const whole = await target();
    const result = await engine.run("restore", "cli", { restore: { archive: "latest", target: whole } });
    expect(result).toMatchObject({ operation: "restore", outcome: "success", error_kind: null });
    expect(result.restore).toEqual({ archive: created.archive?.name, target: whole, paths: [], paths_count: 0 });
    expect(resultEventSchema.safeParse(result).success).toBe(true);
    expect(await fileHashes(restoredSource(whole, repo))).toEqual(original);
    const restoring = progress.filter(event => event.run_id === result.run_id);
    expect(restoring.every(event => event.operation === "restore" && event.state === "restoring")).toBe(true);
    expect(restoring.some(event => !event.finished && event.percent !== null && event.percent > 0)).toBe(true);
    expect(restoring.at(-1)).toMatchObject({ finished: true, percent: 100 });
    expect(engine.live().state).toBe("idle");

    // a file and a folder, named as stored or with a leading slash; into a folder that does not exist yet
    const subset = join(await target(), "new", "deeper");
    const source = join(repo.root, "source");
    const picked = await engine.run("restore", "cli", {
      restore: { archive: created.archive?.name ?? "", target: subset, paths: [join(source, "file-00002.bin"), join(source, "docs").slice(1)] },
    });
    expect(picked.outcome).toBe("success");
    expect(picked.restore?.paths).toEqual([join(source, "file-00002.bin").slice(1), join(source, "docs").slice(1)]);
    expect(picked.restore?.paths_count).toBe(2);
    expect(await fileHashes(restoredSource(subset, repo))).toEqual({
      "file-00002.bin": original["file-00002.bin"],
      "docs/notes.txt": original["docs/notes.txt"],
    });
  });

  it("a folder that is not empty is refused and left exactly as it was; --overwrite replaces the same paths only", async () => {
    const { repo, engine } = await setup();
    await engine.run("create", "library");
    const dir = await target();
    const mine = join(restoredSource(dir, repo), "docs");
    await mkdir(mine, { recursive: true });
    await writeFile(join(mine, "notes.txt"), "local edit, not in the backup\n");
    await writeFile(join(mine, "mine.txt"), "a file of my own\n");
    const before = await snapshot(dir);

    const refused = await engine.run("restore", "cli", { restore: { archive: "latest", target: dir } });
    expect(refused).toMatchObject({ outcome: "failed", error_kind: "target_not_empty" });
    expect(refused.error).toContain("is not empty; nothing was restored");
    expect(refused.restore).toBeNull();
    expect(await snapshot(dir)).toEqual(before);

    const overwritten = await engine.run("restore", "cli", { restore: { archive: "latest", target: dir, overwrite: true } });
    expect(overwritten.outcome).toBe("success");
    expect(await readFile(join(mine, "notes.txt"), "utf8")).toBe("version one\n");
    expect(await readFile(join(mine, "mine.txt"), "utf8")).toBe("a file of my own\n");
    expect(await fileHashes(restoredSource(dir, repo))).toMatchObject(await fileHashes(join(repo.root, "source")));
  });

  it("refuses another drone's archive, a relative target, and a restore with nothing to restore", async () => {
    const { engine } = await setup();
    const dir = await target();
    const empty = await engine.run("restore", "cli", { restore: { archive: "latest", target: dir } });
    expect(empty).toMatchObject({ outcome: "failed", error_kind: "no_archives" });
    const other = await engine.run("restore", "cli", { restore: { archive: "nas@2026-11-22T02:00:00.000", target: dir } });
    expect(other).toMatchObject({ outcome: "failed", error_kind: "archive_not_ours" });
    expect(other.error).toContain("--DRONE_ID=");
    const relativeTarget = await engine.run("restore", "cli", { restore: { archive: "latest", target: "restore-here" } });
    expect(relativeTarget).toMatchObject({ outcome: "failed", error_kind: "target_invalid" });
    const missing = await engine.run("restore", "cli", { restore: { archive: "testdrone@1999-01-01T00:00:00.000", target: dir } });
    expect(missing).toMatchObject({ outcome: "failed", error_kind: "archive_missing" });
    expect(await readdir(dir)).toEqual([]);
  });

  it("a restore is an operation: it waits in the queue behind a running backup", async () => {
    const { engine } = await setup();
    await engine.run("create", "library");
    const dir = await target();
    const backup = engine.request("create", "library");
    const restore = engine.request("restore", "library", { restore: { archive: "latest", target: dir } });
    expect(backup).toMatchObject({ accepted: true, queued: false });
    expect(restore).toMatchObject({ accepted: true, queued: true });
    expect(engine.request("restore", "library", { restore: { archive: "latest", target: dir } })).toMatchObject({ accepted: false });
    if (!backup.accepted || !restore.accepted) throw new Error("not accepted");
    const [created, restored] = await Promise.all([backup.done, restore.done]);
    expect(restored.outcome).toBe("success");
    expect(Date.parse(restored.started_at)).toBeGreaterThanOrEqual(Date.parse(created.finished_at));
    // latest was decided when the restore ran: the archive the queued backup had just made
    expect(restored.restore?.archive).toBe(created.archive?.name);
  });

  it("find returns the versions of a changed file, newest first, honouring --versions and --older-than", async () => {
    const { repo, engine } = await setup();
    const notes = join(repo.root, "source", "docs", "notes.txt");
    const client = engine.client("primary");
    const day = 86_400_000;
    // three archives made 30, 20 and 10 days ago, then one now; notes.txt changes in the second and the last
    const make = async (name: string, daysAgo: number) => {
      const created = await client.create({ archive: `testdrone@${name}`, paths: [join(repo.root, "source")], timestamp: new Date(Date.now() - daysAgo * day) });
      expect(created.outcome).toBe("success");
    };
    await make("a-30d", 30);
    await writeFile(notes, "version two, longer\n");
    await make("b-20d", 20);
    await make("c-10d", 10);
    await writeFile(notes, "version three, the longest of them all\n");
    const now = await engine.run("create", "library");
    // another drone's archive of the same files is never searched
    await client.create({ archive: "otherdrone@x", paths: [join(repo.root, "source")] });

    const all = await engine.find({ pattern: "notes.txt" });
    expect(all.map(version => version.archive)).toEqual([now.archive?.name, "testdrone@c-10d", "testdrone@a-30d"]);
    expect(all[1]?.archives.map(archive => archive.name)).toEqual(["testdrone@c-10d", "testdrone@b-20d"]);
    expect(all.map(version => version.items.map(item => item.size))).toEqual([[39], [20], [12]]);
    expect(all.every(version => version.items.every(item => item.path.endsWith("docs/notes.txt")))).toBe(true);
    expect(engine.persisted().recentArchives).toEqual([now.archive?.name, "testdrone@c-10d", "testdrone@b-20d", "testdrone@a-30d"]);

    expect((await engine.find({ pattern: "notes.txt", versions: 2 })).map(version => version.archive)).toEqual([
      now.archive?.name,
      "testdrone@c-10d",
    ]);
    const older = await engine.find({ pattern: "/" + join(repo.root, "source", "docs", "*.txt").slice(1), olderThan: new Date(Date.now() - 15 * day) });
    expect(older.map(version => version.archive)).toEqual(["testdrone@b-20d", "testdrone@a-30d"]);
    expect(await engine.find({ pattern: "no-such-file.txt" })).toEqual([]);
  });
});

describe("restore from Home Assistant", () => {
  const drones: HassDrone[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const drone of drones.splice(0)) {
      // the canaries: in no log line, no event, no registration or patch
      await teardownCheckingSecrets(drone);
    }
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it("the archive choice lists the archives after a backup; a bad target is refused; Restore restores the chosen archive", async () => {
    const repo = await makeDroneRepository(3, 64 * 1024);
    const dir = await tempDir("ha-restore");
    cleanups.push(repo.remove, dir.remove);
    const drone = await bootHassDrone(droneTestConfig(repo));
    drones.push(drone);
    const engine: DroneEngine = drone.engine;
    await waitFor(() => drone.registration(), "the registration");
    expect(drone.registered("restore_archive")).toMatchObject({ options: ["latest"], current_option: "latest" });
    expect(drone.registered("restore_target")).toMatchObject({ native_value: "", pattern: "^(/.*)?$" });
    expect(drone.registered("restore")).toBeDefined();

    const first = await drone.nextResult("create", () => drone.press("create_backup"));
    await writeFile(join(repo.root, "source", "file-00000.bin"), "changed after the first backup\n");
    const second = await drone.nextResult("create", () => drone.press("create_backup"));
    await waitFor(
      () => JSON.stringify(drone.published("restore_archive", "options")) === JSON.stringify(["latest", second.archive?.name, first.archive?.name]),
      "the archives as Restore Archive options",
    );

    // a relative path, a path with .., and another drone's archive: refused, the old value kept
    const rejected = async (key: "restore_target" | "restore_archive", value: string, old: string) => {
      const count = drone.patches(key).length;
      if (key === "restore_target") await drone.setValue(key, value);
      else await drone.selectOption(key, value);
      await waitFor(() => drone.patches(key).length > count, `the answer to ${value}`);
      expect(drone.published(key, key === "restore_target" ? "native_value" : "current_option")).toBe(old);
      expect(drone.logs.some(line => line.startsWith("warn") && line.includes(`testdrone ${key}`) && line.includes("rejected"))).toBe(true);
    };
    await rejected("restore_target", "relative/folder", "");
    await rejected("restore_target", "/srv/../etc", "");
    await rejected("restore_archive", "nas@2026-11-22T02:00:00.000", "latest");
    expect(engine.settings()).toMatchObject({ restoreTarget: "", restoreArchive: "latest" });

    // no target yet: the press fails with a reason HA shows
    const unset = await drone.nextResult("restore", () => drone.press("restore"));
    expect(unset).toMatchObject({ outcome: "failed", error_kind: "target_invalid", trigger: "button" });
    await waitFor(() => String(drone.published("last_error")).includes("no restore target is set"), "the reason in Last Error");

    await drone.setValue("restore_target", `${dir.path}/`);
    await waitFor(() => engine.settings().restoreTarget === dir.path, "the target applied");
    await drone.selectOption("restore_archive", first.archive?.name);
    await waitFor(() => engine.settings().restoreArchive === first.archive?.name, "the archive chosen");
    await waitFor(() => drone.published("restore_archive", "current_option") === first.archive?.name, "the choice published");

    const restored = await drone.nextResult("restore", () => drone.press("restore"));
    expect(restored).toMatchObject({ outcome: "success", trigger: "button", restore: { archive: first.archive?.name, target: dir.path, paths: [] } });
    const back = await readFile(join(restoredSource(dir.path, repo), "file-00000.bin"));
    expect(back.toString()).not.toBe("changed after the first backup\n");
    expect(back.length).toBe(64 * 1024);
    await waitFor(() => drone.published("application_state") === "idle", "idle again");
    expect(drone.patches("application_state").map(data => data.state)).toContain("restoring");
    const progress = drone.fired(EVENT_TYPES.progress).filter(event => event.event_data.run_id === restored.run_id);
    expect(progress.some(event => event.event_data.finished === true && event.event_data.percent === 100)).toBe(true);

    // pressed again: the folder is no longer empty, nothing changes
    const again = await drone.nextResult("restore", () => drone.press("restore"));
    expect(again).toMatchObject({ outcome: "failed", error_kind: "target_not_empty" });
    for (const event of drone.fired(EVENT_TYPES.result)) expect(resultEventSchema.safeParse(event.event_data).success).toBe(true);
  });
});
