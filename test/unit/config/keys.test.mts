import { describe, expect, it } from "vitest";
import { z } from "zod";

import { defaultConfigValues, DRONE_CONFIGURATION, DRONE_KEYS, droneKeys, parseDroneConfig } from "../../../apps/drone/config.mjs";
import { ConfigError, configKeys, defineKeys } from "../../../libs/config/index.mjs";

const TABLE = defineKeys({
  NAME: { type: "string", default: "a", enum: ["a", "b"], description: "A name.", schema: z.enum(["a", "b"]), field: "name" },
  TOKEN: { type: "string", default: "", description: "A secret.", schema: z.string().min(3), secret: true },
  COUNT: { type: "number", default: 2, description: "A count.", schema: z.number().int().min(1), field: "count" },
  PATHS: { type: "string[]", default: ["/x"], description: "Paths.", schema: z.array(z.string().startsWith("/")) },
});

const problemsOf = (parse: () => unknown) => {
  try {
    parse();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error("expected the values to be refused");
};

describe("configKeys: one table per app's keys", () => {
  const keys = configKeys("demo", TABLE);

  it("declares to DA only type, default, description and allowed values, with copies of arrays", () => {
    const declared = keys.declarations();
    expect(declared).toStrictEqual({
      NAME: { type: "string", default: "a", description: "A name.", enum: ["a", "b"] },
      TOKEN: { type: "string", default: "", description: "A secret." },
      COUNT: { type: "number", default: 2, description: "A count." },
      PATHS: { type: "string[]", default: ["/x"], description: "Paths." },
    });
    declared.PATHS.default.push("/y");
    expect(TABLE.PATHS.default).toEqual(["/x"]);
  });

  it("parses with each key's schema, numbers given as text included, and copies the keys that name a field", () => {
    const values = keys.parse({ ...keys.defaults(), TOKEN: "s3cret", COUNT: "7" });
    expect(values).toEqual({ NAME: "a", TOKEN: "s3cret", COUNT: 7, PATHS: ["/x"] });
    expect(keys.copiedFields(values)).toStrictEqual({ name: "a", count: 7 });
    expect(keys.secretKeys()).toEqual(["TOKEN"]);
  });

  it("names every bad key with the module and the value at fault, never a secret's", () => {
    const problems = problemsOf(() => keys.parse({ NAME: "c", TOKEN: "no", COUNT: Number.NaN, PATHS: ["/ok", "rel"] }));
    expect(problems).toHaveLength(4);
    expect(problems[0]).toMatch(/^demo\.NAME: .*\(got "c"\)$/);
    expect(problems[1]).toMatch(/^demo\.TOKEN: [^(]*$/);
    expect(problems[1]).not.toContain("no\"");
    expect(problems[2]).toMatch(/^demo\.COUNT: .*\(got NaN\)$/);
    expect(problems[3]).toMatch(/^demo\.PATHS\.1: .*\(got "rel"\)$/);
  });
});

describe("the drone's key table", () => {
  it("DRONE_CONFIGURATION is the table without its schemas, fields and secret marks", () => {
    expect(Object.keys(DRONE_CONFIGURATION)).toEqual(Object.keys(DRONE_KEYS));
    for (const [key, spec] of Object.entries(DRONE_KEYS)) {
      const declared = DRONE_CONFIGURATION[key as keyof typeof DRONE_CONFIGURATION];
      expect(Object.keys(declared).sort(), key).toEqual(["default", "description", "type", ...("enum" in spec ? ["enum"] : [])].sort());
      expect(declared.default, key).toEqual(spec.default);
    }
  });

  it("every key that names a field is copied to that field of DroneConfig", () => {
    const given = { ...defaultConfigValues(), REPOSITORY: "/srv/borg", NICE: 3, BORG_RSH: " ssh -p 2222 ", ALLOW_RELOCATED_REPOSITORY: true, MODE: "paused" };
    const values = droneKeys.parse(given) as Record<string, unknown>;
    const config = parseDroneConfig(given);
    expect(config).toMatchObject({ nice: 3, rsh: "ssh -p 2222", allowRelocated: true, mode: "paused" });
    const fields = Object.entries(DRONE_KEYS).flatMap(([key, spec]) => ("field" in spec ? [[key, spec.field] as const] : []));
    expect(fields.length).toBeGreaterThan(20);
    for (const [key, field] of fields) expect((config as unknown as Record<string, unknown>)[field], key).toEqual(values[key]);
  });
});
