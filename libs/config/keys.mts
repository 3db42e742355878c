/**
 * A configuration written once per key: each entry of an app's key table carries what
 * Digital Alchemy declares (type, default, description, allowed values), the zod schema of
 * its loaded value, whether it holds a secret, and the field of the app's config it is copied
 * to unchanged. The DA declarations, the schema, the defaults, the parse with its errors and
 * the copied fields are all derived from that one table here.
 */
import { z } from "zod";

import { ConfigError } from "./errors.mjs";

interface Common {
  description: string;
  /** The key's value is, or can hold, a secret: never shown in an error, never inherited by a child. */
  secret?: true;
  /** The field of the app's config that takes the parsed value as it is (keys without one are composed by the app). */
  field?: string;
}

/** One configuration key: its DA declaration, its schema, and where its value goes. */
export type KeySpec = Common &
  (
    | { type: "string"; default: string; enum?: readonly string[]; schema: z.ZodType<string | undefined> }
    | { type: "number"; default: number; schema: z.ZodType<number> }
    | { type: "boolean"; default: boolean; schema: z.ZodType<boolean> }
    | { type: "string[]"; default: string[]; schema: z.ZodType<string[]> }
    | { type: "record"; default: Record<string, unknown>; schema: z.ZodType<Record<string, unknown>> }
  );

/** An app's key table. */
export type KeyTable = Readonly<Record<string, KeySpec>>;

/** A key table, checked and with its literal types kept (field names, schemas, enums). */
export const defineKeys = <const T extends KeyTable>(table: T): T => table;

/** What Digital Alchemy declares for a key: its type, widened default, description and allowed values. */
export type Declaration<S extends KeySpec> = S["type"] extends "number"
  ? { type: "number"; default: number; description: string }
  : S["type"] extends "boolean"
    ? { type: "boolean"; default: boolean; description: string }
    : S["type"] extends "string[]"
      ? { type: "string[]"; default: string[]; description: string }
      : S["type"] extends "record"
        ? { type: "record"; default: Record<string, unknown>; description: string }
        : { type: "string"; default: string; description: string; enum?: string[] };

/** The zod schema of a table's loaded values (SCREAMING_SNAKE keys, as DA holds them). */
export type KeysSchema<T extends KeyTable> = z.ZodObject<{ -readonly [K in keyof T]: T[K]["schema"] }>;

/** The fields of the app's config that keys with a `field` give, with their parsed types. */
export type CopiedFields<T extends KeyTable> = {
  -readonly [K in keyof T as T[K] extends { field: infer F extends string } ? F : never]: z.output<T[K]["schema"]>;
};

const NUMBER_TEXT = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

/**
 * Values of `number` keys written as text become numbers. An ini file holds every value as
 * text (`KEEP_DAILY=7` is `"7"`) and Digital Alchemy passes file values through unchanged,
 * while the environment and switches are converted by type; text that is no number is left
 * for the schema to report.
 */
export function numbersFromText(values: Record<string, unknown>, table: Readonly<Record<string, { type: string }>>): Record<string, unknown> {
  const out = { ...values };
  for (const [key, entry] of Object.entries(table)) {
    const value = out[key];
    if (entry.type === "number" && typeof value === "string" && NUMBER_TEXT.test(value.trim())) out[key] = Number(value.trim());
  }
  return out;
}

/** A value as a person wrote it (JSON turns NaN into null and drops undefined). */
const shown = (value: unknown) =>
  value === undefined ? "nothing" : typeof value === "number" && !Number.isFinite(value) ? String(value) : JSON.stringify(value);

/** The value at an issue's path (`SOURCES.1` is the second source). */
function valueAt(values: Record<string, unknown>, path: readonly PropertyKey[]): unknown {
  let value: unknown = values;
  for (const step of path) value = value !== null && typeof value === "object" ? (value as Record<PropertyKey, unknown>)[step] : undefined;
  return value;
}

/** Everything that follows from an app's key table, for the DA module `module`. */
export function configKeys<const T extends KeyTable>(module: string, table: T) {
  const entries = Object.entries(table) as [keyof T & string, KeySpec][];
  const schema = z.object(Object.fromEntries(entries.map(([key, spec]) => [key, spec.schema]))) as unknown as KeysSchema<T>;

  /** The DA declaration of every key (fresh arrays: DA gets copies of the defaults). */
  function declarations(): { -readonly [K in keyof T]: Declaration<T[K]> } {
    const declared = entries.map(([key, spec]) => {
      const fresh = Array.isArray(spec.default) ? [...spec.default] : typeof spec.default === "object" ? { ...spec.default } : spec.default;
      const base = { type: spec.type, default: fresh, description: spec.description };
      return [key, spec.type === "string" && spec.enum ? { ...base, enum: [...spec.enum] } : base] as const;
    });
    return Object.fromEntries(declared) as { -readonly [K in keyof T]: Declaration<T[K]> };
  }

  /**
   * Validate loaded values. Throws a {@link ConfigError} listing every problem, each with its
   * key (`module.KEY: …`) and the value given, except a secret's.
   */
  function parse(values: Record<string, unknown>): z.output<KeysSchema<T>> {
    const parsed = schema.safeParse(numbersFromText(values, table));
    if (parsed.success) return parsed.data;
    const problems = parsed.error.issues.map(issue => {
      const key = issue.path.map(String).join(".");
      const spec = table[String(issue.path[0])];
      const got = spec?.secret ? "" : ` (got ${shown(valueAt(values, issue.path))})`;
      return `${module}.${key}: ${issue.message}${got}`;
    });
    throw new ConfigError(problems);
  }

  return {
    declarations,
    schema,
    parse,
    /** The defaults of every key, as DA would load them with nothing configured. */
    defaults: (): Record<keyof T, unknown> => Object.fromEntries(entries.map(([key, spec]) => [key, spec.default])) as Record<keyof T, unknown>,
    /** The keys whose value is, or can hold, a secret. */
    secretKeys: (): (keyof T & string)[] => entries.filter(([, spec]) => spec.secret).map(([key]) => key),
    /** The config fields that keys with a `field` give, copied from parsed values. */
    copiedFields(values: z.output<KeysSchema<T>>): CopiedFields<T> {
      const parsed = values as Record<string, unknown>;
      return Object.fromEntries(entries.flatMap(([key, spec]) => (spec.field ? [[spec.field, parsed[key]]] : []))) as CopiedFields<T>;
    },
  };
}
