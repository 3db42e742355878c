/**
 * A throw-away MariaDB server for tests (Debian's mariadb-server): a fresh data folder made by
 * mariadb-install-db in a temp folder, mariadbd listening on 127.0.0.1 on a free port and on a
 * unix socket in that folder, with a password-protected user. Nothing of the machine's own
 * configuration is read (--no-defaults). As root the server drops to the `mysql` user, which
 * owns the folder. Built for speed: no binary log, no doublewrite, a small buffer pool.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { chown, mkdir, readFile, writeFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

import { freePort } from "../homeassistant/instance.mjs";
import { tempDir } from "./fs.mjs";

const exec = promisify(execFile);

/** A password that must never show up in argv, environments, logs or output. */
export const MARIADB_PASSWORD = "mdb-canary-Secret-9e5a13";

/** A running server. */
export interface MariadbServer {
  host: "127.0.0.1";
  port: number;
  socket: string;
  /** The password-protected user (all privileges, so that it can create and drop databases). */
  user: string;
  password: string;
  /** A file holding the password (mode 0600), for `password_file`. */
  passwordFile: string;
  /** How long install-db + start took, in ms. */
  bootMs: number;
  /** Run SQL as the user over TCP; resolves with the tab-separated rows, no column names. */
  sql: (database: string | undefined, statement: string) => Promise<string>;
  /** The server process, for tests that look at it. */
  process: () => ChildProcess;
  /** Stop the server and remove its folder. */
  stop: () => Promise<void>;
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

/** Start a fresh server; stop it with {@link MariadbServer.stop}. */
export async function startMariadb(): Promise<MariadbServer> {
  const started = Date.now();
  const folder = await tempDir("mariadb");
  const data = join(folder.path, "data");
  const socket = join(folder.path, "mariadb.sock");
  await mkdir(data);
  const root = userInfo().uid === 0;
  if (root) {
    const uid = Number((await exec("id", ["-u", "mysql"])).stdout.trim());
    const gid = Number((await exec("id", ["-g", "mysql"])).stdout.trim());
    await chown(folder.path, uid, gid);
    await chown(data, uid, gid);
  }
  const userOption = root ? ["--user=mysql"] : [];
  // the harness's root connects over the socket without a password (socket auth is not the point here)
  await exec(
    "mariadb-install-db",
    ["--no-defaults", `--datadir=${data}`, ...userOption, "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve", "--innodb-doublewrite=0"],
    { cwd: folder.path },
  );
  const port = await freePort();
  const log = join(folder.path, "server.log");
  const server = spawn(
    "mariadbd",
    [
      "--no-defaults",
      `--datadir=${data}`,
      ...userOption,
      `--socket=${socket}`,
      `--port=${port}`,
      "--bind-address=127.0.0.1",
      `--pid-file=${join(folder.path, "mariadb.pid")}`,
      `--log-error=${log}`,
      "--skip-log-bin",
      "--skip-name-resolve",
      "--innodb-buffer-pool-size=16M",
      "--innodb-log-file-size=8M",
      "--innodb-flush-log-at-trx-commit=0",
      "--innodb-doublewrite=0",
      "--skip-innodb-adaptive-hash-index",
      "--max-connections=20",
    ],
    { stdio: "ignore", cwd: folder.path },
  );
  let exited = false;
  server.once("exit", () => (exited = true));
  const asRoot = (statement: string) => exec("mariadb", ["--no-defaults", `--socket=${socket}`, "-uroot", "-e", statement]);
  for (let waited = 0; ; waited += 50) {
    if (exited) throw new Error(`mariadbd exited at start: ${await readFile(log, "utf8").catch(() => "")}`);
    try {
      await asRoot("SELECT 1");
      break;
    } catch (error) {
      if (waited > 60_000) throw error;
      await sleep(50);
    }
  }
  const user = "tester";
  await asRoot(
    `CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY '${MARIADB_PASSWORD}'; CREATE USER '${user}'@'localhost' IDENTIFIED BY '${MARIADB_PASSWORD}';` +
      ` GRANT ALL ON *.* TO '${user}'@'127.0.0.1' WITH GRANT OPTION; GRANT ALL ON *.* TO '${user}'@'localhost' WITH GRANT OPTION;`,
  );
  const bootMs = Date.now() - started;
  const passwordFile = join(folder.path, "password");
  await writeFile(passwordFile, MARIADB_PASSWORD, { mode: 0o600 });

  // the password reaches the test's own client in MYSQL_PWD, in the test's own process only
  const sql = async (database: string | undefined, statement: string) => {
    const { stdout } = await exec("mariadb", ["--no-defaults", "-h", "127.0.0.1", "-P", String(port), "-u", user, "-N", "-B", "-e", statement, ...(database ? [database] : [])], {
      env: { ...process.env, MYSQL_PWD: MARIADB_PASSWORD },
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout.trim();
  };

  const stop = async () => {
    if (!exited) {
      const gone = new Promise(resolve => server.once("exit", resolve));
      server.kill("SIGKILL");
      await gone;
    }
    await folder.remove();
  };
  return { host: "127.0.0.1", port, socket, user, password: MARIADB_PASSWORD, passwordFile, bootMs, sql, process: () => server, stop };
}

/** Tables the generated data fills, each with an `id` primary key. */
export const MARIADB_TABLES = ["customers", "orders", "notes"] as const;

/** Create `database` and fill it: a few tables of a few thousand rows with text, numbers, dates, NULLs, a foreign key and unicode. */
export async function fillMariadb(server: MariadbServer, database: string, seed = 1): Promise<void> {
  await server.sql(undefined, `CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4`);
  await server.sql(
    database,
    `CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(200) NOT NULL, email VARCHAR(200), created DATETIME NOT NULL, balance DECIMAL(12,2)) ENGINE=InnoDB;
     CREATE TABLE orders (id INT PRIMARY KEY, customer INT NOT NULL, total DECIMAL(12,2), shipped BOOLEAN, FOREIGN KEY (customer) REFERENCES customers(id)) ENGINE=InnoDB;
     CREATE TABLE notes (id INT PRIMARY KEY, body TEXT, tag VARCHAR(20)) ENGINE=InnoDB;
     INSERT INTO customers SELECT seq, CONCAT('name ', seq, ' ', MD5(seq * ${seed})), IF(seq % 7 = 0, NULL, CONCAT('user', seq, '@example.org')),
       TIMESTAMPADD(MINUTE, seq, '2026-01-01 00:00:00'), (seq * ${seed} % 100000) / 100 FROM seq_1_to_3000;
     INSERT INTO orders SELECT seq, 1 + (seq * 13) % 3000, (seq * 37 % 50000) / 100, seq % 3 = 0 FROM seq_1_to_5000;
     INSERT INTO notes SELECT seq, CONCAT(REPEAT('Grüße ☃ ', seq % 5), MD5(seq)), IF(seq % 2 = 0, 'even', NULL) FROM seq_1_to_2000;`,
  );
}

/** Row counts and a checksum (md5 of the rows in id order) of each table of {@link MARIADB_TABLES}. */
export async function mariadbFingerprint(server: MariadbServer, database: string): Promise<Record<string, { rows: number; md5: string }>> {
  const columns: Record<(typeof MARIADB_TABLES)[number], string> = {
    customers: "id, name, IFNULL(email, '\\\\N'), created, balance",
    orders: "id, customer, total, shipped",
    notes: "id, body, IFNULL(tag, '\\\\N')",
  };
  const out: Record<string, { rows: number; md5: string }> = {};
  for (const table of MARIADB_TABLES) {
    // GROUP_CONCAT is cut at group_concat_max_len: raised for the session to hold every row
    const line = await server.sql(
      database,
      `SET SESSION group_concat_max_len = 1073741824; SELECT CONCAT(COUNT(*), ' ', IFNULL(MD5(GROUP_CONCAT(CONCAT_WS('\\t', ${columns[table]}) ORDER BY id SEPARATOR '\\n')), '')) FROM ${table}`,
    );
    const [rows = "", md5 = ""] = line.split(" ");
    out[table] = { rows: Number(rows), md5 };
  }
  return out;
}
