/**
 * Dumps round trips on real databases: a throw-away PostgreSQL and MariaDB (test/helpers) and
 * sqlite3 files, real borg, the real bin. One `backup-drone create` streams five dumps into one
 * archive (pg_dump -Fc of one database, pg_dumpall of all, mariadb-dump, sqlite3 .dump and a
 * command); the data is then changed, and `backup-drone restore-dump` brings each back: compared
 * with the original by row counts and per-table checksums. Also `list --dumps`, `find --dump`,
 * the refusals and the passwords' paths (in no argv, and in no environment but that of the one
 * PostgreSQL tool that logs in).
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, chown, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

import { EXIT_CODES } from "../../../apps/drone/cli/spec.mjs";
import { resultEventSchema } from "../../../libs/protocol/index.mjs";
import { makeTestRepository, TEST_PASSPHRASE, type TestRepository } from "../../helpers/borg.mjs";
import { tempDir } from "../../helpers/fs.mjs";
import { fillMariadb, mariadbFingerprint, type MariadbServer, startMariadb } from "../../helpers/mariadb.mjs";
import { fillPostgres, postgresFingerprint, type PostgresServer, startPostgres } from "../../helpers/postgres.mjs";
import { builtBin, type Finished, startProcess } from "../../helpers/process.mjs";
import { fillSqlite, sqlite, sqliteFingerprint } from "../../helpers/sqlite.mjs";

const exec = promisify(execFile);
const DRONE = "dumpdrone";

let bin = "";
let pg: PostgresServer | undefined;
let mdb: MariadbServer | undefined;
let repo: TestRepository | undefined;
let work = "";
let removeWork: () => Promise<void> = () => Promise.resolve();
/** The archive the one `backup-drone create` made, holding every dump below. */
let archive = "";
/** The config of that create (and of the restores into the same databases). */
let args: string[] = [];
/** Each dump's data as it was at the create. */
const original = {
  shop: {} as Awaited<ReturnType<typeof postgresFingerprint>>,
  ledger: {} as Awaited<ReturnType<typeof postgresFingerprint>>,
  cloud: {} as Awaited<ReturnType<typeof mariadbFingerprint>>,
  homeassistant: {} as Awaited<ReturnType<typeof sqliteFingerprint>>,
  influx: "",
};

const server = <T,>(value: T | undefined): T => {
  if (value === undefined) throw new Error("the test's servers did not start");
  return value;
};

beforeAll(async () => {
  const [built, postgres, mariadb, repository, folder] = await Promise.all([builtBin("backup-drone"), startPostgres(), startMariadb(), makeTestRepository(), tempDir("dumps")]);
  bin = built;
  pg = postgres;
  mdb = mariadb;
  repo = repository;
  work = folder.path;
  removeWork = folder.remove;
  // the drone's files: one small one, so that each archive is mostly its dumps
  await mkdir(join(work, "source"));
  await writeFile(join(work, "source", "notes.txt"), "files beside the dumps\n");
  // boot times, for whoever reads the test log (no assertion: a slow machine is not a failure)
  console.log(`PostgreSQL booted in ${postgres.bootMs} ms, MariaDB in ${mariadb.bootMs} ms`);
}, 120_000);

afterAll(async () => {
  await Promise.all([pg?.stop(), mdb?.stop(), repo?.remove(), removeWork()]);
});

/** Write the drone's config file with these DUMPS; returns the command-line arguments that use it. */
async function droneConfig(dumps: Record<string, unknown>, name = "drone.json"): Promise<string[]> {
  const repository = server(repo);
  const file = join(work, name);
  const passphraseFile = join(work, "passphrase");
  await writeFile(passphraseFile, TEST_PASSPHRASE, { mode: 0o600 });
  await writeFile(
    file,
    JSON.stringify({
      drone: {
        DRONE_ID: DRONE,
        REPOSITORY: repository.repository.location,
        SOURCES: [join(work, "source")],
        STATE_DIR: join(work, "state"),
        BORG_BASE_DIR: repository.repository.baseDir,
        // in a file, not the environment: no secret of these tests is in any process's environment
        PASSPHRASE_FILE: passphraseFile,
        LOCK_WAIT_SECONDS: 5,
        DUMPS: dumps,
      },
    }),
  );
  return ["--config", file];
}

const ENV = {};

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

