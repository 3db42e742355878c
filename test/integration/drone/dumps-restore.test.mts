/**
 * `backup-drone restore-dump`, `list --dumps` and `find --dump` on real databases: a throw-away
 * PostgreSQL and MariaDB (test/helpers) and sqlite3 files, real borg, the real bin. The
 * archives are laid out as the dump side writes them (issue 19's contract: the data and a
 * manifest in `backup-drone-dumps/`, archived with that relative path): made here with the
 * real pg_dump, pg_dumpall, mariadb-dump and sqlite3 until `backup-drone create` streams them.
 * Each restore is compared with the original by row counts and per-table checksums.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, mkdir, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

import { EXIT_CODES } from "../../../apps/drone/cli/spec.mjs";
import { resultEventSchema } from "../../../libs/protocol/index.mjs";
import { makeTestRepository, TEST_PASSPHRASE, type TestRepository } from "../../helpers/borg.mjs";
import { tempDir } from "../../helpers/fs.mjs";
import { fillMariadb, mariadbClientArgs, mariadbClientEnv, mariadbFingerprint, type MariadbServer, startMariadb } from "../../helpers/mariadb.mjs";
import { fillPostgres, postgresClientEnv, postgresFingerprint, type PostgresServer, startPostgres } from "../../helpers/postgres.mjs";
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
  // boot times, for whoever reads the test log (no assertion: a slow machine is not a failure)
  console.log(`PostgreSQL booted in ${postgres.bootMs} ms, MariaDB in ${mariadb.bootMs} ms`);
}, 120_000);

afterAll(async () => {
  await Promise.all([pg?.stop(), mdb?.stop(), repo?.remove(), removeWork()]);
});

interface DumpFile {
  name: string;
  kind: "postgresql" | "mariadb" | "sqlite" | "command";
  format: "pg_custom" | "sql" | "raw";
  ext: string;
  database?: string;
  path?: string;
  data: Buffer;
}

let archiveCount = 0;

/** Lay the dumps out as the contract says and archive them (cwd: the run folder, source: backup-drone-dumps). */
async function archiveDumps(dumps: readonly DumpFile[]): Promise<string> {
  const run = join(work, `run-${++archiveCount}`);
  const folder = join(run, "backup-drone-dumps");
  await mkdir(folder, { recursive: true });
  for (const dump of dumps) {
    await writeFile(join(folder, `${dump.name}.${dump.ext}`), dump.data);
    const manifest = {
      version: 1,
      name: dump.name,
      kind: dump.kind,
      format: dump.format,
      ...(dump.database === undefined ? {} : { database: dump.database }),
      ...(dump.path === undefined ? {} : { path: dump.path }),
      file: `${dump.name}.${dump.ext}`,
      created_at: new Date().toISOString(),
    };
    await writeFile(join(folder, `${dump.name}.json`), JSON.stringify(manifest));
  }
  const archive = `${DRONE}@2026-11-${String(archiveCount).padStart(2, "0")}T02:00:00`;
  const repository = server(repo).repository;
  await exec("borg", ["create", `${repository.location}::${archive}`, "backup-drone-dumps"], {
    cwd: run,
    env: { ...process.env, BORG_PASSPHRASE: TEST_PASSPHRASE, BORG_BASE_DIR: repository.baseDir ?? "" },
  });
  await rm(run, { recursive: true });
  return archive;
}

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
        SOURCES: [work],
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

/** Every secret of these tests: none may show up where it does not belong. */
const CANARIES = () => [server(pg).password, server(mdb).password, TEST_PASSPHRASE];

