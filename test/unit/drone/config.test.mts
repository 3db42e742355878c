import { homedir } from "node:os";
import { join } from "node:path";

import { describe, expect, it } from "vitest";

import {
  ConfigError,
  defaultConfigValues,
  defaultDroneId,
  defaultStateDir,
  DRONE_CONFIGURATION,
  parseDroneConfig,
} from "../../../apps/drone/config.mjs";

const valid = (extra: Record<string, unknown> = {}) => ({ ...defaultConfigValues(), REPOSITORY: "/srv/borg", ...extra });

function problemsOf(values: Record<string, unknown>): string[] {
  try {
    parseDroneConfig(values);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error("expected the configuration to be refused");
}

describe("drone configuration", () => {
  it("defaults plus a repository are a valid configuration", () => {
    const config = parseDroneConfig(valid({ DRONE_ID: "laptop" }));
    expect(config).toMatchObject({
      droneId: "laptop",
      repository: "/srv/borg",
      sources: ["/home"],
      excludeIfPresent: [".nobackup"],
      frequencyMinutes: 1440,
      mode: "coordinated",
      keep: { daily: 7, weekly: 4, monthly: 6, yearly: 1, within: undefined },
      passphraseTransport: "fd",
      offsite: undefined,
    });
  });

  it("reports every problem at once, each with its key", () => {
    const problems = problemsOf({
      ...defaultConfigValues(),
      REPOSITORY: "",
      KEEP_DAILY: -1,
      KEEP_WITHIN: "2 weeks",
      MODE: "sometimes",
      COMPRESSION: "rar",
      DRONE_ID: "Bad Id!",
      FREQUENCY_MINUTES: 1,
    });
    const keys = problems.map(problem => problem.split(":")[0]);
    expect(keys).toEqual(
      expect.arrayContaining([
        "drone.REPOSITORY",
        "drone.KEEP_DAILY",
        "drone.KEEP_WITHIN",
        "drone.MODE",
        "drone.COMPRESSION",
        "drone.DRONE_ID",
        "drone.FREQUENCY_MINUTES",
      ]),
    );
    expect(problems.length).toBe(7);
  });

  it("cross-checks: one passphrase source, a keep rule, an offsite that differs", () => {
    const problems = problemsOf(
      valid({
        PASSPHRASE: "secret-canary",
        PASSCOMMAND: "pass show borg",
        KEEP_DAILY: 0,
        KEEP_WEEKLY: 0,
        KEEP_MONTHLY: 0,
        KEEP_YEARLY: 0,
        OFFSITE_REPOSITORY: "/srv/borg",
      }),
    );
    expect(problems).toHaveLength(3);
    expect(problems.join("\n")).toContain("drone.PASSPHRASE, drone.PASSCOMMAND: set only one");
    expect(problems.join("\n")).toContain("drone.KEEP_*");
    expect(problems.join("\n")).toContain("drone.OFFSITE_REPOSITORY");
  });

  it("never echoes a secret's value in an error", () => {
    const problems = problemsOf(valid({ PASSPHRASE: 42 }));
    expect(problems.join("\n")).toContain("drone.PASSPHRASE");
    expect(problems.join("\n")).not.toContain("42");
  });

  it("the passphrase becomes a Secret that prints redacted", () => {
    const config = parseDroneConfig(valid({ PASSPHRASE: "hunter2-canary" }));
    expect(JSON.stringify(config)).not.toContain("hunter2-canary");
    expect(config.passphrase?.kind).toBe("passphrase");
  });

  it("offsite inherits the primary passphrase unless it has its own", () => {
    const config = parseDroneConfig(valid({ PASSPHRASE_FILE: "/etc/borg.pass", OFFSITE_REPOSITORY: "ssh://u@offsite/./r" }));
    expect(config.offsite?.passphrase).toEqual({ kind: "file", path: "/etc/borg.pass" });
    const own = parseDroneConfig(
      valid({ PASSPHRASE_FILE: "/etc/borg.pass", OFFSITE_REPOSITORY: "ssh://u@offsite/./r", OFFSITE_PASSCOMMAND: "cat /x" }),
    );
    expect(own.offsite?.passphrase).toEqual({ kind: "command", command: "cat /x" });
  });

  it("hooks get secret-looking variables only when listed; a passcommand has a deadline", () => {
    const config = parseDroneConfig(valid({ HOOK_ENV_PASSTHROUGH: ["PGPASSWORD", "MYSQL_PWD"], PASSCOMMAND_TIMEOUT_SECONDS: 15 }));
    expect(config.hooks.envPassthrough).toEqual(["PGPASSWORD", "MYSQL_PWD"]);
    expect(config.passcommandTimeoutSeconds).toBe(15);
    expect(parseDroneConfig(valid()).hooks.envPassthrough).toEqual([]);
    expect(parseDroneConfig(valid()).passcommandTimeoutSeconds).toBe(60);
    const problems = problemsOf(valid({ HOOK_ENV_PASSTHROUGH: ["PGPASSWORD=x"], PASSCOMMAND_TIMEOUT_SECONDS: 0 }));
    expect(problems).toEqual([
      expect.stringMatching(/^drone\.PASSCOMMAND_TIMEOUT_SECONDS: /),
      expect.stringMatching(/^drone\.HOOK_ENV_PASSTHROUGH\.0: must list environment variable names \(letters, digits, _\), e\.g\. PGPASSWORD/),
    ]);
  });

  it("every key has a description and a default", () => {
    for (const [key, entry] of Object.entries(DRONE_CONFIGURATION)) {
      expect(entry.description.length, key).toBeGreaterThan(10);
      expect("default" in entry, key).toBe(true);
    }
  });

  it("relative SOURCES and STATE_DIR are refused, each named with the paths at fault", () => {
    const problems = problemsOf(valid({ SOURCES: ["/home", "docs", "~/photos"], STATE_DIR: "./state" }));
    const sources = problems.find(problem => problem.startsWith("drone.SOURCES:"));
    expect(sources).toContain("must be absolute paths");
    expect(sources).toContain("docs, ~/photos");
    expect(sources).not.toContain("/home,");
    const stateDir = problems.find(problem => problem.startsWith("drone.STATE_DIR:"));
    expect(stateDir).toMatch(/must be an absolute path.*share the daemon's state and lock \(got "\.\/state"\)/);
    expect(parseDroneConfig(valid({ SOURCES: ["/home", "/srv/data"], STATE_DIR: "/var/lib/backup-drone" })).stateDir).toBe("/var/lib/backup-drone");
  });

  it("the default STATE_DIR is absolute: a relative XDG_STATE_HOME is ignored", () => {
    const saved = process.env.XDG_STATE_HOME;
    try {
      process.env.XDG_STATE_HOME = "relative/state";
      expect(defaultStateDir()).toBe(join(homedir(), ".local", "state", "backup-drone"));
      process.env.XDG_STATE_HOME = "/srv/state";
      expect(defaultStateDir()).toBe("/srv/state/backup-drone");
    } finally {
      if (saved === undefined) delete process.env.XDG_STATE_HOME;
      else process.env.XDG_STATE_HOME = saved;
    }
  });

  it("the default drone id comes from the hostname, made safe", () => {
    expect(defaultDroneId("NAS-01.lan")).toBe("nas-01");
    expect(defaultDroneId("My Laptop")).toBe("my-laptop");
    expect(defaultDroneId("...")).toBe("drone");
  });
});
