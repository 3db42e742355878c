/**
 * The example configuration files, and the configuration snippets in the docs, load the way
 * Digital Alchemy loads a configuration file and pass the apps' own validation: a key that
 * does not exist, or a value the schema refuses, fails here.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { loadConfigFromFile } from "@digital-alchemy/core";
import { LIB_HASS } from "@digital-alchemy/hass";
import { LIB_SYNAPSE } from "@digital-alchemy/synapse";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

import { COORDINATOR_CONFIGURATION, defaultCoordinatorValues, parseCoordinatorConfig } from "../../apps/backup_coordinator/config.mjs";
import { DRONE_CONFIGURATION, defaultConfigValues, parseDroneConfig } from "../../apps/drone/config.mjs";
import { ConfigError } from "../../libs/config/index.mjs";

const ROOT = join(import.meta.dirname, "..", "..");
const EXAMPLES = join(ROOT, "examples");

type Definitions = Readonly<Record<string, { type: string }>>;

/** The sections each app reads from its configuration file, and the keys of each. */
const APPS = {
  drone: {
    main: "drone",
    sections: { drone: DRONE_CONFIGURATION, hass: LIB_HASS.configuration ?? {}, synapse: LIB_SYNAPSE.configuration ?? {} } as Record<string, Definitions>,
    parse: (values: Record<string, unknown>) => parseDroneConfig({ ...defaultConfigValues(), ...values }),
  },
  coordinator: {
    main: "backup_coordinator",
    sections: {
      backup_coordinator: COORDINATOR_CONFIGURATION,
      hass: LIB_HASS.configuration ?? {},
      synapse: LIB_SYNAPSE.configuration ?? {},
    } as Record<string, Definitions>,
    parse: (values: Record<string, unknown>) => parseCoordinatorConfig({ ...defaultCoordinatorValues(), ...values }),
  },
} as const;
type AppName = keyof typeof APPS;

const fileSchema = z.record(z.string(), z.record(z.string(), z.unknown()));

/** What a value of a DA type may look like in a file (an ini file holds numbers as text). */
const TYPE_CHECKS: Record<string, (value: unknown) => boolean> = {
  string: value => typeof value === "string",
  number: value => typeof value === "number" || (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))),
  boolean: value => typeof value === "boolean",
  "string[]": value => Array.isArray(value) && value.every(item => typeof item === "string"),
};

/**
 * Every problem of a configuration file for an app: an unknown section or key, a value of
 * the wrong type for a library's key, and whatever the app's own validation reports.
 */