interface Sighting {
  pid: number;
  comm: string;
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
        for (const where of ["cmdline", "environ"] as const) {
          const text = await readFile(`/proc/${pid}/${where}`, "latin1").catch(() => "");
          for (const canary of CANARIES()) if (text.includes(canary)) sightings.push({ pid, comm, where, canary });
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

describe("restore-dump on PostgreSQL (pg_dump -Fc, pg_restore)", () => {
  let archive = "";
  let original: Awaited<ReturnType<typeof postgresFingerprint>> = {};
  let args: string[] = [];

  beforeAll(async () => {
    const postgres = server(pg);
    await fillPostgres(postgres, "shop");
    original = await postgresFingerprint(postgres, "shop");
    const { stdout } = await exec("pg_dump", ["-Fc", "shop"], { env: postgresClientEnv(postgres), encoding: "buffer", maxBuffer: 256 * 1024 * 1024 });
    archive = await archiveDumps([{ name: "shop", kind: "postgresql", format: "pg_custom", ext: "pgdump", database: "shop", data: stdout }]);
    args = await droneConfig({ shop: { kind: "postgresql", host: postgres.host, port: postgres.port, user: postgres.user, database: "shop", password_file: postgres.passwordFile } }, "pg.json");
  });

  const damage = async () => {
    const postgres = server(pg);
    await postgres.sql("shop", "UPDATE customers SET name = 'changed' WHERE id % 3 = 0; DELETE FROM orders WHERE id > 4000; DROP TABLE notes; CREATE TABLE extra (id int)");
    expect(await postgresFingerprint(postgres, "shop").catch(() => ({}))).not.toEqual(original);
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
    expect(await postgresFingerprint(server(pg), "shop").catch(() => ({}))).not.toEqual(original);
    const { value: restored, sightings, looks } = await watchProcesses(["restore-dump", "shop", "--yes", "--json", ...args]);
    expect(restored.code, restored.stdout + restored.stderr).toBe(EXIT_CODES.success);
    const result = resultOf(restored.stdout);
    expect(result.operation).toBe("restore");
    expect(result.restore).toMatchObject({ archive, paths: ["backup-drone-dumps/shop.pgdump"] });
    expect(await postgresFingerprint(server(pg), "shop")).toEqual(original);
    // the watcher looked while the restore ran (and saw the drone's children); only the tool that logs in had the password
    expect(looks).toBeGreaterThan(2);
    expect(sightings.some(seen => seen.comm === "pg_restore")).toBe(true);
    expect(sightings.filter(seen => !(seen.where === "environ" && seen.comm === "pg_restore" && seen.canary === server(pg).password))).toEqual([]);
    await expectNoCanaryIn(restored.stdout + restored.stderr);
  });

  it("--to-database restores into another database; --to-file writes the dump's bytes and never replaces a file", async () => {
    await server(pg).sql("postgres", "CREATE DATABASE shop_check");
    const other = await run(["restore-dump", "shop", "--to-database", "shop_check", "--yes", ...args]);
    expect(other.code, other.stderr).toBe(EXIT_CODES.success);
    expect(await postgresFingerprint(server(pg), "shop_check")).toEqual(original);

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
    await fillMariadb(mariadb, "cloud");
    const original = await mariadbFingerprint(mariadb, "cloud");
    const { stdout } = await exec("mariadb-dump", [...mariadbClientArgs(mariadb), "--single-transaction", "cloud"], { env: mariadbClientEnv(mariadb), encoding: "buffer", maxBuffer: 256 * 1024 * 1024 });
    const archive = await archiveDumps([{ name: "cloud", kind: "mariadb", format: "sql", ext: "sql", database: "cloud", data: stdout }]);
    const args = await droneConfig({ cloud: { kind: "mariadb", host: mariadb.host, port: mariadb.port, user: mariadb.user, database: "cloud", password_file: mariadb.passwordFile } }, "mdb.json");
    await mariadb.sql("cloud", "UPDATE customers SET name = 'changed' WHERE id % 3 = 0; DELETE FROM notes WHERE id > 100");
    expect(await mariadbFingerprint(mariadb, "cloud")).not.toEqual(original);

    const { value: restored, sightings } = await watchProcesses(["restore-dump", "cloud", "--archive", archive, "--yes", "--json", ...args]);
    expect(restored.code, restored.stdout + restored.stderr).toBe(EXIT_CODES.success);
    expect(await mariadbFingerprint(mariadb, "cloud")).toEqual(original);
    // the password reached mariadb on a pipe: in no environment, no argv
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
    const source = server(pg);
    await fillPostgres(source, "ledger", 7);
    const original = await postgresFingerprint(source, "ledger");
    const { stdout } = await exec("pg_dumpall", [], { env: postgresClientEnv(source), encoding: "buffer", maxBuffer: 256 * 1024 * 1024 });
    await archiveDumps([{ name: "cluster", kind: "postgresql", format: "sql", ext: "sql", database: "all", data: stdout }]);
    const fresh = await startPostgres();
    try {
      const args = await droneConfig({ cluster: { kind: "postgresql", host: fresh.host, port: fresh.port, user: fresh.user, database: "all", password_file: fresh.passwordFile } }, "pg-all.json");
      const restored = await run(["restore-dump", "cluster", "--yes", "--json", ...args]);
      expect(restored.code, restored.stdout + restored.stderr).toBe(EXIT_CODES.warning);
      const result = resultOf(restored.stdout);
      expect(result.warnings.some(warning => /role "tester" already exists/.test(warning))).toBe(true);
      expect(await postgresFingerprint(fresh, "ledger")).toEqual(original);
    } finally {
      await fresh.stop();
    }
  });
});

describe("restore-dump on SQLite (sqlite3 .dump, sqlite3)", () => {
  it("into a new file without asking; over the configured file only with --yes, and never while it is open", async () => {
    const live = join(work, "home-assistant_v2.db");
    await fillSqlite(live);
    const original = await sqliteFingerprint(live);
    const { stdout } = await exec("sqlite3", [live, ".dump"], { encoding: "buffer", maxBuffer: 256 * 1024 * 1024 });
    await archiveDumps([{ name: "homeassistant", kind: "sqlite", format: "sql", ext: "sql", path: live, data: stdout }]);
    const args = await droneConfig({ homeassistant: { kind: "sqlite", path: live } }, "sqlite.json");

    const copy = join(work, "restored", "ha.db");
    await mkdir(join(work, "restored"));
    const fresh = await run(["restore-dump", "homeassistant", "--to-database", copy, ...args]);
    expect(fresh.code, fresh.stderr).toBe(EXIT_CODES.success);
    expect(await sqliteFingerprint(copy)).toEqual(original);

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

    const replaced = await run(["restore-dump", "homeassistant", "--yes", ...args]);
    expect(replaced.code, replaced.stderr).toBe(EXIT_CODES.success);
    expect(await sqliteFingerprint(live)).toEqual(original);
    expect((await readdir(work)).filter(name => name.includes(".restoring-"))).toEqual([]);
  });
});

describe("list --dumps and find --dump", () => {
  it("name the dumps each archive holds, with kind and size; find --dump the archives holding one", async () => {
    const args = await droneConfig({ shop: { kind: "postgresql", database: "shop" } }, "list.json");
    const listed = await run(["list", "--dumps", "--json", ...args]);
    expect(listed.code, listed.stderr).toBe(EXIT_CODES.success);
    const lines = jsonLines(listed.stdout).map(line =>
      z.object({ name: z.string(), dumps: z.array(z.object({ name: z.string(), kind: z.string().nullable(), file: z.string().nullable(), size: z.number().nullable() })) }).parse(line),
    );
    const shop = lines.flatMap(line => line.dumps).find(dump => dump.name === "shop");
    expect(shop).toMatchObject({ kind: "postgresql", file: "shop.pgdump" });
    expect(shop?.size).toBeGreaterThan(1000);
    const cloud = lines.flatMap(line => line.dumps).find(dump => dump.name === "cloud");
    // not in this config's DUMPS, and no extension that says its kind
    expect(cloud).toMatchObject({ kind: null, file: "cloud.sql" });

    const text = await run(["list", "--dumps", ...args]);
    expect(text.stdout).toMatch(/dump shop\s+postgresql\s+\d/);

    const found = await run(["find", "--dump", "shop", ...args]);
    expect(found.code, found.stderr).toBe(EXIT_CODES.success);
    expect(found.stdout).toMatch(/dump shop {2}\d/);
    expect(found.stdout).not.toContain("cloud");
    const none = await run(["find", "--dump", "sho", ...args]);
    expect(none.code).toBe(EXIT_CODES.no_match);
  });
});

describe("restore-dump of a command dump", () => {
  it("streams the data into restore_command's stdin, byte for byte", async () => {
    const data = Buffer.from(Array.from({ length: 200_000 }, (_, index) => index % 251));
    await archiveDumps([{ name: "influx", kind: "command", format: "raw", ext: "bin", data }]);
    const out = join(work, "influx-restored.bin");
    const script = join(work, "restore-influx.sh");
    await writeFile(script, `#!/bin/sh\ncat > ${out}\n`);
    await chmod(script, 0o755);
    const args = await droneConfig({ influx: { kind: "command", command: "influx backup -", restore_command: script, extension: "bin" } }, "command.json");
    const restored = await run(["restore-dump", "influx", "--yes", ...args]);
    expect(restored.code, restored.stdout + restored.stderr).toBe(EXIT_CODES.success);
    const digest = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");
    expect(digest(await readFile(out))).toBe(digest(data));
  });
});
