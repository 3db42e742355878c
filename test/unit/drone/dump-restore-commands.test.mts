/** The restore side of dumps as data: the exact argv of each tool, what it replaces, and the refusals. */
import { Readable } from "node:stream";

import { describe, expect, it } from "vitest";

import { type ArchiveItem } from "../../../libs/borg/index.mjs";
import { runProcess, SHELL_STOP } from "../../../libs/process/index.mjs";

import { dumpSchema, type DumpSetting } from "../../../apps/drone/core/dumps/config.mjs";
import { type DumpManifest } from "../../../apps/drone/core/dumps/manifest.mjs";
import { SECRET_FD } from "../../../apps/drone/core/dumps/commands.mjs";
import { MARIADB_RESTORE_SCRIPT, OPTION_FILE, planRestore, RestorePlanError, toolLine } from "../../../apps/drone/core/dumps/restore-commands.mjs";
import { dumpsInItems } from "../../../apps/drone/core/dumps/restore.mjs";

const manifest = (fields: Partial<DumpManifest> & Pick<DumpManifest, "name" | "kind" | "format" | "file">): DumpManifest => ({ version: 1, created_at: "2026-11-30T02:00:00Z", ...fields });
const setting = (value: unknown): DumpSetting => dumpSchema.parse(value);

const tool = (plan: ReturnType<typeof planRestore>) => {
  if (plan.kind !== "tool") throw new Error("expected a tool");
  return plan;
};

