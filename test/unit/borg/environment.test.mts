import { describe, expect, it } from "vitest";

import { secretConfigVariables } from "../../../apps/drone/config.mjs";
import { inheritedEnv, SECRET_VARIABLE_NAME } from "../../../libs/borg/environment.mjs";
import { passcommandEnv } from "../../../libs/borg/passphrase.mjs";
import { borgEnvironment, type BorgRepository, cacheDirOf, listCommand, Secret } from "../../../libs/borg/index.mjs";

const PASSPHRASE = "unit-canary-passphrase";

/** The drone's environment as a person might give it: secrets among the ordinary variables. */
const ENV: NodeJS.ProcessEnv = {
  PATH: "/usr/bin:/bin",
  HOME: "/root",
  LANG: "C.UTF-8",
  SSH_AUTH_SOCK: "/run/ssh-agent.sock",
  BORG_RSH: "ssh -o BatchMode=yes",
  BORG_KEY_FILE: "/root/.config/borg/keys/nas",
  PASSPHRASE: "config-canary",
  DRONE_PASSPHRASE: "config-canary",
  drone_offsite_passphrase: "offsite-canary",
  HASS_TOKEN: "token-canary",
  TOKEN: "token-canary",
  SUPERVISOR_TOKEN: "token-canary",
  DATABASE_URL: "postgresql://synapse:db-canary@db/synapse",
  SYNAPSE_DATABASE_URL: "postgresql://synapse:db-canary@db/synapse",
  BORG_PASSPHRASE: "borg-canary",
  BORG_PASSCOMMAND: "cat /borg-canary",
  BORG_PASSPHRASE_FD: "7",
  BORG_NEW_PASSPHRASE: "borg-canary",
  PGPASSWORD: "pg-canary",
  AWS_SECRET_ACCESS_KEY: "aws-canary",
  GITHUB_TOKEN: "gh-canary",
};

/** What every child keeps of {@link ENV}. */
const ORDINARY = {
  PATH: "/usr/bin:/bin",
  HOME: "/root",
  LANG: "C.UTF-8",
  SSH_AUTH_SOCK: "/run/ssh-agent.sock",
  BORG_RSH: "ssh -o BatchMode=yes",
  BORG_KEY_FILE: "/root/.config/borg/keys/nas",
};

describe("what a child inherits of the drone's environment", () => {
  it("the secret-name rule: PASSPHRASE, PASSWORD, PASSWD, PASSCOMMAND, TOKEN, SECRET, API_KEY, PRIVATE_KEY in any case", () => {
    for (const name of ["BORG_PASSPHRASE", "db_password", "MYSQL_PASSWD", "BORG_PASSCOMMAND", "HASS_TOKEN", "client_secret", "OPENAI_API_KEY", "APIKEY", "SSH_PRIVATE_KEY"]) {
      expect(SECRET_VARIABLE_NAME.test(name), name).toBe(true);
    }
    for (const name of ["PATH", "HOME", "BORG_RSH", "BORG_KEY_FILE", "SSH_AUTH_SOCK", "CREDENTIALS_DIRECTORY", "KEYRING"]) {
      expect(SECRET_VARIABLE_NAME.test(name), name).toBe(false);
    }
  });

  it("drops secret-named variables and the configured drop list (any case); keeps what is asked for", () => {
    expect(inheritedEnv(ENV, { drop: ["database_url", "SYNAPSE_DATABASE_URL"] })).toEqual(ORDINARY);
    expect(inheritedEnv(ENV, { drop: ["DATABASE_URL"], keep: ["pgpassword"] })).toEqual({
      ...ORDINARY,
      SYNAPSE_DATABASE_URL: "postgresql://synapse:db-canary@db/synapse",
      PGPASSWORD: "pg-canary",
    });
  });

  it("the drone's secret settings in every spelling DA reads from the environment, and DUMPS (a command may carry credentials)", () => {
    expect(secretConfigVariables()).toEqual([
      "PASSPHRASE",
      "DRONE_PASSPHRASE",
      "OFFSITE_PASSPHRASE",
      "DRONE_OFFSITE_PASSPHRASE",
      "DUMPS",
      "DRONE_DUMPS",
      "TOKEN",
      "HASS_TOKEN",
      "DATABASE_URL",
      "SYNAPSE_DATABASE_URL",
    ]);
  });
});