/** Every secret of these tests: none may show up where it does not belong. */
const CANARIES = () => [server(pg).password, server(mdb).password, TEST_PASSPHRASE];

interface Sighting {
  pid: number;
  comm: string;
  /** The parent's comm. */
  parent: string;
  where: "cmdline" | "environ";
  canary: string;
}

/**
 * Look through the argv and environment of the drone and of every process it started, until it
 * exits (other tests on the machine may use the same borg canary: only this drone's tree counts).
 */
async function watchProcesses(args: string[]): Promise<{ value: Finished; sightings: Sighting[]; looks: number }> {
  const drone = startProcess(bin, args, { cwd: work, env: ENV });
  const sightings: Sighting[] = [];
  const tree = new Set([drone.pid]);
  let done = false;
  let looks = 0;
  const watching = (async () => {
    while (!done) {
      looks++;
      const entries = (await readdir("/proc").catch(() => [])).filter(entry => /^\d+$/.test(entry));
      // a child's stat names its parent: grow the tree until it stops growing
      const parents = new Map<number, number>();
      for (const entry of entries) {
        const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
        parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
      }
      for (let grown = true; grown; ) {
        grown = false;
        for (const [pid, parent] of parents) {
          if (!tree.has(parent) || tree.has(pid)) continue;
          tree.add(pid);
          grown = true;
        }
      }
      for (const pid of tree) {
        const comm = (await readFile(`/proc/${pid}/comm`, "utf8").catch(() => "")).trim();
        const parent = (await readFile(`/proc/${parents.get(pid) ?? 0}/comm`, "utf8").catch(() => "")).trim();
        for (const where of ["cmdline", "environ"] as const) {
          const text = await readFile(`/proc/${pid}/${where}`, "latin1").catch(() => "");
          for (const canary of CANARIES()) if (text.includes(canary)) sightings.push({ pid, comm, parent, where, canary });
        }
      }
      await new Promise(resolve => setTimeout(resolve, 10));
    }
  })();
  const value = await drone.done.finally(() => (done = true));
  await watching;
  return { value, sightings, looks: tree.size > 1 ? looks : 0 };
}

const run = (args: string[]) => startProcess(bin, args, { cwd: work, env: ENV }).done;

const jsonLines = (text: string): unknown[] =>
  text
    .split("\n")
    .filter(line => line.trim().startsWith("{"))
    .map(line => JSON.parse(line) as unknown);

const resultOf = (stdout: string) => {
  const result = jsonLines(stdout)
    .map(line => resultEventSchema.safeParse(line))
    .find(parsed => parsed.success);
  if (!result?.success) throw new Error(`no result event in:\n${stdout}`);
  return result.data;
};

const failureLine = z.object({ outcome: z.literal("failed"), error_kind: z.string(), error: z.string() });

/** What a restore must never leave: a canary in its output or in the drone's state folder. */
async function expectNoCanaryIn(output: string): Promise<void> {
  for (const canary of CANARIES()) expect(output).not.toContain(canary);
  const state = join(work, "state");
  for (const entry of await readdir(state, { recursive: true }).catch(() => [])) {
    const content = await readFile(join(state, entry)).catch(() => Buffer.alloc(0));
    for (const canary of CANARIES()) expect(content.includes(canary), `${entry} holds a secret`).toBe(false);
  }
}

