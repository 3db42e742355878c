/**
 * A MariaDB dump through the real mariadb-dump, against the throw-away server of
 * test/helpers/mariadb.mts (one for the file), over its unix socket: the password, read from a
 * password file, reaches the tool through the option file on a pipe (and nowhere else), and
 * the dump in the archive is the database's.
 */
import { execFileSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { TEST_PASSPHRASE, type TestRepository } from "../../helpers/borg.mjs";
import { bootDrone, droneTestConfig, makeDroneRepository } from "../../helpers/drone.mjs";
import { type MariadbServer, startMariadb } from "../../helpers/mariadb.mjs";

/** A password an option file must quote: `#` starts a comment, `"` ends a quoted value. */
const PASSWORD = 'Mdb-Canary#"pw';

describe("a MariaDB dump with a password file", () => {
  let repo: TestRepository;
  let server: MariadbServer;
  let teardown: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    [repo, server] = await Promise.all([makeDroneRepository(1, 1024), startMariadb()]);
    // a user of its own with a dump's privileges only, reached over the socket ('localhost')
    await server.sql(
      undefined,
      [
        "CREATE DATABASE shop;",
        "CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(20)) ENGINE=InnoDB;",
        "INSERT INTO shop.items VALUES (1, 'apple'), (2, 'pear');",
        `CREATE USER 'backup'@'localhost' IDENTIFIED BY '${PASSWORD.replaceAll("'", "''")}';`,
        "GRANT SELECT, SHOW VIEW, TRIGGER, LOCK TABLES, EVENT ON *.* TO 'backup'@'localhost';",
      ].join(" "),
    );
  });

  afterAll(async () => {
    await teardown?.();
    await Promise.all([server.stop(), repo.remove()]);
  });

  async function backUp(passwordFile: string) {
    const drone = await bootDrone(droneTestConfig(repo, { DUMPS: { shop: { kind: "mariadb", socket: server.socket, user: "backup", database: "shop", password_file: passwordFile } } }));
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
    // one database: its tables, without CREATE DATABASE or USE (a restore names the database)
    expect(dump).toContain("CREATE TABLE `items`");
    expect(dump).not.toMatch(/^(CREATE DATABASE|USE )/m);
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
