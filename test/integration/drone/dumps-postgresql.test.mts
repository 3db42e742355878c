/**
 * PostgreSQL dumps through the real pg_dump and pg_dumpall, against the throw-away server of
 * test/helpers/postgres.mts (one for the file), over TCP on 127.0.0.1 where it asks for a
 * password: the password, read from a password file, reaches the tools as PGPASSWORD of their
 * own environment only, and the dumps in the archive are the database's.
 */
import { execFileSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { TEST_PASSPHRASE, type TestRepository } from "../../helpers/borg.mjs";
import { bootDrone, droneTestConfig, makeDroneRepository } from "../../helpers/drone.mjs";
import { type PostgresServer, startPostgres } from "../../helpers/postgres.mjs";

describe("PostgreSQL dumps with a password file", () => {
  let repo: TestRepository;
  let server: PostgresServer;

  beforeAll(async () => {
    [repo, server] = await Promise.all([makeDroneRepository(1, 1024), startPostgres()]);
    await server.sql("postgres", "CREATE DATABASE paperless");
    await server.sql("paperless", "CREATE TABLE documents (id int PRIMARY KEY, title text); INSERT INTO documents SELECT i, 'doc ' || i FROM generate_series(1, 500) i;");
  });

  afterAll(async () => {
    await Promise.all([server.stop(), repo.remove()]);
  });

  const borgEnv = () => ({ ...process.env, BORG_PASSPHRASE: TEST_PASSPHRASE, BORG_BASE_DIR: repo.repository.baseDir ?? "" });
  const connection = () => ({ host: server.host, port: server.port, user: server.user });

  it("pg_dump -Fc of one database and pg_dumpall of all, with the password from the file", async () => {
    const passwordFile = join(repo.root, "pg.pass");
    // a password file as people write it: with a line end, which is not part of the password
    await writeFile(passwordFile, `${server.password}\n`, { mode: 0o600 });
    const drone = await bootDrone(
      droneTestConfig(repo, {
        DUMPS: {
          paperless: { kind: "postgresql", database: "paperless", ...connection(), password_file: passwordFile },
          cluster: { kind: "postgresql", database: "all", ...connection(), password_file: passwordFile },
        },
      }),
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
    expect(listing).toMatch(/TABLE public documents tester/);
    expect(listing).toMatch(/TABLE DATA public documents tester/);
    const all = execFileSync("borg", ["extract", "--stdout", archive, "backup-drone-dumps/cluster.sql"], { env: borgEnv(), maxBuffer: 64 * 1024 * 1024 }).toString();
    expect(all).toContain("CREATE DATABASE paperless");
    expect(all).toContain("COPY public.documents (id, title) FROM stdin;");
    expect(all).not.toContain(server.password);
    expect(result.dumps?.map(dump => [dump.name, dump.outcome, dump.size])).toEqual([
      ["paperless", "success", custom.length],
      ["cluster", "success", Buffer.byteLength(all)],
    ]);
  });

  it("a wrong password fails the run with pg_dump's first line, and no archive", async () => {
    const passwordFile = join(repo.root, "wrong.pass");
    await writeFile(passwordFile, "not-it\n", { mode: 0o600 });
    const drone = await bootDrone(droneTestConfig(repo, { DUMPS: { paperless: { kind: "postgresql", database: "paperless", ...connection(), password_file: passwordFile } } }));
    const before = execFileSync("borg", ["list", "--short", "--consider-checkpoints", repo.repository.location], { env: borgEnv() }).toString();
    const answer = drone.engine.request("create", "library");
    if (!answer.accepted) throw new Error(answer.reason);
    const result = await answer.done;
    await drone.teardown();
    expect(result).toMatchObject({ outcome: "failed", error_kind: "dump_failed", archive: null });
    expect(result.error).toBe(
      `dump paperless (postgresql) exited with 1: pg_dump: error: connection to server at "127.0.0.1", port ${server.port} failed: FATAL:  password authentication failed for user "tester"`,
    );
    expect(execFileSync("borg", ["list", "--short", "--consider-checkpoints", repo.repository.location], { env: borgEnv() }).toString()).toBe(before);
  });
});
