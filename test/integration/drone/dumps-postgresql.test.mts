/**
 * PostgreSQL dumps through the real pg_dump and pg_dumpall, against a server this test starts
 * on a socket in a temp folder (no network; as the `postgres` user when the test runs as
 * root, which initdb refuses to be), with password authentication: the password, read from a
 * password file, reaches the tools as PGPASSWORD of their own environment only, and the dumps
 * in the archive are the database's.
 */
import { execFileSync, type ExecFileSyncOptions } from "node:child_process";
import { chmod, mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { TEST_PASSPHRASE, type TestRepository } from "../../helpers/borg.mjs";
import { bootDrone, droneTestConfig, makeDroneRepository } from "../../helpers/drone.mjs";

const PASSWORD = "Pg-Canary#pw-41c7";
const BIN = "/usr/lib/postgresql";
const root = process.getuid?.() === 0;

/** A PostgreSQL server tool, as the `postgres` user when we are root. */
function pgTool(tool: string, args: string[], options: ExecFileSyncOptions = {}) {
  return root ? execFileSync("runuser", ["-u", "postgres", "--", tool, ...args], options) : execFileSync(tool, args, options);
}

describe("PostgreSQL dumps with a password file", () => {
  let repo: TestRepository;
  let data: string;
  let socketDir: string;
  let ctl: string;

  beforeAll(async () => {
    repo = await makeDroneRepository(1, 1024);
    const version = (await readdir(BIN)).sort().at(-1) ?? "15";
    ctl = join(BIN, version, "bin", "pg_ctl");
    const server = join(repo.root, "postgresql");
    await mkdir(server);
    // the server's user must reach its folder (the temp folder is ours)
    await chmod(repo.root, 0o755);
    if (root) execFileSync("chown", ["postgres", server]);
    data = join(server, "data");
    socketDir = server;
    const pwfile = join(server, "initial.pass");
    await writeFile(pwfile, `${PASSWORD}\n`);
    if (root) execFileSync("chown", ["postgres", pwfile]);
    pgTool(join(BIN, version, "bin", "initdb"), ["-D", data, "--auth=scram-sha-256", `--pwfile=${pwfile}`, "-U", "postgres"], { stdio: "ignore" });
    pgTool(ctl, ["-D", data, "-o", `-k ${socketDir} -c listen_addresses=''`, "-l", join(server, "log"), "-w", "start"], { stdio: "ignore" });
    const env = { ...process.env, PGPASSWORD: PASSWORD };
    execFileSync("psql", ["-h", socketDir, "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-c", "CREATE DATABASE paperless"], { env, stdio: "ignore" });
    execFileSync("psql", ["-h", socketDir, "-U", "postgres", "-d", "paperless", "-v", "ON_ERROR_STOP=1"], {
      env,
      input: "CREATE TABLE documents (id int PRIMARY KEY, title text); INSERT INTO documents SELECT i, 'doc ' || i FROM generate_series(1, 500) i;",
      stdio: ["pipe", "ignore", "inherit"],
    });
  }, 120_000);

  afterAll(async () => {
    pgTool(ctl, ["-D", data, "-m", "fast", "stop"], { stdio: "ignore" });
    await repo.remove();
  }, 60_000);

  const borgEnv = () => ({ ...process.env, BORG_PASSPHRASE: TEST_PASSPHRASE, BORG_BASE_DIR: repo.repository.baseDir ?? "" });

  it("pg_dump -Fc of one database and pg_dumpall of all, with the password from the file", async () => {
    const passwordFile = join(repo.root, "pg.pass");
    await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
    const connection = { host: socketDir, user: "postgres", password_file: passwordFile };
    const drone = await bootDrone(
      droneTestConfig(repo, { DUMPS: { paperless: { kind: "postgresql", database: "paperless", ...connection }, cluster: { kind: "postgresql", database: "all", ...connection } } }),
    );
    const answer = drone.engine.request("create", "library");
    if (!answer.accepted) throw new Error(answer.reason);
    const result = await answer.done;
    await drone.teardown();
    expect(result).toMatchObject({ outcome: "success" });
    const archive = `${repo.repository.location}::${result.archive?.name ?? ""}`;
    // the custom format, as pg_restore reads it: the table and its data
    const custom = execFileSync("borg", ["extract", "--stdout", archive, "backup-drone-dumps/paperless.pgdump"], { env: borgEnv(), maxBuffer: 64 * 1024 * 1024 });
    expect(custom.subarray(0, 5).toString()).toBe("PGDMP");
    const listing = execFileSync("pg_restore", ["--list"], { input: custom }).toString();
    expect(listing).toMatch(/TABLE public documents postgres/);
    expect(listing).toMatch(/TABLE DATA public documents postgres/);
    const all = execFileSync("borg", ["extract", "--stdout", archive, "backup-drone-dumps/cluster.sql"], { env: borgEnv(), maxBuffer: 64 * 1024 * 1024 }).toString();
    expect(all).toContain("CREATE DATABASE paperless");
    expect(all).toContain("COPY public.documents (id, title) FROM stdin;");
    expect(all).not.toContain(PASSWORD);
    expect(result.dumps?.map(dump => [dump.name, dump.outcome, dump.size])).toEqual([
      ["paperless", "success", custom.length],
      ["cluster", "success", Buffer.byteLength(all)],
    ]);
  });

  it("a wrong password fails the run with pg_dump's first line, and no archive", async () => {
    const passwordFile = join(repo.root, "wrong.pass");
    await writeFile(passwordFile, "not-it\n", { mode: 0o600 });
    const drone = await bootDrone(droneTestConfig(repo, { DUMPS: { paperless: { kind: "postgresql", host: socketDir, user: "postgres", database: "paperless", password_file: passwordFile } } }));
    const before = execFileSync("borg", ["list", "--short", "--consider-checkpoints", repo.repository.location], { env: borgEnv() }).toString();
    const answer = drone.engine.request("create", "library");
    if (!answer.accepted) throw new Error(answer.reason);
    const result = await answer.done;
    await drone.teardown();
    expect(result).toMatchObject({ outcome: "failed", error_kind: "dump_failed", archive: null });
    expect(result.error).toMatch(/^dump paperless \(postgresql\) exited with 1: pg_dump: error: connection to server on socket ".*" failed: FATAL: {2}password authentication failed for user "postgres"$/);
    expect(execFileSync("borg", ["list", "--short", "--consider-checkpoints", repo.repository.location], { env: borgEnv() }).toString()).toBe(before);
  });
});
