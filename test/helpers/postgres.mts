/**
 * A throw-away PostgreSQL server for tests (Debian's postgresql 15): a fresh cluster in a temp
 * folder, listening on 127.0.0.1 on a free port and on a unix socket in that folder, with a
 * password-protected user (scram-sha-256 over TCP). PostgreSQL refuses to run as root, so
 * when the tests run as root the server runs as the `postgres` user, which owns the folder.
 * Built for speed: no fsync, a small shared buffer, the cluster made with --no-sync.
 */
import { execFile, type ExecFileOptions } from "node:child_process";
import { chmod, chown, mkdir, writeFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

import { freePort } from "../homeassistant/instance.mjs";
import { tempDir } from "./fs.mjs";

const exec = promisify(execFile);

/** Where Debian installs the server's own programs (initdb and pg_ctl are not on PATH). */
export const POSTGRES_BIN = "/usr/lib/postgresql/15/bin";

/** A password that must never show up in argv, environments, logs or output. */
export const POSTGRES_PASSWORD = "pg-canary-Secret-4b7d21";

/** A running server. */
export interface PostgresServer {
  host: "127.0.0.1";
  port: number;
  /** The folder holding the unix socket. */
  socketDir: string;
  /** The password-protected user (superuser, so that it can create and drop databases). */
  user: string;
  password: string;
  /** A file holding the password (mode 0600), for `password_file`. */
  passwordFile: string;
  /** How long initdb + start took, in ms. */
  bootMs: number;
  /** Run SQL as the user over TCP; resolves with psql's unaligned, tuples-only output. */
  sql: (database: string, statement: string) => Promise<string>;
  /** Stop the server and remove its folder. */
  stop: () => Promise<void>;
}

/** Run a server program, as the `postgres` user when we are root. */
function asServerUser(options: ExecFileOptions): ExecFileOptions {
  if (userInfo().uid !== 0) return options;
  return { ...options, uid: serverIds.uid, gid: serverIds.gid };
}

const serverIds = { uid: 0, gid: 0 };

async function lookupServerUser(): Promise<void> {
  if (userInfo().uid !== 0) return;
  const { stdout } = await exec("id", ["-u", "postgres"]);
  const { stdout: group } = await exec("id", ["-g", "postgres"]);
  serverIds.uid = Number(stdout.trim());
  serverIds.gid = Number(group.trim());
}

/** Start a fresh cluster; stop it with {@link PostgresServer.stop}. */
export async function startPostgres(): Promise<PostgresServer> {
  const started = Date.now();
  await lookupServerUser();
  const folder = await tempDir("pg");
  const data = join(folder.path, "data");
  const socketDir = join(folder.path, "socket");
  await mkdir(socketDir);
  const passwordFile = join(folder.path, "password");
  await writeFile(passwordFile, POSTGRES_PASSWORD, { mode: 0o600 });
  if (userInfo().uid === 0) {
    // the server's user must reach its folders; the password file stays the tests' (root's)
    await chown(folder.path, serverIds.uid, serverIds.gid);
    await chown(socketDir, serverIds.uid, serverIds.gid);
  }
  const initPassword = join(folder.path, "init-password");
  await writeFile(initPassword, POSTGRES_PASSWORD, { mode: 0o600 });
  if (userInfo().uid === 0) await chown(initPassword, serverIds.uid, serverIds.gid);
  const user = "tester";
  // local connections (the harness's own) trust the socket's owner; TCP needs the password
  await exec(
    join(POSTGRES_BIN, "initdb"),
    ["-D", data, "-U", user, `--pwfile=${initPassword}`, "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
    asServerUser({ cwd: folder.path }),
  );
  const port = await freePort();
  const serverOptions = [
    "-c listen_addresses=127.0.0.1",
    `-c port=${port}`,
    `-c unix_socket_directories=${socketDir}`,
    "-c fsync=off",
    "-c synchronous_commit=off",
    "-c full_page_writes=off",
    "-c shared_buffers=16MB",
    "-c max_connections=20",
  ].join(" ");
  const log = join(folder.path, "server.log");
  await exec(join(POSTGRES_BIN, "pg_ctl"), ["-D", data, "-l", log, "-o", serverOptions, "-w", "-t", "60", "start"], asServerUser({ cwd: folder.path }));
  const bootMs = Date.now() - started;
  await chmod(socketDir, 0o755);

  const sql = async (database: string, statement: string) => {
    const { stdout } = await exec("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-A", "-t", "-h", "127.0.0.1", "-p", String(port), "-U", user, "-d", database, "-c", statement], {
      env: { ...process.env, PGPASSWORD: POSTGRES_PASSWORD, PGCONNECT_TIMEOUT: "10" },
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout.trim();
  };

  const stop = async () => {
    await exec(join(POSTGRES_BIN, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "-t", "30", "stop"], asServerUser({ cwd: folder.path })).catch(() => undefined);
    await folder.remove();
  };
  return { host: "127.0.0.1", port, socketDir, user, password: POSTGRES_PASSWORD, passwordFile, bootMs, sql, stop };
}

/** Tables the generated data fills, each with an `id` primary key. */
export const POSTGRES_TABLES = ["customers", "orders", "notes"] as const;

/**
 * Create `database` and fill it: a few tables of a few thousand rows with text, numbers,
 * timestamps, NULLs, a foreign key, unicode and JSON.
 */
export async function fillPostgres(server: PostgresServer, database: string, seed = 1): Promise<void> {
  await server.sql("postgres", `CREATE DATABASE "${database}"`);
  await server.sql(
    database,
    `CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL, email text, created timestamptz NOT NULL, balance numeric(12,2));
     CREATE TABLE orders (id integer PRIMARY KEY, customer integer NOT NULL REFERENCES customers(id), total numeric(12,2), items jsonb, shipped boolean);
     CREATE TABLE notes (id integer PRIMARY KEY, body text, tag text);
     INSERT INTO customers SELECT g, 'name ' || g || ' ' || md5((g * ${seed})::text), CASE WHEN g % 7 = 0 THEN NULL ELSE 'user' || g || '@example.org' END,
       timestamptz '2026-01-01 00:00:00+00' + (g || ' minutes')::interval, (g * ${seed} % 100000) / 100.0 FROM generate_series(1, 3000) g;
     INSERT INTO orders SELECT g, 1 + (g * 13) % 3000, (g * 37 % 50000) / 100.0, jsonb_build_object('sku', 'SKU-' || g, 'qty', g % 9), g % 3 = 0 FROM generate_series(1, 5000) g;
     INSERT INTO notes SELECT g, repeat('Grüße ☃ ', g % 5) || md5(g::text), CASE WHEN g % 2 = 0 THEN 'even' END FROM generate_series(1, 2000) g;`,
  );
}

/** Row counts and a checksum (md5 of the rows in id order) of each table of {@link POSTGRES_TABLES}. */
export async function postgresFingerprint(server: PostgresServer, database: string): Promise<Record<string, { rows: number; md5: string }>> {
  const out: Record<string, { rows: number; md5: string }> = {};
  for (const table of POSTGRES_TABLES) {
    const line = await server.sql(database, `SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t.id)), '') FROM ${table} t`);
    const [rows = "", md5 = ""] = line.split(" ");
    out[table] = { rows: Number(rows), md5 };
  }
  return out;
}