describe("borg's whole environment", () => {
  const repo = (passphrase: BorgRepository["passphrase"], passphraseTransport: "fd" | "env" = "fd"): BorgRepository => ({
    location: "/srv/borg",
    passphrase,
    passphraseTransport,
  });
  const COMMAND_ENV = {
    BORG_EXIT_CODES: "modern",
    BORG_DISPLAY_PASSPHRASE: "no",
    BORG_RELOCATED_REPO_ACCESS_IS_OK: "no",
    BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: "no",
    BORG_CHECK_I_KNOW_WHAT_I_AM_DOING: "NO",
    BORG_DELETE_I_KNOW_WHAT_I_AM_DOING: "NO",
  };
  const drop = secretConfigVariables();

  it("fd transport: ours without secrets, the command's answers, and only the descriptor's number", () => {
    const command = listCommand(repo({ kind: "passphrase", value: new Secret(PASSPHRASE) }));
    expect(borgEnvironment(command, { dropEnv: drop }, new Secret(PASSPHRASE), ENV)).toEqual({
      ...ORDINARY,
      ...COMMAND_ENV,
      BORG_PASSPHRASE_FD: "3",
    });
  });

  it("env transport: the passphrase in BORG_PASSPHRASE and nothing else secret", () => {
    const command = listCommand(repo({ kind: "passphrase", value: new Secret(PASSPHRASE) }, "env"));
    expect(borgEnvironment(command, { dropEnv: drop }, new Secret(PASSPHRASE), ENV)).toEqual({
      ...ORDINARY,
      ...COMMAND_ENV,
      BORG_PASSPHRASE: PASSPHRASE,
    });
  });

  it("a passcommand never reaches borg: the runner ran it and hands over its output like any passphrase", () => {
    const command = listCommand(repo({ kind: "command", command: "pass show borg" }));
    const env = borgEnvironment(command, { dropEnv: drop }, new Secret(PASSPHRASE), ENV);
    expect(env).toEqual({ ...ORDINARY, ...COMMAND_ENV, BORG_PASSPHRASE_FD: "3" });
    expect(Object.keys(env)).not.toContain("BORG_PASSCOMMAND");
  });

  it("no passphrase configured: no passphrase variable at all; extra env cannot smuggle one in", () => {
    const command = listCommand(repo(undefined));
    expect(borgEnvironment(command, { env: { BORG_PASSPHRASE: "extra-canary", TZ: "UTC" } }, undefined, { PATH: "/bin", BORG_PASSCOMMAND: "x" })).toEqual({
      PATH: "/bin",
      TZ: "UTC",
      ...COMMAND_ENV,
    });
  });
});

describe("the passcommand's environment", () => {
  it("keeps a credential the passcommand needs, drops the drone's own secret settings and borg's passphrase variables", () => {
    const env = passcommandEnv(
      { PATH: "/usr/bin", VAULT_TOKEN: "vault", DRONE_PASSPHRASE: "drone", BORG_PASSPHRASE: "borg", BORG_NEW_PASSPHRASE: "new", hass_token: "ha" },
      ["DRONE_PASSPHRASE", "HASS_TOKEN"],
    );
    expect(env).toEqual({ PATH: "/usr/bin", VAULT_TOKEN: "vault" });
  });
});

describe("where borg keeps its cache, as borg's get_cache_dir finds it", () => {
  const noHome = () => {
    throw new Error("no passwd entry for this uid");
  };
  it("BORG_CACHE_DIR, then the repository's base folder, then BORG_BASE_DIR, then XDG_CACHE_HOME, then HOME", () => {
    const env = { BORG_CACHE_DIR: "/c", BORG_BASE_DIR: "/b", XDG_CACHE_HOME: "/x", HOME: "/h" };
    expect(cacheDirOf({ baseDir: "/r" }, env)).toBe("/c");
    expect(cacheDirOf({ baseDir: "/r" }, { ...env, BORG_CACHE_DIR: undefined })).toBe("/r/.cache/borg");
    expect(cacheDirOf({}, { ...env, BORG_CACHE_DIR: undefined })).toBe("/b/.cache/borg");
    expect(cacheDirOf({}, { XDG_CACHE_HOME: "/x", HOME: "/h" })).toBe("/x/borg");
    expect(cacheDirOf({}, { HOME: "/h" }, noHome)).toBe("/h/.cache/borg");
  });
  it("no HOME: the user's home from the system; none there either is no cache folder, not an error", () => {
    expect(cacheDirOf({}, {}, () => "/home/drone")).toBe("/home/drone/.cache/borg");
    expect(cacheDirOf({}, { HOME: "" }, noHome)).toBeUndefined();
  });
});
