import { describe, expect, it } from "vitest";

import { ConfigError, defaultConfigValues, DRONE_CONFIGURATION, parseDroneConfig, secretConfigVariables } from "../../../../apps/drone/config.mjs";
import { resolveSources } from "../../../../libs/config/sources.mjs";

const valid = (extra: Record<string, unknown> = {}) => ({ ...defaultConfigValues(), REPOSITORY: "/srv/borg", ENCRYPTION: "none", ...extra });

function problemsOf(values: Record<string, unknown>): string[] {
  try {
    parseDroneConfig(values);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error("expected the configuration to be refused");
}

describe("DUMPS configuration", () => {
  it("is a DA record key with an empty default", () => {
    expect(DRONE_CONFIGURATION.DUMPS).toMatchObject({ type: "record", default: {} });
    expect(parseDroneConfig(valid()).dumps).toEqual([]);
  });

  it("reads every kind with its defaults, mysql normalised to mariadb, in the order written", () => {
    const config = parseDroneConfig(
      valid({
        DUMPS: {
          paperless: { kind: "postgresql", database: "paperless", host: "127.0.0.1", port: 5432, user: "backup", password_file: "/etc/drone/pg.pass" },
          cloud: { kind: "mysql", database: "all", socket: "/run/mysqld/mysqld.sock", policy: "continue" },
          homeassistant: { kind: "sqlite", path: "/config/home-assistant_v2.db", timeout_seconds: 600 },
          influx: { kind: "command", command: "docker exec influx influx backup -", extension: "tar" },
        },
      }),
    );
    expect(config.dumps).toEqual([
      {
        name: "paperless",
        kind: "postgresql",
        database: "paperless",
        host: "127.0.0.1",
        port: 5432,
        user: "backup",
        password_file: "/etc/drone/pg.pass",
        timeout_seconds: 3600,
        policy: "break",
        options: [],
        restore_options: [],
      },
      { name: "cloud", kind: "mariadb", database: "all", socket: "/run/mysqld/mysqld.sock", timeout_seconds: 3600, policy: "continue", options: [], restore_options: [] },
      { name: "homeassistant", kind: "sqlite", path: "/config/home-assistant_v2.db", timeout_seconds: 600, policy: "break" },
      { name: "influx", kind: "command", command: "docker exec influx influx backup -", extension: "tar", timeout_seconds: 3600, policy: "break" },
    ]);
  });

  it("reports every problem at once, each naming drone.DUMPS.<name>.<field>", () => {
    const problems = problemsOf(
      valid({
        DUMPS: {
          "Bad Name": { kind: "sqlite", path: "/x.db" },
          ha: { kind: "sqlite", path: "relative.db", extra: 1 },
          pg: { kind: "postgresql", port: "5432", policy: "maybe" },
          weird: { kind: "oracle" },
          cmd: { kind: "command", command: " ", extension: "tar.gz" },
        },
      }),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^drone\.DUMPS\.Bad Name: a dump's name must be lowercase letters/),
      'drone.DUMPS.ha.path: must be an absolute path (got "relative.db")',
      "drone.DUMPS.ha.extra: is not a known field; remove it or check its spelling",
      'drone.DUMPS.pg.policy: must be `break` or `continue` (got "maybe")',
      'drone.DUMPS.pg.port: must be a port number (1–65535) (got "5432")',
      "drone.DUMPS.pg.database: is required (got nothing)",
      'drone.DUMPS.weird.kind: must be one of postgresql, mariadb, mysql, sqlite, command (got "oracle")',
      'drone.DUMPS.cmd.command: must not be empty (got " ")',
      'drone.DUMPS.cmd.extension: must be 1–16 letters or digits (got "tar.gz")',
    ]);
  });

  it("refuses a command dump's extension json, which is the name of its manifest in the archive", () => {
    expect(problemsOf(valid({ DUMPS: { influx: { kind: "command", command: "influx backup -", extension: "json" }, other: { kind: "command", command: "x", extension: "JSON" } } }))).toEqual([
      'drone.DUMPS.influx.extension: must not be json: <name>.json is the dump\'s manifest in the archive; use e.g. jsonl or out (got "json")',
      'drone.DUMPS.other.extension: must not be json: <name>.json is the dump\'s manifest in the archive; use e.g. jsonl or out (got "JSON")',
    ]);
    expect(parseDroneConfig(valid({ DUMPS: { influx: { kind: "command", command: "influx backup -", extension: "jsonl" } } })).dumps).toMatchObject([{ extension: "jsonl" }]);
  });

  it("accepts empty SOURCES when there are dumps (a database-only drone), and refuses both empty", () => {
    const config = parseDroneConfig(valid({ SOURCES: [], DUMPS: { ha: { kind: "sqlite", path: "/config/home-assistant_v2.db" } } }));
    expect(config.sources).toEqual([]);
    expect(config.dumps.map(dump => dump.name)).toEqual(["ha"]);
    expect(problemsOf(valid({ SOURCES: [] }))).toEqual([
      "drone.SOURCES: needs at least one folder, or drone.DUMPS at least one dump (a drone that backs up databases only)",
    ]);
  });

  it("is read as JSON from DRONE_DUMPS, and no child inherits that variable", () => {
    const json = '{"homeassistant":{"kind":"sqlite","path":"/config/home-assistant_v2.db"}}';
    const resolution = resolveSources({ modules: new Map([["drone", { DUMPS: { type: "record", default: {} } }]]), files: [], env: { DRONE_DUMPS: json }, switches: [] });
    expect(resolution.problems).toEqual([]);
    expect(resolution.values.get("drone")?.get("DUMPS")?.value).toEqual(JSON.parse(json));
    const broken = resolveSources({ modules: new Map([["drone", { DUMPS: { type: "record", default: {} } }]]), files: [], env: { DRONE_DUMPS: "{oops" }, switches: [] });
    expect(broken.problems).toEqual(["DRONE_DUMPS: must be a JSON object"]);
    expect(secretConfigVariables()).toEqual(expect.arrayContaining(["DUMPS", "DRONE_DUMPS"]));
  });
});
