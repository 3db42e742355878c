/**
 * Dumps streamed into a real borg archive: sqlite3 and `command` dumps land byte for byte as
 * their tools wrote them under `backup-drone-dumps/`; a failing dump leaves no archive at all
 * and says why; a hanging one is stopped at its timeout with its process group; `continue`
 * makes the archive without the failed dump; a FIFO in the sources does not hang the run; a
 * dump's password reaches no argv and no borg environment.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";

import { type ResultEvent } from "../../../libs/protocol/index.mjs";
import { makeTestRepository, TEST_PASSPHRASE, type TestRepository } from "../../helpers/borg.mjs";
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

  async function run(extra: Record<string, unknown>, operation: "create" | "scheduled" | "offsite" = "create"): Promise<ResultEvent> {
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

  it("a failing dump fails the run with its tool's first stderr line, and leaves no archive, not even a checkpoint", async () => {
    repo = await makeDroneRepository(2, 1024);
    const result = await run({
      DUMPS: {
        // writes some data first: borg has already read part of it when the tool fails
        broken: { kind: "command", command: "seq 1 50000; echo 'pg_dump: error: connection to server failed' >&2; echo second line >&2; exit 3" },
      },
    });
    expect(result).toMatchObject({
      outcome: "failed",
      error_kind: "dump_failed",
      error: "dump broken (command) exited with 3: pg_dump: error: connection to server failed",
      archive: null,
    });
    expect(result.dumps).toEqual([
      { name: "broken", kind: "command", outcome: "failed", size: expect.any(Number) as number, duration_seconds: expect.any(Number) as number, error: "dump broken (command) exited with 3: pg_dump: error: connection to server failed" },
    ]);
    expect(result.dumps?.[0]?.size).toBeGreaterThan(0);
    expect(allArchives(repo)).toEqual([]);
  });

  it("a hanging dump is stopped at its timeout with its whole process group; the run fails and keeps no archive", async () => {
    repo = await makeDroneRepository(2, 1024);
    const pidFile = join(repo.root, "dump.pid");
    const resultPromise = run({
      DUMPS: { stuck: { kind: "command", command: `echo $$ > ${pidFile}; echo partial; sleep 60 & sleep 60`, timeout_seconds: 2 } },
    });
    const pgid = await numberInFile(pidFile);
    expect(liveInGroup(pgid).filter(line => /^\d+ \S+ sleep 60$/.test(line))).toHaveLength(2);
    const result = await resultPromise;
    expect(result).toMatchObject({
      outcome: "failed",
      error_kind: "dump_failed",
      error: "dump stuck (command) took longer than its timeout_seconds (2 s) and was stopped; its processes were stopped",
      archive: null,
    });
    expect(liveInGroup(pgid)).toEqual([]);
    expect(await groupGone(pgid)).toBe(true);
    expect(allArchives(repo)).toEqual([]);
  });

  it("policy continue: the archive is made again without the failed dump, which is a warning", async () => {
    repo = await makeDroneRepository(2, 1024);
    const result = await run({
      DUMPS: {
        good: { kind: "command", command: "echo good data" },
        flaky: { kind: "command", command: "echo half; echo 'flaky: disk on fire' >&2; exit 1", policy: "continue" },
      },
    });
    expect(result).toMatchObject({ outcome: "warning", error_kind: null });
    expect(result.warnings).toContain("dump flaky (command) exited with 1: flaky: disk on fire (policy continue: the archive was made without it)");
    const archive = result.archive?.name ?? "";
    const paths = archivePaths(repo, archive).filter(path => path.startsWith("backup-drone-dumps/"));
    expect(paths.sort()).toEqual(["backup-drone-dumps/good.json", "backup-drone-dumps/good.out"]);
    expect(extracted(repo, archive, "backup-drone-dumps/good.out").toString()).toBe("good data\n");
    expect(allArchives(repo)).toEqual([archive]);
    expect(result.dumps?.map(dump => [dump.name, dump.outcome])).toEqual([
      ["good", "success"],
      ["flaky", "failed"],
    ]);
  });

  it("a FIFO and a link to a device in the sources do not hang the run: they are excluded when dumps are configured", async () => {
    repo = await makeDroneRepository(2, 1024);
    const source = join(repo.root, "source");
    execFileSync("mkfifo", [join(source, "a-fifo")]);
    execFileSync("ln", ["-s", "/dev/zero", join(source, "endless")]);
    const result = await run({ DUMPS: { tiny: { kind: "command", command: "echo tiny" } } });
    expect(result).toMatchObject({ outcome: "success" });
    const paths = archivePaths(repo, result.archive?.name ?? "");
    expect(paths.some(path => path.endsWith("/a-fifo") || path.endsWith("/endless"))).toBe(false);
    expect(paths).toContain("backup-drone-dumps/tiny.out");
  });

  it("special files whose names borg's exclude file cannot hold as they are (a line break, whitespace at the end) are excluded too; the file they would have hidden is kept", async () => {
    repo = await makeDroneRepository(2, 1024);
    const source = join(repo.root, "source");
    const odd = ["line\nbreak", "trailing ", "nbsp\u00a0"];
    for (const name of odd) execFileSync("mkfifo", [join(source, name)]);
    // what `pf:<source>/trailing ` would exclude once borg strips the line
    await writeFile(join(source, "trailing"), "kept\n");
    const result = await run({ DUMPS: { tiny: { kind: "command", command: "echo tiny" } } });
    expect(result).toMatchObject({ outcome: "success" });
    // --json-lines: a listing a line a path would split the name with the line break
    const listing = borg(repo, ["list", "--json-lines", `${repo.repository.location}::${result.archive?.name ?? ""}`]).toString();
    const names = listing
      .split("\n")
      .filter(line => line.length > 0)
      .map(line => z.object({ path: z.string() }).parse(JSON.parse(line)).path.split("/").pop());
    expect(names.filter(name => odd.includes(name ?? ""))).toEqual([]);
    expect(names).toContain("trailing");
    expect(extracted(repo, result.archive?.name ?? "", `${source.slice(1)}/trailing`).toString()).toBe("kept\n");
  });

  it("a dump's password reaches no process's argv and not borg's environment (a canary)", async () => {
    repo = await makeDroneRepository(2, 1024);
    const canary = "Canary-db-Pw-5e8d1f";
    const passwordFile = join(repo.root, "db.pass");
    await writeFile(passwordFile, `${canary}\n`, { mode: 0o600 });
    // stand-ins for the database tools, on PATH before the real ones: each reads its password the
    // way the real tool does (PGPASSWORD; an option file at /dev/fd/0) and writes a digest of it
    const bin = join(repo.root, "bin");
    await mkdir(bin);
    const seen = join(repo.root, "seen");
    await mkdir(seen);
    await writeFile(join(bin, "pg_dump"), `#!/bin/sh\nprintf '%s' "$PGPASSWORD" | sha256sum > ${seen}/pg\nsleep 1\necho pgdata\n`, { mode: 0o755 });
    await writeFile(join(bin, "mariadb-dump"), `#!/bin/sh\ncase "$1" in --defaults-extra-file=*) cat "\${1#--defaults-extra-file=}" > ${seen}/my.cnf;; esac\nsleep 1\necho mydata\n`, { mode: 0o755 });
    const snapshots: string[] = [];
    const environs: string[] = [];
    let watching = true;
    // read every process's argv (and borg's environment) while the run goes on
    const watch = (async () => {
      while (watching) {
        for (const pid of await readdir("/proc").catch(() => [])) {
          if (!/^\d+$/.test(pid)) continue;
          const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
          snapshots.push(cmdline);
          if (cmdline.includes("borg") && cmdline.includes("create")) environs.push(await readFile(`/proc/${pid}/environ`, "utf8").catch(() => ""));
        }
        await new Promise(resolve => setTimeout(resolve, 20));
      }
    })();
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path ?? ""}`;
    let result: ResultEvent;
    try {
      result = await run({
        DUMPS: {
          pg: { kind: "postgresql", database: "paperless", password_file: passwordFile },
          my: { kind: "mariadb", database: "nextcloud", password_file: passwordFile },
        },
      });
    } finally {
      process.env.PATH = path;
      watching = false;
      await watch;
    }
    expect(result).toMatchObject({ outcome: "success" });
    // the tools got it
    const digest = execFileSync("sha256sum", { input: canary }).toString();
    expect(await readFile(join(seen, "pg"), "utf8")).toBe(digest);
    expect(await readFile(join(seen, "my.cnf"), "utf8")).toBe(`[client]\npassword="${canary}"\n`);
    // nobody else did
    expect(snapshots.length).toBeGreaterThan(100);
    expect(snapshots.filter(cmdline => cmdline.includes(canary))).toEqual([]);
    expect(environs.length).toBeGreaterThan(0);
    expect(environs.filter(environ => environ.includes(canary))).toEqual([]);
    expect(JSON.stringify(result)).not.toContain(canary);
    expect(extracted(repo, result.archive?.name ?? "", "backup-drone-dumps/pg.pgdump").toString()).toBe("pgdata\n");
    expect(extracted(repo, result.archive?.name ?? "", "backup-drone-dumps/my.sql").toString()).toBe("mydata\n");
  });

  it("sqlite3 .dump of a WAL database that is written during the backup is one consistent snapshot", async () => {
    repo = await makeDroneRepository(1, 1024);
    const db = join(repo.root, "live.db");
    // a transfer moves units between two tables that .dump reads far apart (a large table lies between them)
    execFileSync("sqlite3", [db], {
      input: [
        "PRAGMA journal_mode=WAL;",
        "CREATE TABLE a (id INTEGER PRIMARY KEY, balance INTEGER);",
        "CREATE TABLE m (id INTEGER PRIMARY KEY, filler TEXT);",
        "CREATE TABLE z (id INTEGER PRIMARY KEY, balance INTEGER);",
        "INSERT INTO a VALUES (1, 1000); INSERT INTO z VALUES (1, 0);",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000) INSERT INTO m (filler) SELECT printf('%.60d', i) FROM n;",
        "",
      ].join("\n"),
    });
    const writerScript = join(repo.root, "writer.sh");
    await writeFile(
      writerScript,
      `#!/bin/sh\nwhile :; do sqlite3 -cmd '.timeout 5000' ${db} 'BEGIN IMMEDIATE; UPDATE a SET balance = balance - 1; UPDATE z SET balance = balance + 1; COMMIT;' || exit 1; done\n`,
      { mode: 0o755 },
    );
    const writer = (await import("node:child_process")).spawn(writerScript, { stdio: "ignore" });
    cleanups.push(async () => {
      writer.kill("SIGTERM");
      await new Promise(resolve => setTimeout(resolve, 100));
    });
    const result = await run({ DUMPS: { live: { kind: "sqlite", path: db } } });
    writer.kill("SIGTERM");
    expect(result).toMatchObject({ outcome: "success" });
    const restored = join(repo.root, "restored.db");
    execFileSync("sqlite3", [restored], { input: extracted(repo, result.archive?.name ?? "", "backup-drone-dumps/live.sql") });
    const [a, z] = execFileSync("sqlite3", [restored, "SELECT balance FROM a; SELECT balance FROM z;"]).toString().trim().split("\n").map(Number);
    // the writer ran during the backup, and the dump holds one moment of it: nothing lost, nothing counted twice
    expect(z).toBeGreaterThan(0);
    expect((a ?? 0) + (z ?? 0)).toBe(1000);
    expect(Number(execFileSync("sqlite3", [restored, "SELECT count(*) FROM m"]).toString())).toBe(300_000);
  });

  it("a drone of dumps only (SOURCES empty): the archive holds the dumps and nothing else", async () => {
    repo = await makeDroneRepository(1, 1024);
    const result = await run({ SOURCES: [], DUMPS: { only: { kind: "command", command: "printf 'just the data'", extension: "bin" } } });
    expect(result).toMatchObject({ outcome: "success" });
    expect(archivePaths(repo, result.archive?.name ?? "").sort()).toEqual(["backup-drone-dumps", "backup-drone-dumps/only.bin", "backup-drone-dumps/only.json"]);
    expect(extracted(repo, result.archive?.name ?? "", "backup-drone-dumps/only.bin").toString()).toBe("just the data");
  });

  it("the offsite backup runs the dumps too: its archive is whole on its own", async () => {
    repo = await makeDroneRepository(1, 1024);
    const offsite = await makeTestRepository();
    cleanups.push(() => offsite.remove());
    const result = await run({ OFFSITE_REPOSITORY: offsite.repository.location, DUMPS: { note: { kind: "command", command: "echo offsite copy" } } }, "offsite");
    expect(result).toMatchObject({ outcome: "success", repository: "offsite" });
    expect(extracted(offsite, result.archive?.name ?? "", "backup-drone-dumps/note.out").toString()).toBe("offsite copy\n");
    expect(result.dumps?.map(dump => [dump.name, dump.outcome])).toEqual([["note", "success"]]);
  });

  it("when borg itself fails before it reaches a dump, the run has borg's error and the dump was not run", async () => {
    repo = await makeDroneRepository(1, 1024);
    const result = await run({ PASSPHRASE: "not-the-passphrase", DUMPS: { never: { kind: "command", command: "echo never" } } });
    expect(result).toMatchObject({ outcome: "failed", error_kind: "passphrase_wrong", archive: null });
    expect(result.dumps).toEqual([{ name: "never", kind: "command", outcome: "not_run", size: 0, duration_seconds: 0, error: null }]);
  });
});
