/**
 * A MariaDB dump through the real mariadb-dump, against a MariaDB server this test starts on
 * a socket in a temp folder (no network): the password, read from a password file, reaches
 * the tool through the option file on a pipe (and nowhere else), and the dump in the archive
 * is the database's.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { TEST_PASSPHRASE, type TestRepository } from "../../helpers/borg.mjs";
import { bootDrone, droneTestConfig, makeDroneRepository } from "../../helpers/drone.mjs";

const PASSWORD = 'Mdb-Canary#"pw';

describe("a MariaDB dump with a password file", () => {
  let repo: TestRepository;
  let server: ChildProcess;
  let socket: string;
  let teardown: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    repo = await makeDroneRepository(1, 1024);
    const data = join(repo.root, "mariadb");
    socket = join(repo.root, "mariadb.sock");
    const asRoot = process.getuid?.() === 0 ? ["--user=root"] : [];
    execFileSync("mariadb-install-db", ["--no-defaults", `--datadir=${data}`, ...asRoot, "--auth-root-authentication-method=normal", "--skip-test-db"], { stdio: "ignore" });
    server = spawn("mariadbd", ["--no-defaults", `--datadir=${data}`, `--socket=${socket}`, "--skip-networking", ...asRoot, `--pid-file=${join(repo.root, "mariadb.pid")}`, `--log-error=${join(repo.root, "mariadb.err")}`], { stdio: "ignore" });
    for (let waited = 0; waited < 30_000 && !existsSync(socket); waited += 100) await new Promise(resolve => setTimeout(resolve, 100));
    const sql = [
      "CREATE DATABASE shop;",
      "CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(20)) ENGINE=InnoDB;",
      "INSERT INTO shop.items VALUES (1, 'apple'), (2, 'pear');",
      `CREATE USER 'backup'@'localhost' IDENTIFIED BY '${PASSWORD.replaceAll("'", "''")}';`,
      "GRANT SELECT, SHOW VIEW, TRIGGER, LOCK TABLES, EVENT ON *.* TO 'backup'@'localhost';",
    ].join("\n");
    execFileSync("mariadb", ["--no-defaults", `--socket=${socket}`, "--user=root"], { input: sql });
  }, 120_000);

  afterAll(async () => {
    await teardown?.();
    server.kill("SIGTERM");
    await new Promise(resolve => server.once("exit", resolve));
    await repo.remove();
  }, 60_000);

  async function backUp(passwordFile: string) {
    const drone = await bootDrone(droneTestConfig(repo, { DUMPS: { shop: { kind: "mariadb", socket, user: "backup", database: "shop", password_file: passwordFile } } }));
    teardown = drone.teardown;
    const answer = drone.engine.request("create", "library");
    if (!answer.accepted) throw new Error(answer.reason);
    const result = await answer.done;
    await drone.teardown();
    teardown = undefined;
    return result;
  }

  it("dumps the database with the password from the file", async () => {
    const passwordFile = join(repo.root, "mariadb.pass");
    await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
    const result = await backUp(passwordFile);
    expect(result).toMatchObject({ outcome: "success" });
    const dump = execFileSync("borg", ["extract", "--stdout", `${repo.repository.location}::${result.archive?.name ?? ""}`, "backup-drone-dumps/shop.sql"], {
      env: { ...process.env, BORG_PASSPHRASE: TEST_PASSPHRASE, BORG_BASE_DIR: repo.repository.baseDir ?? "" },
    }).toString();
    expect(dump).toContain("CREATE DATABASE /*!32312 IF NOT EXISTS*/ `shop`");
    expect(dump).toContain("INSERT INTO `items` VALUES\n(1,'apple'),\n(2,'pear');");
    expect(dump).not.toContain(PASSWORD);
    expect(result.dumps).toEqual([{ name: "shop", kind: "mariadb", outcome: "success", size: Buffer.byteLength(dump), duration_seconds: expect.any(Number) as number, error: null }]);
  });

  it("a wrong password fails the run with the server's refusal as its error, and no archive", async () => {
    const passwordFile = join(repo.root, "wrong.pass");
    await writeFile(passwordFile, "not-the-password\n", { mode: 0o600 });
    const result = await backUp(passwordFile);
    expect(result).toMatchObject({ outcome: "failed", error_kind: "dump_failed", archive: null });
    expect(result.error).toMatch(/^dump shop \(mariadb\) exited with 2: mariadb-dump: Got error: 1045: "Access denied for user 'backup'@'localhost' \(using password: YES\)"/);
  });
});
