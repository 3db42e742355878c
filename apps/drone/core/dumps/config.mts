/**
 * The dumps a drone streams into each archive (key DUMPS): a mapping from a dump's name to its
 * settings, one schema discriminated on `kind`. Passwords are never values here, only files
 * (`password_file`) or the database tool's own configuration.
 */
import { isAbsolute } from "node:path";

import { z } from "zod";

/** A dump's name: its file name inside the archive. */
export const DUMP_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** What a dump reads from. */
export const DUMP_KINDS = ["postgresql", "mariadb", "sqlite", "command"] as const;
export type DumpKind = (typeof DUMP_KINDS)[number];
/** If a dump fails: stop the run (`break`), or make the archive without it and warn (`continue`). */
export const DUMP_POLICIES = ["break", "continue"] as const;

/** A field's "missing" and "wrong type" messages, as a person reads them. */
const typed = (what: string) => ({ error: (issue: { input: unknown }) => (issue.input === undefined ? "is required" : `must be ${what}`) });
const absolute = z.string(typed("an absolute path")).refine(value => isAbsolute(value), { message: "must be an absolute path" });
const nonEmpty = z.string(typed("text")).trim().min(1, { message: "must not be empty" });
const port = z.number(typed("a port number (1–65535)")).int().min(1).max(65_535);
const options = z.array(z.string(), typed("a list of strings")).default([]);

const common = {
  timeout_seconds: z.number(typed("a number of seconds")).int().min(1).max(7 * 24 * 3600).default(3600),
  policy: z.enum(DUMP_POLICIES, { message: "must be `break` or `continue`" }).default("break"),
};

const postgresql = z.strictObject({
  kind: z.literal("postgresql"),
  ...common,
  host: nonEmpty.optional(),
  port: port.optional(),
  user: nonEmpty.optional(),
  database: nonEmpty,
  password_file: absolute.optional(),
  options,
  restore_options: options,
});

const mariadbFields = {
  ...common,
  host: nonEmpty.optional(),
  port: port.optional(),
  socket: absolute.optional(),
  user: nonEmpty.optional(),
  database: nonEmpty,
  password_file: absolute.optional(),
  options,
  restore_options: options,
};
const mariadb = z.strictObject({ kind: z.literal("mariadb"), ...mariadbFields });
/** `mysql` is a name for the same tools: normalised to `mariadb`. */
const mysql = z.strictObject({ kind: z.literal("mysql"), ...mariadbFields }).transform(value => ({ ...value, kind: "mariadb" as const }));

const sqlite = z.strictObject({ kind: z.literal("sqlite"), ...common, path: absolute });

const command = z.strictObject({
  kind: z.literal("command"),
  ...common,
  command: nonEmpty,
  restore_command: nonEmpty.optional(),
  extension: z
    .string()
    .regex(/^[A-Za-z0-9]{1,16}$/, { message: "must be 1–16 letters or digits" })
    // <name>.json is the dump's manifest beside its data in the archive: the two would be one path
    .refine(value => value.toLowerCase() !== "json", { message: "must not be json: <name>.json is the dump's manifest in the archive; use e.g. jsonl or out" })
    .default("out"),
});

/** One dump's settings. */
export const dumpSchema = z.discriminatedUnion("kind", [postgresql, mariadb, mysql, sqlite, command], {
  error: issue =>
    issue.code === "invalid_union" ? "must be one of postgresql, mariadb, mysql, sqlite, command" : "must be a mapping with a `kind` (postgresql, mariadb, mysql, sqlite or command)",
});
export type DumpSetting = z.output<typeof dumpSchema>;

/** The DUMPS key: dump name → settings. */
export const dumpsSchema = z.record(z.string().regex(DUMP_NAME_PATTERN), dumpSchema, {
  error: issue =>
    issue.code === "invalid_key"
      ? "a dump's name must be lowercase letters, digits, - or _, starting with a letter or digit (at most 63)"
      : "must be a mapping from a dump's name to its settings",
});
/** A dump with its name. */
export type NamedDump = DumpSetting & { name: string };

/** The DUMPS mapping as a list of named dumps, in the order it was written. */
export const namedDumps = (dumps: z.output<typeof dumpsSchema>): NamedDump[] => Object.entries(dumps).map(([name, dump]) => ({ ...dump, name }));
