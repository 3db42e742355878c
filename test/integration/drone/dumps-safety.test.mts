/**
 * What the review of the dumps found, on real parts (borg, MariaDB from test/helpers, sqlite3):
 * `--to-database` of a MariaDB dump fills the database it names and leaves the original alone
 * (and an older archive whose dump holds USE refuses it); a damaged SQLite database fails its
 * dump instead of being stored as an empty one, and an archive that holds such a dump (from an
 * older drone) never replaces a live file; archives made without a dump that failed (policy
 * continue) hold prune, so that they never age out the archives that hold it.
 */
import { execFile, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import { type ResultEvent } from "../../../libs/protocol/index.mjs";
import { TEST_PASSPHRASE, type TestRepository } from "../../helpers/borg.mjs";
import { bootDrone, droneTestConfig, makeDroneRepository } from "../../helpers/drone.mjs";
import { fillMariadb, mariadbFingerprint, type MariadbServer, startMariadb } from "../../helpers/mariadb.mjs";
import { sqlite } from "../../helpers/sqlite.mjs";

const exec = promisify(execFile);

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

  describe("MariaDB --to-database", () => {
    let mdb: MariadbServer | undefined;
    beforeAll(async () => {
      mdb = await startMariadb();
    }, 120_000);
    afterAll(async () => {
      await mdb?.stop();
    });
    const server = () => {
      if (!mdb) throw new Error("MariaDB did not start");
      return mdb;
    };
    const setting = (database: string) => {
      const m = server();
      return { kind: "mariadb", host: m.host, port: m.port, user: m.user, database, password_file: m.passwordFile };
    };

    it("fills the database it names and leaves the original untouched; a database that is not there is said, not made", async () => {
      const m = server();
      repo = await makeDroneRepository(2, 1024);
      await fillMariadb(m, "cloud");
      const original = await mariadbFingerprint(m, "cloud");
      const { run } = await drone({ DUMPS: { cloud: setting("cloud") } });
      const created = await run("create");
      expect(created).toMatchObject({ outcome: "success" });
      const archive = created.archive?.name ?? "";
      // no CREATE DATABASE nor USE in the stored dump
      const sql = borg(repo, ["extract", "--stdout", `${repo.repository.location}::${archive}`, "backup-drone-dumps/cloud.sql"]).toString();
      expect(sql).toContain("CREATE TABLE `customers`");
      expect(sql.split("\n").filter(line => /^(CREATE DATABASE|USE )/.test(line))).toEqual([]);

      // the live database changes after the backup
      await m.sql("cloud", "UPDATE customers SET name = 'changed' WHERE id % 3 = 0; DELETE FROM notes WHERE id > 100");
      const changed = await mariadbFingerprint(m, "cloud");
      expect(changed).not.toEqual(original);

      const missing = await run("restore", { dump: { name: "cloud", destination: { kind: "database", database: "cloud_check" }, replace: true } });
      expect(missing).toMatchObject({ outcome: "failed", error_kind: "dump_restore_failed" });
      expect(missing.error).toMatch(/Unknown database 'cloud_check'.*; create the database first/);

      await m.sql(undefined, "CREATE DATABASE cloud_check CHARACTER SET utf8mb4");
      const restored = await run("restore", { dump: { name: "cloud", destination: { kind: "database", database: "cloud_check" }, replace: true } });
      expect(restored).toMatchObject({ outcome: "success", error_kind: null });
      expect(await mariadbFingerprint(m, "cloud_check")).toEqual(original);
      expect(await mariadbFingerprint(m, "cloud")).toEqual(changed);
    });

    it("an older archive whose dump holds USE refuses --to-database elsewhere and changes nothing", async () => {
      const m = server();
      repo = await makeDroneRepository(2, 1024);
      await fillMariadb(m, "books");
      // the dump as drones made it before: --databases, so CREATE DATABASE and USE inside
      // (the test's own client: the password in its environment, in this test's process tree only)
      const { stdout } = await exec("mariadb-dump", ["--no-defaults", "-h", m.host, "-P", String(m.port), "-u", m.user, "--single-transaction", "--databases", "books"], {
        env: { ...process.env, MYSQL_PWD: m.password },
        maxBuffer: 64 * 1024 * 1024,
      });
      expect(stdout).toMatch(/^USE `books`;$/m);
      await olderArchive(repo, "books", { kind: "mariadb", format: "sql", database: "books", file: "books.sql" }, stdout);
      await m.sql("books", "DELETE FROM notes WHERE id > 10");
      const changed = await mariadbFingerprint(m, "books");
      await m.sql(undefined, "CREATE DATABASE books_check");
      const { run } = await drone({ DUMPS: { books: setting("books") } });
      const refused = await run("restore", { dump: { name: "books", destination: { kind: "database", database: "books_check" }, replace: true } });
      expect(refused).toMatchObject({ outcome: "failed", error_kind: "target_invalid" });
      expect(refused.error).toMatch(/^the dump books in this archive selects its database itself \(its SQL holds USE `books`/);
      expect(await mariadbFingerprint(m, "books")).toEqual(changed);
      expect(await m.sql("books_check", "SHOW TABLES")).toBe("");
    });
  });

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

  describe("prune after a dump failed with policy continue", () => {
    /** Keep one archive a day: a prune after several archives today keeps only the newest. */
    const ONE_A_DAY = { KEEP_DAILY: 1, KEEP_WEEKLY: 0, KEEP_MONTHLY: 0, KEEP_YEARLY: 0 };
    const archives = async (test: TestRepository) => (await test.client.list({ prefix: "testdrone@" })).value.archives.map(archive => archive.name);

    it("an archive without a dump that earlier archives hold holds prune, again after a release while it still fails, and no more once it is back", async () => {
      repo = await makeDroneRepository(2, 1024);
      const broken = join(repo.root, "database-down");
      const command = `if [ -e ${broken} ]; then echo 'db: no route to host' >&2; exit 1; fi; echo rows`;
      const { engine } = await drone({ ...ONE_A_DAY, DUMPS: { db: { kind: "command", command, policy: "continue" } } });
      for (let i = 0; i < 2; i++) expect(await engine.run("create", "library")).toMatchObject({ outcome: "success" });
      const withDump = await archives(repo);
      expect(engine.persisted().dumpsHeld.primary).toEqual(["db"]);

      await writeFile(broken, "");
      const held = await engine.run("scheduled", "library");
      expect(held).toMatchObject({ outcome: "held", error_kind: "prune_held", pruned: [] });
      expect(held.error).toContain("the dump db is not in this archive (dump db (command) exited with 1: db: no route to host) but earlier archives hold it");
      expect(held.warnings).toContain("dump db (command) exited with 1: db: no route to host (policy continue: the archive was made without it)");
      expect(await archives(repo)).toEqual([...withDump, held.archive?.name]);

      // released while the dump still fails: the next archive without it holds prune again
      expect(await engine.releasePruneHold("library")).toBe(true);
      const again = await engine.run("scheduled", "library");
      expect(again).toMatchObject({ outcome: "held", pruned: [] });
      expect(again.error).toContain("the dump db is not in this archive");
      expect(await archives(repo)).toEqual([...withDump, held.archive?.name, again.archive?.name]);

      // the dump works again: its archive holds nothing more, and once released prune keeps the newest, which holds the dump
      await rm(broken);
      expect(await engine.releasePruneHold("library")).toBe(true);
      const back = await engine.run("scheduled", "library");
      expect(back).toMatchObject({ outcome: "success", error_kind: null });
      expect(back.pruned.length).toBeGreaterThan(0);
      expect(await archives(repo)).toEqual([back.archive?.name]);
      expect(borg(repo, ["extract", "--stdout", `${repo.repository.location}::${back.archive?.name ?? ""}`, "backup-drone-dumps/db.out"]).toString()).toBe("rows\n");
    });
  });
});