function configFileProblems(file: string, app: AppName): { problems: string[]; main: Record<string, unknown> } {
  const merged: Parameters<typeof loadConfigFromFile>[0] = {};
  loadConfigFromFile(merged, file);
  const parsed = fileSchema.safeParse(merged);
  if (!parsed.success) return { problems: [`not sections of KEY=value: ${parsed.error.message}`], main: {} };
  const { main, sections, parse } = APPS[app];
  const problems: string[] = [];
  for (const [section, values] of Object.entries(parsed.data)) {
    const definitions = sections[section];
    if (!definitions) {
      problems.push(`[${section}]: not a section ${app} reads`);
      continue;
    }
    for (const [key, value] of Object.entries(values)) {
      const definition = definitions[key];
      if (!definition) problems.push(`${section}.${key}: not a key of [${section}]`);
      else if (!(TYPE_CHECKS[definition.type]?.(value) ?? true)) problems.push(`${section}.${key}: not a ${definition.type}`);
    }
  }
  const values = parsed.data[main] ?? {};
  try {
    parse(values);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  return { problems, main: values };
}

const exampleFiles = async () => (await readdir(EXAMPLES)).filter(name => /\.(ini|ya?ml|json)$/.test(name)).sort();

describe("examples/", () => {
  it("holds a drone and a coordinator example in ini and yaml", async () => {
    expect(await exampleFiles()).toEqual(["coordinator.ini", "coordinator.yaml", "drone.ini", "drone.yaml"]);
  });

  it.each(["drone.ini", "drone.yaml"])("%s: every key is a drone, hass or synapse key and the drone accepts every value", name => {
    const { problems, main } = configFileProblems(join(EXAMPLES, name), "drone");
    expect(problems).toEqual([]);
    // the values reach the drone as written (an ini file's numbers included)
    const config = APPS.drone.parse(main);
    expect(config.droneId).toBe(main.DRONE_ID);
    expect(config.repository).toBe(main.REPOSITORY);
    expect(config.sources).toEqual(main.SOURCES);
    expect(config.keep.monthly).toBe(Number(main.KEEP_MONTHLY));
    expect(config.frequencyMinutes).toBe(Number(main.FREQUENCY_MINUTES));
  });

  it("drone.yaml shows an offsite repository with its own passphrase, frequency and retention", () => {
    const { main } = configFileProblems(join(EXAMPLES, "drone.yaml"), "drone");
    const config = APPS.drone.parse(main);
    expect(config.offsite?.frequencyMinutes).toBe(10080);
    expect(config.offsite?.passphrase).toEqual({ kind: "file", path: "/etc/backup-drone/offsite-passphrase" });
    expect(config.offsite?.keep).toMatchObject({ weekly: 4, monthly: 12, yearly: 3 });
    expect(config.hooks.before?.policy).toBe("break");
  });

  it.each(["coordinator.ini", "coordinator.yaml"])("%s: every key is known and the coordinator accepts every value", name => {
    const { problems, main } = configFileProblems(join(EXAMPLES, name), "coordinator");
    expect(problems).toEqual([]);
    const config = APPS.coordinator.parse(main);
    expect(config.window).toEqual({ startMinute: 22 * 60, endMinute: 6 * 60 + 30 });
    expect(config.limits).toEqual({ perHost: 1, global: 3, offsite: 1 });
    expect(config.notify).toBe(true);
  });

  it("the two coordinator examples say the same", () => {
    const ini = APPS.coordinator.parse(configFileProblems(join(EXAMPLES, "coordinator.ini"), "coordinator").main);
    const yaml = APPS.coordinator.parse(configFileProblems(join(EXAMPLES, "coordinator.yaml"), "coordinator").main);
    expect(ini).toEqual(yaml);
  });
});

describe("the check itself", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "examples-test-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("fails on a misspelt key, an unknown section, a wrong value and a library key of the wrong type", async () => {
    const file = join(dir, "bad.ini");
    await writeFile(
      file,
      ["[drone]", "REPOSITORY=/srv/borg", "KEEP_DAYLY=7", "KEEP_WITHIN=2 weeks", "[hass]", "TOKEN[]=x", "[drones]", "MODE=paused"].join("\n"),
    );
    const { problems } = configFileProblems(file, "drone");
    expect(problems).toEqual([
      "drone.KEEP_DAYLY: not a key of [drone]",
      "hass.TOKEN: not a string",
      "[drones]: not a section drone reads",
      expect.stringMatching(/^drone\.KEEP_WITHIN: must be a number and a unit/),
    ]);
  });

  it("fails on a coordinator value out of range", async () => {
    const file = join(dir, "bad.yaml");
    await writeFile(file, "backup_coordinator:\n  PER_HOST_LIMIT: 0\n  BACKUP_WINDOW: late\n");
    const { problems } = configFileProblems(file, "coordinator");
    expect(problems).toEqual([expect.stringMatching(/^backup_coordinator\.PER_HOST_LIMIT: /), expect.stringMatching(/^backup_coordinator\.BACKUP_WINDOW: /)]);
  });
});

/** Code blocks of a markdown document in a language. */
const codeBlocks = (markdown: string, languages: readonly string[]) =>
  [...markdown.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)].filter(match => languages.includes(match[1] ?? "")).map(match => ({ language: match[1] ?? "", text: match[2] ?? "" }));

describe("configuration snippets in the docs", () => {
  it("every ini or yaml snippet with a [drone] or [backup_coordinator] section loads and validates", async () => {
    const dir = await mkdtemp(join(tmpdir(), "docs-snippets-"));
    try {
      const documents = ["README.md", ...(await readdir(join(ROOT, "docs"))).filter(name => name.endsWith(".md")).map(name => `docs/${name}`)];
      const problems: string[] = [];
      let checked = 0;
      for (const document of documents) {
        const markdown = await readFile(join(ROOT, document), "utf8");
        for (const [index, block] of codeBlocks(markdown, ["ini", "yaml"]).entries()) {
          const app: AppName | undefined = /^(\[drone\]|drone:)\s*$/m.test(block.text)
            ? "drone"
            : /^(\[backup_coordinator\]|backup_coordinator:)\s*$/m.test(block.text)
              ? "coordinator"
              : undefined;
          if (!app) continue;
          const file = join(dir, `snippet-${checked}.${block.language}`);
          await writeFile(file, block.text);
          problems.push(...configFileProblems(file, app).problems.map(problem => `${document} (${block.language} block ${index + 1}): ${problem}`));
          checked += 1;
        }
      }
      expect(problems).toEqual([]);
      expect(checked).toBeGreaterThanOrEqual(4);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
