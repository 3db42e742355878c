/**
 * A dump that names its database itself (CREATE DATABASE/USE, pg_dumpall's \connect) restores
 * into that database whatever --to-database says: such dumps refuse --to-database elsewhere.
 * One MariaDB database is dumped without USE (so that --to-database works), which the manifest
 * records; manifests from before (every MariaDB dump with USE) read as selecting their own.
 */
import { describe, expect, it } from "vitest";

import { type NamedDump } from "../../../../apps/drone/core/dumps/config.mjs";
import { type DumpManifest, dumpManifestSchema, selectsOwnDatabase } from "../../../../apps/drone/core/dumps/manifest.mjs";
import { planRestore, RestorePlanError } from "../../../../apps/drone/core/dumps/restore-commands.mjs";
import { manifestOf } from "../../../../apps/drone/core/dumps/stream.mjs";

const common = { timeout_seconds: 60, policy: "break" as const, options: [], restore_options: [] };
const at = new Date("2026-11-30T03:00:00.000Z");
const maria = (database: string): Extract<NamedDump, { kind: "mariadb" }> => ({ name: "cloud", kind: "mariadb", host: "127.0.0.1", user: "nc", database, ...common });
const pg = (database: string): Extract<NamedDump, { kind: "postgresql" }> => ({ name: "shop", kind: "postgresql", database, ...common });

/** A manifest as a drone wrote it before `selects_database` was recorded. */
const older = (fields: Pick<DumpManifest, "name" | "kind" | "format" | "file" | "database">): DumpManifest =>
  dumpManifestSchema.parse({ version: 1, created_at: "2026-11-01T02:00:00Z", ...fields });

const refusal = (run: () => unknown): RestorePlanError => {
  try {
    run();
  } catch (error) {
    if (error instanceof RestorePlanError) return error;
    throw error;
  }
  throw new Error("not refused");
};

describe("a dump that selects its own database", () => {
  it("the manifest records it: not for one MariaDB or PostgreSQL database, yes for `all` of either", () => {
    expect(manifestOf(maria("cloud"), at)).toMatchObject({ database: "cloud", selects_database: false });
    expect(manifestOf(maria("all"), at)).toMatchObject({ database: "all", selects_database: true });
    expect(manifestOf(pg("shop"), at)).toMatchObject({ database: "shop", selects_database: false });
    expect(manifestOf(pg("all"), at)).toMatchObject({ database: "all", selects_database: true });
  });

  it("a version 1 manifest without the field still reads: its MariaDB dump held USE, its pg_dumpall connects by name, its pg_dump -Fc selects none", () => {
    expect(selectsOwnDatabase(older({ name: "cloud", kind: "mariadb", format: "sql", file: "cloud.sql", database: "cloud" }))).toBe(true);
    expect(selectsOwnDatabase(older({ name: "shop", kind: "postgresql", format: "sql", file: "shop.sql", database: "all" }))).toBe(true);
    expect(selectsOwnDatabase(older({ name: "shop", kind: "postgresql", format: "pg_custom", file: "shop.pgdump", database: "shop" }))).toBe(false);
  });

  it("a MariaDB dump of one database restores into --to-database", () => {
    const plan = planRestore(manifestOf(maria("cloud"), at), maria("cloud"), { kind: "database", database: "cloud_check" });
    expect(plan.kind === "tool" && plan.args.slice(-2)).toEqual(["--database", "cloud_check"]);
    expect(plan.target).toBe("MariaDB database cloud_check on 127.0.0.1 as nc");
  });

  it("an older MariaDB dump (USE inside) refuses --to-database elsewhere, and goes into its own database as before", () => {
    const manifest = older({ name: "cloud", kind: "mariadb", format: "sql", file: "cloud.sql", database: "cloud" });
    const error = refusal(() => planRestore(manifest, maria("cloud"), { kind: "database", database: "cloud_check" }));
    expect(error.kind).toBe("target_invalid");
    expect(error.message).toBe(
      "the dump cloud in this archive selects its database itself (its SQL holds USE `cloud`, as MariaDB dumps of earlier drones do): restored with --to-database cloud_check it would write into cloud; restore it without --to-database, or take the data with --to-file PATH",
    );
    const own = planRestore(manifest, maria("cloud"), { kind: "database", database: "cloud" });
    expect(own.kind === "tool" && own.args.slice(-2)).toEqual(["--database", "cloud"]);
  });

  it("a dump of every database refuses --to-database: MariaDB `all` and pg_dumpall", () => {
    for (const [manifest, setting] of [
      [manifestOf(maria("all"), at), maria("all")],
      [manifestOf(pg("all"), at), pg("all")],
    ] as const) {
      const error = refusal(() => planRestore(manifest, setting, { kind: "database", database: "elsewhere" }));
      expect(error.message).toBe(
        `the dump ${manifest.name} holds every database of the server, each restored under its own name: --to-database elsewhere cannot send it elsewhere; restore it without --to-database, or take the data with --to-file PATH`,
      );
    }
  });
});
