/**
 * Dumps streamed into a real borg archive: sqlite3 and `command` dumps land byte for byte as
 * their tools wrote them under `backup-drone-dumps/`; a failing dump leaves no archive at all
 * and says why; a hanging one is stopped at its timeout with its process group; `continue`
 * makes the archive without the failed dump; a FIFO in the sources does not hang the run; a
 * dump's password reaches no argv and no borg environment.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { type ResultEvent } from "../../../libs/protocol/index.mjs";
import { TEST_PASSPHRASE, type TestRepository } from "../../helpers/borg.mjs";
import { bootDrone, droneTestConfig, makeDroneRepository } from "../../helpers/drone.mjs";
import { groupGone, liveInGroup, numberInFile } from "../../helpers/process-group.mjs";

/** borg itself, on the test repository. */
function borg(repo: TestRepository, args: string[]): Buffer {
  return execFileSync("borg", args, {
    env: { ...process.env, BORG_PASSPHRASE: TEST_PASSPHRASE, BORG_BASE_DIR: repo.repository.baseDir ?? "" },
    maxBuffer: 64 * 1024 * 1024,
  });
}

/** Every archive in the repository, checkpoints included. */
const allArchives = (repo: TestRepository) =>
  borg(repo, ["list", "--consider-checkpoints", "--short", repo.repository.location]).toString().split("\n").filter(line => line.length > 0);

/** The paths of an archive. */
const archivePaths = (repo: TestRepository, archive: string) =>
  borg(repo, ["list", "--short", `${repo.repository.location}::${archive}`]).toString().split("\n").filter(line => line.length > 0);

/** One file of an archive, as bytes. */
const extracted = (repo: TestRepository, archive: string, path: string) => borg(repo, ["extract", "--stdout", `${repo.repository.location}::${archive}`, path]);

/** A small SQLite database in WAL mode, with rows. */
function makeSqlite(path: string, rows: number): void {
  execFileSync("sqlite3", [path], { input: `PRAGMA journal_mode=WAL;\nCREATE TABLE states (id INTEGER PRIMARY KEY, value TEXT);\nWITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${rows}) INSERT INTO states (value) SELECT 'row ' || i FROM n;\n` });
}

describe("dumps streamed into the archive", () => {
  let repo: TestRepository | undefined;
  const cleanups: (() => Promise<unknown>)[] = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await repo?.remove();
    repo = undefined;
  });

  async function run(extra: Record<string, unknown>, operation: "create" | "scheduled" = "create"): Promise<ResultEvent> {
    if (!repo) throw new Error("no repository");
    const drone = await bootDrone(droneTestConfig(repo, extra));
    cleanups.push(drone.teardown);
    const answer = drone.engine.request(operation, "library");
    if (!answer.accepted) throw new Error(answer.reason);
    return answer.done;
  }

  it("stores a sqlite3 dump and a command's output byte for byte, with their manifests, under backup-drone-dumps/", async () => {
    repo = await makeDroneRepository(2, 1024);
    const db = join(repo.root, "home-assistant_v2.db");
    makeSqlite(db, 2000);
    const script = join(repo.root, "make-data.sh");
    // output larger than a pipe's buffer, so the relay's backpressure is exercised
    await writeFile(script, "#!/bin/sh\nseq 1 300000\n", { mode: 0o755 });
    const result = await run({
      DUMPS: {
        homeassistant: { kind: "sqlite", path: db },
        numbers: { kind: "command", command: script, extension: "txt" },
      },
    });
    expect(result).toMatchObject({ outcome: "success", error_kind: null });
    const archive = result.archive?.name ?? "";
    const paths = archivePaths(repo, archive);
    // exactly these paths, whatever the machine's folders (borg reads them in inode order)
    expect(paths.filter(path => !path.startsWith(repo?.root.slice(1) ?? "?")).sort()).toEqual([
      "backup-drone-dumps",
      "backup-drone-dumps/homeassistant.json",
      "backup-drone-dumps/homeassistant.sql",
      "backup-drone-dumps/numbers.json",
      "backup-drone-dumps/numbers.txt",
    ]);
    const sqliteOutput = execFileSync("sqlite3", ["-bail", db, ".dump"]);
    expect(extracted(repo, archive, "backup-drone-dumps/homeassistant.sql").equals(sqliteOutput)).toBe(true);
    const commandOutput = execFileSync(script, { maxBuffer: 64 * 1024 * 1024 });
    expect(extracted(repo, archive, "backup-drone-dumps/numbers.txt").equals(commandOutput)).toBe(true);
    const manifest: unknown = JSON.parse(extracted(repo, archive, "backup-drone-dumps/homeassistant.json").toString());
    expect(manifest).toMatchObject({ version: 1, name: "homeassistant", kind: "sqlite", format: "sql", path: db, file: "homeassistant.sql" });
    expect(result.dumps).toEqual([
      { name: "homeassistant", kind: "sqlite", outcome: "success", size: sqliteOutput.length, duration_seconds: expect.any(Number) as number, error: null },
      { name: "numbers", kind: "command", outcome: "success", size: commandOutput.length, duration_seconds: expect.any(Number) as number, error: null },
    ]);
    // the run folder is gone after the run
    expect(existsSync(join(repo.root, "state", "testdrone.dump-run"))).toBe(false);
  });
});
