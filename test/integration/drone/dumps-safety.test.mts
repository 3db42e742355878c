/**
 * What the review of the dumps found, on real parts (borg, sqlite3): a damaged SQLite database
 * fails its dump instead of being stored as an empty one, and an archive that holds such a dump
 * (from an older drone) never replaces a live file.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { type ResultEvent } from "../../../libs/protocol/index.mjs";
import { TEST_PASSPHRASE, type TestRepository } from "../../helpers/borg.mjs";
import { bootDrone, droneTestConfig, makeDroneRepository } from "../../helpers/drone.mjs";
import { sqlite } from "../../helpers/sqlite.mjs";

/** borg itself, on the test repository. */
function borg(repo: TestRepository, args: string[], cwd?: string): Buffer {
  return execFileSync("borg", args, {
    env: { ...process.env, BORG_PASSPHRASE: TEST_PASSPHRASE, BORG_BASE_DIR: repo.repository.baseDir ?? "" },
    maxBuffer: 64 * 1024 * 1024,
    ...(cwd === undefined ? {} : { cwd }),
  });
}

/** Every archive in the repository, checkpoints included. */
const allArchives = (repo: TestRepository) =>
  borg(repo, ["list", "--consider-checkpoints", "--short", repo.repository.location]).toString().split("\n").filter(line => line.length > 0);

/**
 * An archive of this drone laid out as a drone before these fixes wrote it: the dump's data and
 * a version 1 manifest without `selects_database`, under backup-drone-dumps/.
 */
async function olderArchive(repo: TestRepository, name: string, manifest: Record<string, unknown>, data: Buffer | string): Promise<string> {
  const run = join(repo.root, `older-${name}`);
  await mkdir(join(run, "backup-drone-dumps"), { recursive: true });
  const file = String(manifest.file);
  await writeFile(join(run, "backup-drone-dumps", file), data);
  await writeFile(join(run, "backup-drone-dumps", `${name}.json`), JSON.stringify({ version: 1, name, created_at: "2026-11-01T02:00:00Z", ...manifest }));
  const archive = `testdrone@2026-11-01T02:00:00.000`;
  borg(repo, ["create", `${repo.repository.location}::${archive}`, "backup-drone-dumps"], run);
  await rm(run, { recursive: true });
  return archive;
}

describe("dump safety on real databases", () => {
  let repo: TestRepository | undefined;
  const cleanups: (() => Promise<unknown>)[] = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await repo?.remove();
    repo = undefined;
  });

  async function drone(extra: Record<string, unknown>) {
    if (!repo) throw new Error("no repository");
    const booted = await bootDrone(droneTestConfig(repo, extra));
    cleanups.push(booted.teardown);
    const run = (operation: "create" | "restore", options?: Parameters<typeof booted.engine.request>[2]): Promise<ResultEvent> => {
      const answer = booted.engine.request(operation, "library", options);
      if (!answer.accepted) throw new Error(answer.reason);
      return answer.done;
    };
    return { ...booted, run };
  }

  describe("a damaged SQLite database", () => {
    /** A database whose page 21 (in table a's b-tree) is zeroed. */
    async function damagedDatabase(path: string): Promise<void> {
      await sqlite(path, "CREATE TABLE a (x); WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 3000) INSERT INTO a SELECT hex(randomblob(100)) FROM g; CREATE TABLE b (y); INSERT INTO b VALUES (1);");
      execFileSync("dd", ["if=/dev/zero", `of=${path}`, "bs=4096", "seek=20", "count=1", "conv=notrunc"], { stdio: "ignore" });
    }

    it("fails its dump (sqlite3 exits 0, the script ends in ROLLBACK) and the run keeps no archive", async () => {
      repo = await makeDroneRepository(2, 1024);
      const db = join(repo.root, "home-assistant_v2.db");
      await damagedDatabase(db);
      const { run } = await drone({ DUMPS: { homeassistant: { kind: "sqlite", path: db } } });
      const result = await run("create");
      expect(result).toMatchObject({ outcome: "failed", error_kind: "dump_failed", archive: null });
      expect(result.error).toBe(
        `dump homeassistant (sqlite) is not whole although sqlite3 exited 0: it ends with "ROLLBACK; -- due to errors" instead of COMMIT;; is the database damaged? \`sqlite3 ${db} "PRAGMA integrity_check"\` tells`,
      );
      expect(allArchives(repo)).toEqual([]);
    });

    it("an archive holding such a dump (from an older drone) never replaces the live file: refused, the file as it was, no build file left", async () => {
      repo = await makeDroneRepository(2, 1024);
      const damaged = join(repo.root, "damaged.db");
      await damagedDatabase(damaged);
      const script = execFileSync("sqlite3", ["-bail", damaged, ".dump"], { maxBuffer: 64 * 1024 * 1024 });
      expect(script.toString().trimEnd().endsWith("ROLLBACK; -- due to errors")).toBe(true);
      const live = join(repo.root, "live", "home-assistant_v2.db");
      await mkdir(join(repo.root, "live"));
      await sqlite(live, "CREATE TABLE states (id INTEGER PRIMARY KEY, value TEXT); INSERT INTO states (value) VALUES ('live row');");
      const before = await readFile(live);
      await olderArchive(repo, "homeassistant", { kind: "sqlite", format: "sql", path: live, file: "homeassistant.sql" }, script);
      const { run } = await drone({ DUMPS: { homeassistant: { kind: "sqlite", path: live } } });
      const result = await run("restore", { dump: { name: "homeassistant", destination: { kind: "database" }, replace: true } });
      expect(result).toMatchObject({ outcome: "failed", error_kind: "dump_restore_failed" });
      expect(result.error).toBe(
        `restoring homeassistant into SQLite database ${live}: the dump is not a whole sqlite3 script (it ends with "ROLLBACK; -- due to errors" instead of COMMIT;): it was made of a database sqlite3 could not read whole; ${live} was left as it was. Take the data with --to-file PATH to look at it, or restore from an older archive`,
      );
      expect((await readFile(live)).equals(before)).toBe(true);
      expect(await readdir(join(repo.root, "live"))).toEqual(["home-assistant_v2.db"]);
    });

    it("a script that ends in COMMIT; but builds no table of the ones it makes does not replace the live file either", async () => {
      repo = await makeDroneRepository(2, 1024);
      const live = join(repo.root, "live.db");
      await sqlite(live, "CREATE TABLE states (id INTEGER PRIMARY KEY); INSERT INTO states VALUES (1);");
      const before = await readFile(live);
      const script = "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE states (id INTEGER PRIMARY KEY);\nINSERT INTO states VALUES(1);\nROLLBACK;\nBEGIN TRANSACTION;\nCOMMIT;\n";
      await olderArchive(repo, "ha", { kind: "sqlite", format: "sql", path: live, file: "ha.sql" }, script);
      const { run } = await drone({ DUMPS: { ha: { kind: "sqlite", path: live } } });
      const result = await run("restore", { dump: { name: "ha", destination: { kind: "database" }, replace: true } });
      expect(result).toMatchObject({ outcome: "failed", error_kind: "dump_restore_failed" });
      expect(result.error).toMatch(/: the database built from the dump holds no table, though the dump makes some; /);
      expect((await readFile(live)).equals(before)).toBe(true);
      expect(existsSync(`${live}-journal`)).toBe(false);
    });
  });
});