describe("backup-drone create with DUMPS", () => {
  it("streams pg_dump -Fc, pg_dumpall, mariadb-dump, sqlite3 .dump and a command into one archive; the passwords only in the environment of the PostgreSQL tools", async () => {
    const postgres = server(pg);
    const mariadb = server(mdb);
    await Promise.all([fillPostgres(postgres, "shop"), fillPostgres(postgres, "ledger", 7), fillMariadb(mariadb, "cloud"), fillSqlite(join(work, "home-assistant_v2.db"))]);
    original.shop = await postgresFingerprint(postgres, "shop");
    original.ledger = await postgresFingerprint(postgres, "ledger");
    original.cloud = await mariadbFingerprint(mariadb, "cloud");
    original.homeassistant = await sqliteFingerprint(join(work, "home-assistant_v2.db"));
    // a command's output: bytes that are not text, more than a pipe's buffer
    const influxData = join(work, "influx-data.bin");
    await writeFile(influxData, Buffer.from(Array.from({ length: 200_000 }, (_, index) => index % 251)));
    original.influx = sha256(await readFile(influxData));
    const restoreScript = join(work, "restore-influx.sh");
    await writeFile(restoreScript, `#!/bin/sh\ncat > ${join(work, "influx-restored.bin")}\n`, { mode: 0o755 });

    const pgConnection = { host: postgres.host, port: postgres.port, user: postgres.user, password_file: postgres.passwordFile };
    args = await droneConfig(
      {
        shop: { kind: "postgresql", database: "shop", ...pgConnection },
        cluster: { kind: "postgresql", database: "all", ...pgConnection },
        cloud: { kind: "mariadb", host: mariadb.host, port: mariadb.port, user: mariadb.user, database: "cloud", password_file: mariadb.passwordFile },
        homeassistant: { kind: "sqlite", path: join(work, "home-assistant_v2.db") },
        influx: { kind: "command", command: `cat ${influxData}`, restore_command: restoreScript, extension: "bin" },
      },
      "create.json",
    );
    const { value: created, sightings } = await watchProcesses(["create", "--json", ...args]);
    expect(created.code, created.stdout + created.stderr).toBe(EXIT_CODES.success);
    const result = resultOf(created.stdout);
    expect(result).toMatchObject({ operation: "create", outcome: "success" });
    archive = result.archive?.name ?? "";
    expect(archive.startsWith(DRONE)).toBe(true);
    expect(result.dumps?.map(dump => [dump.name, dump.outcome])).toEqual([
      ["shop", "success"],
      ["cluster", "success"],
      ["cloud", "success"],
      ["homeassistant", "success"],
      ["influx", "success"],
    ]);
    expect(result.dumps?.find(dump => dump.name === "influx")?.size).toBe(200_000);
    // the watcher saw the PostgreSQL tools while they ran; nothing else held a password (pg_dumpall
    // runs a pg_dump per database through system(), so its own `sh` inherits its environment)
    expect(sightings.some(seen => seen.comm === "pg_dump" || seen.comm === "pg_dumpall")).toBe(true);
    const ofPostgresTools = (seen: Sighting) => ["pg_dump", "pg_dumpall"].includes(seen.comm) || (seen.comm === "sh" && seen.parent === "pg_dumpall");
    expect(sightings.filter(seen => !(seen.where === "environ" && ofPostgresTools(seen) && seen.canary === postgres.password))).toEqual([]);
    await expectNoCanaryIn(created.stdout + created.stderr);
  });
});

