import { chmod, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { configFileSecrets, envFileSecrets, permissionWarning, secretFileWarnings } from "../../../apps/drone/cli/permissions.mjs";
import { secureDatabaseFile, sqliteDatabasePath } from "../../../libs/ha/database-file.mjs";
import { tempDir } from "../../helpers/fs.mjs";

const passphraseFile = { path: "/etc/backup-drone/passphrase", holds: "the repository passphrase" };

describe("warnings for secret files others can read", () => {
  it("0600 and 0400 are fine; group- or world-readable files get the file and the chmod that fixes it", () => {
    expect(permissionWarning(passphraseFile, 0o100600)).toBeUndefined();
    expect(permissionWarning(passphraseFile, 0o100400)).toBeUndefined();
    expect(permissionWarning(passphraseFile, 0o100640)).toBe(
      "/etc/backup-drone/passphrase holds the repository passphrase and its group can read it (mode 0640); fix it with: chmod 600 /etc/backup-drone/passphrase",
    );
    expect(permissionWarning(passphraseFile, 0o100644)).toBe(
      "/etc/backup-drone/passphrase holds the repository passphrase and every user of this machine can read it (mode 0644); fix it with: chmod 600 /etc/backup-drone/passphrase",
    );
    expect(permissionWarning({ path: "/home/ann/my drone's.ini", holds: "x" }, 0o100604)).toContain("chmod 600 '/home/ann/my drone'\\''s.ini'");
  });

  it("a configuration file holds a secret when its drone section has a passphrase or its hass section a token", () => {
    expect(configFileSecrets({ drone: { PASSPHRASE_FILE: "/etc/p", REPOSITORY: "/r" }, hass: { BASE_URL: "http://ha" } })).toBeUndefined();
    expect(configFileSecrets({ drone: { PASSPHRASE: "x" } })).toBe("a repository passphrase");
    expect(configFileSecrets({ drone: { OFFSITE_PASSPHRASE: "x" }, hass: { TOKEN: "t" } })).toBe("a repository passphrase and the Home Assistant token");
    expect(configFileSecrets({ drone: { PASSPHRASE: "" }, hass: { TOKEN: " " } })).toBeUndefined();
  });

  it("an env file holds secrets when a variable is named like one or sets a secret setting", () => {
    expect(envFileSecrets({ DRONE_ID: "nas", HASS_URL: "http://ha" })).toBeUndefined();
    expect(envFileSecrets({ DRONE_ID: "nas", HASS_TOKEN: "t", PASSPHRASE: "p", DATABASE_URL: "postgresql://u:p@db/s", EMPTY_TOKEN: "" })).toBe(
      "secrets (HASS_TOKEN, PASSPHRASE, DATABASE_URL)",
    );
  });

  it("only files that exist are looked at", () => {
    const modes: Record<string, number> = { "/a": 0o100644, "/b": 0o100600 };
    const mode = (path: string) => {
      const found = modes[path];
      if (found === undefined) throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
      return found;
    };
    const warnings = secretFileWarnings(
      [
        { path: "/a", holds: "a token" },
        { path: "/b", holds: "a token" },
        { path: "/missing", holds: "a token" },
      ],
      mode,
    );
    expect(warnings).toEqual(["/a holds a token and every user of this machine can read it (mode 0644); fix it with: chmod 600 /a"]);
  });
});

describe("the synapse database file", () => {
  let dir: { path: string; remove: () => Promise<void> };
  beforeAll(async () => {
    dir = await tempDir("database-file");
  });
  afterAll(async () => {
    await dir?.remove();
  });

  it("is found in synapse's DATABASE_URL as synapse reads it", () => {
    expect(sqliteDatabasePath("file:/var/lib/backup-drone/nas.synapse.db")).toBe("/var/lib/backup-drone/nas.synapse.db");
    expect(sqliteDatabasePath("/var/lib/x.db")).toBe("/var/lib/x.db");
    expect(sqliteDatabasePath(":memory:")).toBeUndefined();
  });

  it("is created 0600 whatever the umask, and an existing one and its journals are forced to 0600", async () => {
    const fresh = join(dir.path, "fresh.db");
    const previous = process.umask(0o022);
    try {
      expect(secureDatabaseFile(fresh)).toEqual([]);
    } finally {
      process.umask(previous);
    }
    expect((await stat(fresh)).mode & 0o777).toBe(0o600);

    const existing = join(dir.path, "existing.db");
    await writeFile(existing, "sqlite", { mode: 0o644 });
    await writeFile(`${existing}-wal`, "wal", { mode: 0o644 });
    await chmod(existing, 0o644);
    await chmod(`${existing}-wal`, 0o644);
    expect(secureDatabaseFile(existing)).toEqual([]);
    expect((await stat(existing)).mode & 0o777).toBe(0o600);
    expect((await stat(`${existing}-wal`)).mode & 0o777).toBe(0o600);
    expect(await import("node:fs/promises").then(fs => fs.readFile(existing, "utf8"))).toBe("sqlite");
  });

  it("a folder that does not exist is reported, not thrown", () => {
    const missing = join(dir.path, "no-such-folder", "x.db");
    expect(secureDatabaseFile(missing)).toEqual([missing]);
  });
});
