import { describe, expect, it } from "vitest";

import { Secret } from "../../../../libs/borg/index.mjs";
import { type NamedDump } from "../../../../apps/drone/core/dumps/config.mjs";
import { dumpFileOf, dumpInvocation, mariadbOptionFile, passwordOf, SECRET_FD } from "../../../../apps/drone/core/dumps/commands.mjs";

const tools = { mariadbDump: "mariadb-dump" };
const common = { timeout_seconds: 3600, policy: "break" as const };
const pg = (extra: Partial<Extract<NamedDump, { kind: "postgresql" }>> = {}): NamedDump => ({
  name: "paperless",
  kind: "postgresql",
  database: "paperless",
  options: [],
  restore_options: [],
  ...common,
  ...extra,
});
const maria = (extra: Partial<Extract<NamedDump, { kind: "mariadb" }>> = {}): NamedDump => ({
  name: "cloud",
  kind: "mariadb",
  database: "nextcloud",
  options: [],
  restore_options: [],
  ...common,
  ...extra,
});

describe("dump commands", () => {
  it("postgresql, one database: pg_dump -Fc with the connection as switches, never a prompt", () => {
    const invocation = dumpInvocation(pg({ host: "127.0.0.1", port: 5433, user: "backup", options: ["--no-owner"] }), undefined, tools);
    expect(invocation).toEqual({
      file: "pg_dump",
      args: ["--format=custom", "--host", "127.0.0.1", "--port", "5433", "--username", "backup", "--no-password", "--no-owner", "paperless"],
      env: {},
      ext: "pgdump",
      format: "pg_custom",
    });
  });

  it("postgresql, all: pg_dumpall in plain SQL; the password only as PGPASSWORD of that child", () => {
    const password = new Secret("s3cret pw");
    const invocation = dumpInvocation(pg({ database: "all" }), password, tools);
    expect(invocation.file).toBe("pg_dumpall");
    expect(invocation.args).toEqual(["--no-password"]);
    expect(invocation.env).toEqual({});
    expect(invocation.secret).toEqual({ kind: "env", name: "PGPASSWORD", value: password });
    expect({ ext: invocation.ext, format: invocation.format }).toEqual({ ext: "sql", format: "sql" });
    expect(JSON.stringify(invocation)).not.toContain("s3cret");
  });

  it("mariadb without a password: the tool itself, one consistent snapshot with routines, events and triggers; one database by its name alone (no USE in the dump)", () => {
    expect(dumpInvocation(maria({ socket: "/run/mysqld/mysqld.sock", user: "root" }), undefined, { mariadbDump: "mysqldump" })).toEqual({
      file: "mysqldump",
      args: ["--single-transaction", "--routines", "--events", "--triggers", "--socket", "/run/mysqld/mysqld.sock", "--user", "root", "nextcloud"],
      env: {},
      ext: "sql",
      format: "sql",
    });
    expect(dumpInvocation(maria({ database: "all", host: "db", port: 3307 }), undefined, tools).args).toEqual([
      "--single-transaction",
      "--routines",
      "--events",
      "--triggers",
      "--host",
      "db",
      "--port",
      "3307",
      "--all-databases",
    ]);
  });

  it("mariadb with a password: an option file read from a pipe made of the secret descriptor, first of the tool's options", () => {
    const invocation = dumpInvocation(maria(), new Secret('p#w"\\x'), tools);
    expect(invocation.file).toBe("sh");
    expect(invocation.args).toEqual([
      "-c",
      `cat <&${SECRET_FD} | exec "$0" "$@"`,
      "mariadb-dump",
      "--defaults-extra-file=/dev/fd/0",
      "--single-transaction",
      "--routines",
      "--events",
      "--triggers",
      "nextcloud",
    ]);
    expect(invocation.secret?.kind).toBe("fd");
    expect(invocation.secret?.kind === "fd" && invocation.secret.text.reveal()).toBe('[client]\npassword="p#w\\"\\\\x"\n');
    expect(JSON.stringify({ args: invocation.args, env: invocation.env })).not.toContain("p#w");
  });

  it("sqlite: sqlite3 -bail PATH .dump, waiting for a lock rather than failing at once; whole only when it ends in COMMIT;", () => {
    expect(dumpInvocation({ name: "ha", kind: "sqlite", path: "/config/home-assistant_v2.db", ...common }, undefined, tools)).toEqual({
      file: "sqlite3",
      args: ["-bail", "-cmd", ".timeout 60000", "/config/home-assistant_v2.db", ".dump"],
      env: {},
      ext: "sql",
      format: "sql",
      lastLine: "COMMIT;",
    });
  });

  it("command: sh -c, with its extension and raw format", () => {
    const dump: NamedDump = { name: "influx", kind: "command", command: "docker exec influx influx backup -", extension: "tar", ...common };
    expect(dumpInvocation(dump, undefined, tools)).toEqual({ file: "sh", args: ["-c", "docker exec influx influx backup -"], env: {}, ext: "tar", format: "raw" });
    expect(dumpFileOf(dump)).toEqual({ ext: "tar", format: "raw" });
  });

  it("the file and format agree with the invocation's for every kind", () => {
    const dumps: NamedDump[] = [pg(), pg({ database: "all" }), maria(), { name: "ha", kind: "sqlite", path: "/x.db", ...common }];
    for (const dump of dumps) {
      const { ext, format } = dumpInvocation(dump, undefined, tools);
      expect(dumpFileOf(dump)).toEqual({ ext, format });
    }
  });

  it("a password file's password is its first line", () => {
    expect(passwordOf("hunter2\n")).toBe("hunter2");
    expect(passwordOf("hunter2\r\nsecond")).toBe("hunter2");
    expect(passwordOf("")).toBe("");
    expect(mariadbOptionFile("a b")).toBe('[client]\npassword="a b"\n');
  });
});