describe("restore-dump on PostgreSQL (pg_dump -Fc, pg_restore)", () => {
  const damage = async () => {
    const postgres = server(pg);
    await postgres.sql("shop", "UPDATE customers SET name = 'changed' WHERE id % 3 = 0; DELETE FROM orders WHERE id > 4000; DROP TABLE notes; CREATE TABLE extra (id int)");
    expect(await postgresFingerprint(postgres, "shop").catch(() => ({}))).not.toEqual(original.shop);
  };

  it("--dry-run says what would run and changes nothing", async () => {
    await damage();
    const before = await server(pg).sql("shop", "SELECT count(*) FROM customers WHERE name = 'changed'");
    const dry = await run(["restore-dump", "shop", "--dry-run", "--json", ...args]);
    expect(dry.code, dry.stderr).toBe(EXIT_CODES.success);
    const line = z
      .object({ dry_run: z.literal(true), archive: z.string(), tool: z.string(), command: z.string(), target: z.string(), size: z.number(), replaces: z.boolean(), path: z.string() })
      .parse(jsonLines(dry.stdout)[0]);
    expect(line).toMatchObject({ archive, tool: "pg_restore", path: "backup-drone-dumps/shop.pgdump", replaces: true });
    expect(line.command).toContain("--dbname shop");
    expect(line.target).toContain(`127.0.0.1:${server(pg).port}`);
    expect(line.size).toBeGreaterThan(1000);
    expect(await server(pg).sql("shop", "SELECT count(*) FROM customers WHERE name = 'changed'")).toBe(before);
    expect(await server(pg).sql("shop", "SELECT to_regclass('notes') IS NULL")).toBe("t");
    await expectNoCanaryIn(dry.stdout + dry.stderr);
  });

  it("refuses to replace the live database without --yes (not on a terminal): exit 5, nothing changed", async () => {
    const refused = await run(["restore-dump", "shop", "--json", ...args]);
    expect(refused.code, refused.stderr).toBe(EXIT_CODES.not_empty);
    expect(failureLine.parse(jsonLines(refused.stdout)[0]).error_kind).toBe("target_not_empty");
    expect(await server(pg).sql("shop", "SELECT to_regclass('notes') IS NULL")).toBe("t");
  });

  it("a wrong password: one line naming the login failure, without the password; nothing changed", async () => {
    const wrong = join(work, "wrong-pg-password");
    await writeFile(wrong, "not-the-Password-77", { mode: 0o600 });
    const postgres = server(pg);
    const wrongArgs = await droneConfig({ shop: { kind: "postgresql", host: postgres.host, port: postgres.port, user: postgres.user, database: "shop", password_file: wrong } }, "pg-wrong.json");
    const failed = await run(["restore-dump", "shop", "--yes", "--json", ...wrongArgs]);
    expect(failed.code, failed.stderr).toBe(EXIT_CODES.failed);
    const result = resultOf(failed.stdout);
    expect(result.error_kind).toBe("dump_restore_failed");
    expect(result.error).toMatch(/pg_restore failed \(exit 1\): .*password authentication failed for user "tester"/);
    expect(result.error).not.toContain("\n");
    expect(failed.stdout + failed.stderr).not.toContain("not-the-Password-77");
    expect(await postgres.sql("shop", "SELECT to_regclass('notes') IS NULL")).toBe("t");
  });

  it("restores the archived database over the changed one: row counts and checksums as before; the password only in pg_restore's environment", async () => {
    await server(pg).sql("shop", "UPDATE customers SET name = 'again' WHERE id = 1");
    expect(await postgresFingerprint(server(pg), "shop").catch(() => ({}))).not.toEqual(original.shop);
    const { value: restored, sightings, looks } = await watchProcesses(["restore-dump", "shop", "--yes", "--json", ...args]);
    expect(restored.code, restored.stdout + restored.stderr).toBe(EXIT_CODES.success);
    const result = resultOf(restored.stdout);
    expect(result.operation).toBe("restore");
    expect(result.restore).toMatchObject({ archive, paths: ["backup-drone-dumps/shop.pgdump"] });
    expect(await postgresFingerprint(server(pg), "shop")).toEqual(original.shop);
    // the watcher looked while the restore ran (and saw the drone's children); only the tool that logs in had the password
    expect(looks).toBeGreaterThan(2);
    expect(sightings.some(seen => seen.comm === "pg_restore")).toBe(true);
    expect(sightings.filter(seen => !(seen.where === "environ" && seen.comm === "pg_restore" && seen.canary === server(pg).password))).toEqual([]);
    await expectNoCanaryIn(restored.stdout + restored.stderr);
  });

  it("--to-database restores into another database; --to-file writes the dump's bytes and never replaces a file", async () => {
    const absent = await run(["restore-dump", "shop", "--to-database", "shop_check", "--yes", "--json", ...args]);
    expect(absent.code, absent.stderr).toBe(EXIT_CODES.failed);
    expect(resultOf(absent.stdout).error).toMatch(/FATAL: {2}database "shop_check" does not exist; create the database first \(PostgreSQL: createdb NAME/);
    await server(pg).sql("postgres", "CREATE DATABASE shop_check");
    const other = await run(["restore-dump", "shop", "--to-database", "shop_check", "--yes", ...args]);
    expect(other.code, other.stderr).toBe(EXIT_CODES.success);
    expect(await postgresFingerprint(server(pg), "shop_check")).toEqual(original.shop);

    const target = join(work, "shop.pgdump");
    const copied = await run(["restore-dump", "shop", "--to-file", target, ...args]);
    expect(copied.code, copied.stderr).toBe(EXIT_CODES.success);
    const listed = await exec("pg_restore", ["--list", target]);
    expect(listed.stdout).toContain("TABLE DATA public customers");
    const again = await run(["restore-dump", "shop", "--to-file", target, "--json", ...args]);
    expect(again.code).toBe(EXIT_CODES.not_empty);
    expect(failureLine.parse(jsonLines(again.stdout)[0]).error_kind).toBe("target_not_empty");
  });

  it("an archive without the dump, and a tool that is not installed: one line each", async () => {
    const missing = await run(["restore-dump", "nextcloud", "--json", ...args]);
    expect(missing.code).toBe(EXIT_CODES.failed);
    const line = failureLine.parse(jsonLines(missing.stdout)[0]);
    expect(line.error_kind).toBe("dump_missing");
    expect(line.error).toContain(`no archive of ${DRONE} holds a dump named nextcloud`);

    // a PATH with borg alone: pg_restore is not there
    const onlyBorg = join(work, "only-borg");
    await mkdir(onlyBorg, { recursive: true });
    await symlink("/usr/bin/borg", join(onlyBorg, "borg")).catch(() => undefined);
    const noTool = await startProcess(bin, ["restore-dump", "shop", "--yes", "--json", ...args], { cwd: work, env: { ...ENV, PATH: onlyBorg } }).done;
    expect(noTool.code, noTool.stderr).toBe(EXIT_CODES.failed);
    const toolLine = failureLine.parse(jsonLines(noTool.stdout)[0]);
    expect(toolLine.error_kind).toBe("tool_missing");
    expect(toolLine.error).toContain("pg_restore is not installed");
  });
});

describe("restore-dump on MariaDB (mariadb-dump, mariadb) and a pg_dumpall into a new PostgreSQL server", () => {
  it("restores a MariaDB database over the changed one; the password in no process's argv or environment", async () => {
    const mariadb = server(mdb);
    await mariadb.sql("cloud", "UPDATE customers SET name = 'changed' WHERE id % 3 = 0; DELETE FROM notes WHERE id > 100");
    expect(await mariadbFingerprint(mariadb, "cloud")).not.toEqual(original.cloud);

    const { value: restored, sightings } = await watchProcesses(["restore-dump", "cloud", "--archive", archive, "--yes", "--json", ...args]);
    expect(restored.code, restored.stdout + restored.stderr).toBe(EXIT_CODES.success);
    expect(await mariadbFingerprint(mariadb, "cloud")).toEqual(original.cloud);
    // the password reached mariadb in an option file on a pipe: in no environment, no argv
    expect(sightings.filter(seen => seen.canary === mariadb.password)).toEqual([]);
    await expectNoCanaryIn(restored.stdout + restored.stderr);

    const wrong = join(work, "wrong-mdb-password");
    await writeFile(wrong, "wrong\"pass\\word", { mode: 0o600 });
    const wrongArgs = await droneConfig({ cloud: { kind: "mariadb", host: mariadb.host, port: mariadb.port, user: mariadb.user, database: "cloud", password_file: wrong } }, "mdb-wrong.json");
    const failed = await run(["restore-dump", "cloud", "--yes", "--json", ...wrongArgs]);
    expect(failed.code).toBe(EXIT_CODES.failed);
    expect(resultOf(failed.stdout).error).toMatch(/mariadb failed \(exit 1\): ERROR 1045 \(28000\): Access denied for user 'tester'.*password_file/);
  });

  it("a pg_dumpall restored into a new server: its databases come back; the roles that exist are warnings", async () => {
    const fresh = await startPostgres();
    try {
      // the same dump name, its connection now the new server's: what a person writes after losing the old one
      const freshArgs = await droneConfig({ cluster: { kind: "postgresql", host: fresh.host, port: fresh.port, user: fresh.user, database: "all", password_file: fresh.passwordFile } }, "pg-all.json");
      const restored = await run(["restore-dump", "cluster", "--yes", "--json", ...freshArgs]);
      expect(restored.code, restored.stdout + restored.stderr).toBe(EXIT_CODES.warning);
      const result = resultOf(restored.stdout);
      expect(result.warnings.some(warning => /role "tester" already exists/.test(warning))).toBe(true);
      expect(await postgresFingerprint(fresh, "ledger")).toEqual(original.ledger);
      expect(await postgresFingerprint(fresh, "shop")).toEqual(original.shop);
    } finally {
      await fresh.stop();
    }
  });
});

describe("restore-dump on SQLite (sqlite3 .dump, sqlite3)", () => {
  it("into a new file without asking; over the configured file only with --yes, and never while it is open", async () => {
    const live = join(work, "home-assistant_v2.db");
    const copy = join(work, "restored", "ha.db");
    await mkdir(join(work, "restored"));
    const fresh = await run(["restore-dump", "homeassistant", "--to-database", copy, ...args]);
    expect(fresh.code, fresh.stderr).toBe(EXIT_CODES.success);
    expect(await sqliteFingerprint(copy)).toEqual(original.homeassistant);

    await sqlite(live, "DELETE FROM states WHERE id > 10; PRAGMA wal_checkpoint(TRUNCATE);");
    await rm(`${live}-wal`, { force: true });
    await rm(`${live}-shm`, { force: true });
    const refused = await run(["restore-dump", "homeassistant", "--json", ...args]);
    expect(refused.code).toBe(EXIT_CODES.not_empty);
    expect((await sqliteFingerprint(live)).states?.rows).toBe(10);

    // an open database (its write-ahead log beside it) is never replaced, even with --yes
    await writeFile(`${live}-wal`, "");
    const open = await run(["restore-dump", "homeassistant", "--yes", "--json", ...args]);
    expect(open.code).toBe(EXIT_CODES.failed);
    expect(failureLine.parse(jsonLines(open.stdout)[0]).error).toContain("home-assistant_v2.db-wal exists");
    await rm(`${live}-wal`);

    // the file it replaces is another user's (Home Assistant's, when the drone runs as root): the new one stays theirs
    await chmod(live, 0o640);
    const owner = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : { uid: (await stat(live)).uid, gid: (await stat(live)).gid };
    await chown(live, owner.uid, owner.gid);
    const replaced = await run(["restore-dump", "homeassistant", "--yes", ...args]);
    expect(replaced.code, replaced.stderr).toBe(EXIT_CODES.success);
    expect(await sqliteFingerprint(live)).toEqual(original.homeassistant);
    expect(await stat(live)).toMatchObject({ mode: 0o100640, ...owner });
    expect((await readdir(work)).filter(name => name.includes(".restoring-"))).toEqual([]);
  });
});

describe("restore-dump of a command dump", () => {
  it("streams the data into restore_command's stdin, byte for byte", async () => {
    const restored = await run(["restore-dump", "influx", "--yes", ...args]);
    expect(restored.code, restored.stdout + restored.stderr).toBe(EXIT_CODES.success);
    expect(sha256(await readFile(join(work, "influx-restored.bin")))).toBe(original.influx);
  });
});

describe("list --dumps and find --dump", () => {
  it("name the dumps each archive holds, with kind and size; find --dump the archives holding one", async () => {
    const listArgs = await droneConfig({ shop: { kind: "postgresql", database: "shop" } }, "list.json");
    const listed = await run(["list", "--dumps", "--json", ...listArgs]);
    expect(listed.code, listed.stderr).toBe(EXIT_CODES.success);
    const lines = jsonLines(listed.stdout).map(line =>
      z.object({ name: z.string(), dumps: z.array(z.object({ name: z.string(), kind: z.string().nullable(), file: z.string().nullable(), size: z.number().nullable() })) }).parse(line),
    );
    expect(lines.map(line => line.name)).toEqual([archive]);
    const dumps = lines.flatMap(line => line.dumps);
    expect(dumps.map(dump => dump.name).sort()).toEqual(["cloud", "cluster", "homeassistant", "influx", "shop"]);
    const shop = dumps.find(dump => dump.name === "shop");
    expect(shop).toMatchObject({ kind: "postgresql", file: "shop.pgdump" });
    expect(shop?.size).toBeGreaterThan(1000);
    // not in this config's DUMPS, and no extension that says its kind
    expect(dumps.find(dump => dump.name === "cloud")).toMatchObject({ kind: null, file: "cloud.sql" });
    expect(dumps.find(dump => dump.name === "influx")).toMatchObject({ file: "influx.bin", size: 200_000 });

    const text = await run(["list", "--dumps", ...listArgs]);
    expect(text.stdout).toMatch(/dump shop\s+postgresql\s+\d/);

    const found = await run(["find", "--dump", "shop", ...listArgs]);
    expect(found.code, found.stderr).toBe(EXIT_CODES.success);
    expect(found.stdout).toMatch(/dump shop {2}\d/);
    expect(found.stdout).not.toContain("cloud");
    const none = await run(["find", "--dump", "sho", ...listArgs]);
    expect(none.code).toBe(EXIT_CODES.no_match);
  });
});