describe("planRestore", () => {
  it("pg_restore into the dump's database with the connection of its DUMPS entry; the password file, never the password, in the plan", () => {
    const plan = tool(
      planRestore(
        manifest({ name: "shop", kind: "postgresql", format: "pg_custom", database: "shop", file: "shop.pgdump" }),
        setting({ kind: "postgresql", host: "db", port: 5433, user: "backup", database: "shop", password_file: "/etc/pg.pass" }),
        { kind: "database" },
      ),
    );
    expect([plan.program, ...plan.args]).toEqual(["pg_restore", "--no-password", "--host", "db", "--port", "5433", "--username", "backup", "--dbname", "shop", "--clean", "--if-exists", "--single-transaction"]);
    expect(plan.password).toEqual({ file: "/etc/pg.pass", via: "PGPASSWORD" });
    expect(plan.replaces).toBe(true);
    expect(plan.target).toBe("PostgreSQL database shop on db:5433 as backup");
  });

  it("--to-database and restore_options replace the database and the default options", () => {
    const plan = tool(
      planRestore(
        manifest({ name: "shop", kind: "postgresql", format: "pg_custom", database: "shop", file: "shop.pgdump" }),
        setting({ kind: "postgresql", database: "shop", restore_options: ["--no-owner"] }),
        { kind: "database", database: "shop_check" },
      ),
    );
    expect(plan.args).toEqual(["--no-password", "--dbname", "shop_check", "--no-owner"]);
    expect(plan.target).toBe("PostgreSQL database shop_check on the local socket");
  });

  it("psql for a pg_dumpall script (errors are warnings), with ON_ERROR_STOP for one database's SQL", () => {
    const all = tool(planRestore(manifest({ name: "cluster", kind: "postgresql", format: "sql", database: "all", file: "cluster.sql" }), setting({ kind: "postgresql", database: "all" }), { kind: "database" }));
    expect(all.args).toEqual(["--no-psqlrc", "--no-password", "--quiet", "--dbname", "postgres"]);
    expect(all.errorsAreWarnings).toBe(true);
    const one = tool(planRestore(manifest({ name: "shop", kind: "postgresql", format: "sql", database: "shop", file: "shop.sql" }), setting({ kind: "postgresql", database: "shop" }), { kind: "database" }));
    expect(one.args).toEqual(["--no-psqlrc", "--no-password", "--quiet", "--dbname", "shop", "--set", "ON_ERROR_STOP=1", "--single-transaction"]);
    expect(one.errorsAreWarnings).toBe(false);
  });

  it("mariadb reads its password from an option file (first), the database last; `all` names none", () => {
    const plan = tool(
      planRestore(
        manifest({ name: "cloud", kind: "mariadb", format: "sql", database: "nextcloud", file: "cloud.sql" }),
        setting({ kind: "mysql", host: "127.0.0.1", port: 3306, user: "nc", database: "nextcloud", password_file: "/etc/nc.pass" }),
        { kind: "database" },
      ),
    );
    expect([plan.program, ...plan.args]).toEqual(["mariadb", "--defaults-extra-file=/dev/fd/5", "--host", "127.0.0.1", "--port", "3306", "--user", "nc", "--batch", "--database", "nextcloud"]);
    expect(plan.password).toEqual({ file: "/etc/nc.pass", via: "option_file" });
    const all = tool(planRestore(manifest({ name: "all", kind: "mariadb", format: "sql", database: "all", file: "all.sql" }), setting({ kind: "mariadb", database: "all", socket: "/run/mysqld/mysqld.sock" }), { kind: "database" }));
    expect(all.args).toEqual(["--socket", "/run/mysqld/mysqld.sock", "--batch"]);
    expect(all.target).toBe("every database of the MariaDB server /run/mysqld/mysqld.sock");
  });

  it("sqlite3 builds a new file beside the database, which replaces it only at the end", () => {
    const plan = tool(planRestore(manifest({ name: "ha", kind: "sqlite", format: "sql", path: "/config/home-assistant_v2.db", file: "ha.sql" }), setting({ kind: "sqlite", path: "/config/home-assistant_v2.db" }), { kind: "database" }));
    expect(plan.sqlite).toEqual({ file: "/config/home-assistant_v2.db", buildFile: `/config/.home-assistant_v2.db.restoring-${process.pid}` });
    expect(plan.args).toEqual(["-batch", "-bail", `/config/.home-assistant_v2.db.restoring-${process.pid}`]);
    // no DUMPS entry needed: the manifest names the file
    expect(tool(planRestore(manifest({ name: "ha", kind: "sqlite", format: "sql", path: "/srv/ha.db", file: "ha.sql" }), undefined, { kind: "database" })).sqlite?.file).toBe("/srv/ha.db");
    expect(() => planRestore(manifest({ name: "ha", kind: "sqlite", format: "sql", path: "/srv/ha.db", file: "ha.sql" }), undefined, { kind: "database", database: "ha.db" })).toThrow(/absolute path/);
  });

  it("a command dump runs its restore_command; without one, or without a DUMPS entry for a server, it says to use --to-file", () => {
    const plan = tool(planRestore(manifest({ name: "influx", kind: "command", format: "raw", file: "influx.out" }), setting({ kind: "command", command: "influx backup -", restore_command: "influx restore -" }), { kind: "database" }));
    expect([plan.program, ...plan.args]).toEqual(["sh", "-c", "influx restore -"]);
    expect(() => planRestore(manifest({ name: "influx", kind: "command", format: "raw", file: "influx.out" }), setting({ kind: "command", command: "x" }), { kind: "database" })).toThrow(/no restore_command: take the data with --to-file/);
    const missing = (() => {
      try {
        planRestore(manifest({ name: "shop", kind: "postgresql", format: "pg_custom", database: "shop", file: "shop.pgdump" }), undefined, { kind: "database" });
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(missing).toBeInstanceOf(RestorePlanError);
    expect((missing as RestorePlanError).kind).toBe("dump_not_configured");
    expect(() => planRestore(manifest({ name: "shop", kind: "postgresql", format: "pg_custom", database: "shop", file: "shop.pgdump" }), setting({ kind: "sqlite", path: "/x.db" }), { kind: "database" })).toThrow(/now of kind sqlite/);
  });

  it("--to-file: an absolute path, replacing nothing", () => {
    const plan = planRestore(manifest({ name: "shop", kind: "postgresql", format: "pg_custom", database: "shop", file: "shop.pgdump" }), undefined, { kind: "file", path: "/srv/shop.pgdump" });
    expect(plan).toEqual({ kind: "file", path: "/srv/shop.pgdump", target: "the file /srv/shop.pgdump", replaces: false });
    expect(() => planRestore(manifest({ name: "shop", kind: "postgresql", format: "pg_custom", file: "shop.pgdump" }), undefined, { kind: "file", path: "shop.pgdump" })).toThrow(/absolute/);
  });
});

describe("the MariaDB option file on a pipe and the tool line", () => {
  it("hands the client the option file at /dev/fd/5 (a real pipe) and the dump on its stdin", async () => {
    // a stand-in client that prints what it opens at /dev/fd/5, then what its stdin carries
    const client = ["/bin/sh", "-c", `cat ${OPTION_FILE}; printf -- '---'; cat`];
    const ran = await runProcess("sh", ["-c", MARIADB_RESTORE_SCRIPT, ...client], {
      stdin: Readable.from([Buffer.from("INSERT 1;\n"), Buffer.from("INSERT 2;\n")]),
      input: { fd: SECRET_FD, text: '[client]\npassword="pw"\n' },
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
      stop: SHELL_STOP,
      timeoutMs: 10_000,
      keep: { stdout: 4096, stderr: 4096 },
    });
    expect(ran.stderr).toBe("");
    expect(ran.end).toMatchObject({ kind: "exited", code: 0 });
    expect(ran.stdout).toBe('[client]\npassword="pw"\n---INSERT 1;\nINSERT 2;\n');
  });

  it("shows argv as a shell would read it", () => {
    const plan = tool(planRestore(manifest({ name: "influx", kind: "command", format: "raw", file: "influx.out" }), setting({ kind: "command", command: "x", restore_command: "influx restore -" }), { kind: "database" }));
    expect(toolLine(plan)).toBe("sh -c 'influx restore -'");
  });
});

describe("dumpsInItems", () => {
  it("one dump per manifest, with its data file and size; a data file without a manifest is no dump", () => {
    const item = (path: string, size: number): ArchiveItem => ({ path, type: path.endsWith("dumps") ? "d" : "-", size, mode: "-rw-------" });
    const found = dumpsInItems([
      item("backup-drone-dumps", 0),
      item("backup-drone-dumps/shop.json", 200),
      item("backup-drone-dumps/shop.pgdump", 12_345),
      item("backup-drone-dumps/shop2.json", 200),
      item("backup-drone-dumps/stray.sql", 9),
    ]);
    expect(found).toEqual([
      { name: "shop", file: "shop.pgdump", size: 12_345 },
      { name: "shop2", file: null, size: null },
    ]);
  });
});
