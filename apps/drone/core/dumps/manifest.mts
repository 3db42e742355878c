/**
 * Where a dump sits inside an archive, and the manifest stored beside it: a dump's data is
 * `backup-drone-dumps/<name>.<ext>`, its manifest `backup-drone-dumps/<name>.json`. borg runs
 * with a private run folder as its working directory and `backup-drone-dumps` as a relative
 * source, so these are the paths in every archive, whatever the machine's folders.
 */
import { z } from "zod";

import { DUMP_KINDS, DUMP_NAME_PATTERN } from "./config.mjs";

/** The folder of dumps inside an archive (and inside the run folder borg reads it from). */
export const DUMPS_DIR = "backup-drone-dumps";

/** How a dump's data is written, which decides the tool that restores it. */
export const DUMP_FORMATS = ["pg_custom", "sql", "raw"] as const;
export type DumpFormat = (typeof DUMP_FORMATS)[number];

/** The manifest stored beside a dump in the archive. */
export const dumpManifestSchema = z.object({
  version: z.literal(1),
  name: z.string().regex(DUMP_NAME_PATTERN),
  kind: z.enum(DUMP_KINDS),
  format: z.enum(DUMP_FORMATS),
  /** The database dumped (a name or `all`), for postgresql and mariadb. */
  database: z.string().optional(),
  /**
   * The data names its databases itself (CREATE DATABASE and USE, or psql's `\connect`), so it
   * restores into those only: pg_dumpall, and mariadb-dump of `all`. Absent in manifests
   * written before it was recorded, when every mariadb dump held `USE` (see {@link selectsOwnDatabase}).
   */
  selects_database: z.boolean().optional(),
  /** The database file dumped, for sqlite. */
  path: z.string().optional(),
  /** The data's file name inside DUMPS_DIR: `<name>.<ext>`. */
  file: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}\.[A-Za-z0-9]{1,16}$/),
  created_at: z.string().datetime({ offset: true }),
});
export type DumpManifest = z.infer<typeof dumpManifestSchema>;

/** A dump's data path inside an archive. */
export const dumpDataPath = (name: string, ext: string): string => `${DUMPS_DIR}/${name}.${ext}`;

/** A dump's manifest path inside an archive. */
export const dumpManifestPath = (name: string): string => `${DUMPS_DIR}/${name}.json`;

/**
 * Whether a dump's data selects its own database (see `selects_database`): a manifest without
 * the field comes from a drone that dumped one MariaDB database with `--databases`, whose
 * data holds `USE`; pg_dumpall's script always connects to each database by name.
 */
export function selectsOwnDatabase(manifest: Pick<DumpManifest, "kind" | "database" | "selects_database">): boolean {
  if (manifest.selects_database !== undefined) return manifest.selects_database;
  return manifest.kind === "mariadb" || (manifest.kind === "postgresql" && manifest.database === "all");
}
