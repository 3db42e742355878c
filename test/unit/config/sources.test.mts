/**
 * The bins' configuration sources as data: which variables count for each module, the order
 * in which sources win, and what reaches Digital Alchemy's configuration.
 */
import { LIB_HASS } from "@digital-alchemy/hass";
import { describe, expect, it } from "vitest";

import { describeSource, HASS_KEYS, ignoredSourceWarnings, overridingValues, resolveSources, unprefixedVariables, variablesOf } from "../../../libs/config/sources.mjs";
import { DRONE_CONFIGURATION } from "../../../apps/drone/config.mjs";

const HASS = {
  BASE_URL: { type: "string", default: "http://localhost:8123" },
  TOKEN: { type: "string", default: "" },
  RETRY_INTERVAL: { type: "number", default: 5 },
};
const SYNAPSE = { DATABASE_URL: { type: "string", default: "file:synapse.db" }, METADATA: { type: "record", default: {} } };
const modules = new Map<string, Record<string, { type: string; default?: unknown }>>([
  ["drone", DRONE_CONFIGURATION],
  ["hass", HASS],
  ["synapse", SYNAPSE],
]);

const resolve = (inputs: Partial<Parameters<typeof resolveSources>[0]>) => resolveSources({ modules, files: [], env: {}, switches: [], ...inputs });
const entry = (resolution: ReturnType<typeof resolveSources>, module: string, key: string) => resolution.values.get(module)?.get(key);

describe("configuration sources of the command line", () => {
  it("names the variables of each module: prefixed, DRONE_ID as it is, HASS_URL and LOG_LEVEL as aliases", () => {
    expect(variablesOf("drone", "REPOSITORY")).toEqual(["DRONE_REPOSITORY"]);
    expect(variablesOf("drone", "DRONE_ID")).toEqual(["DRONE_ID"]);
    expect(variablesOf("hass", "TOKEN")).toEqual(["HASS_TOKEN"]);
    expect(variablesOf("hass", "BASE_URL")).toEqual(["HASS_BASE_URL", "HASS_URL"]);
    expect(variablesOf("synapse", "DATABASE_URL")).toEqual(["SYNAPSE_DATABASE_URL"]);
    expect(variablesOf("boilerplate", "LOG_LEVEL")).toEqual(["BOILERPLATE_LOG_LEVEL", "LOG_LEVEL"]);
  });

  it("lets a switch beat the environment, the environment beat the env file, the env file beat the files", () => {
    const files = [
      { path: "/etc/backup_drone.ini", content: { drone: { KEEP_DAILY: "5", KEEP_WEEKLY: "5", KEEP_MONTHLY: "5", KEEP_YEARLY: "5" } } },
      { path: "/home/me/.config/backup_drone.yaml", content: { drone: { KEEP_YEARLY: 6 } } },
    ];
    const envFile = { path: "/etc/drone.env", variables: { DRONE_KEEP_DAILY: "4", DRONE_KEEP_WEEKLY: "4", DRONE_KEEP_MONTHLY: "4" } };
    const resolution = resolve({ files, envFile, env: { DRONE_KEEP_DAILY: "3", DRONE_KEEP_WEEKLY: "3" }, switches: [{ name: "KEEP_DAILY", value: "2" }] });
    expect(entry(resolution, "drone", "KEEP_DAILY")).toEqual({ value: 2, source: { kind: "switch", name: "KEEP_DAILY" } });
    expect(entry(resolution, "drone", "KEEP_WEEKLY")).toEqual({ value: 3, source: { kind: "env", variable: "DRONE_KEEP_WEEKLY" } });
    expect(entry(resolution, "drone", "KEEP_MONTHLY")).toEqual({ value: 4, source: { kind: "env_file", path: "/etc/drone.env", variable: "DRONE_KEEP_MONTHLY" } });
    // the later file wins, as DA merges them
    expect(entry(resolution, "drone", "KEEP_YEARLY")).toEqual({ value: 6, source: { kind: "file", path: "/home/me/.config/backup_drone.yaml", section: "drone" } });
    expect(entry(resolution, "drone", "KEEP_WITHIN")).toEqual({ value: "", source: { kind: "default" } });
    // only what beats the files goes to DA's loader (DA reads the files itself)
    expect(overridingValues(resolution).drone).toEqual({ KEEP_DAILY: 2, KEEP_WEEKLY: 3, KEEP_MONTHLY: 4 });
  });

  it("reads no unprefixed variable, and no empty one", () => {
    const resolution = resolve({ env: { REPOSITORY: "/srv/plain", MODE: "dark", TOKEN: "t", BASE_URL: "http://x", DRONE_SOURCES: "" } });
    expect(overridingValues(resolution)).toEqual({});
    expect(unprefixedVariables("drone", Object.keys(DRONE_CONFIGURATION), { REPOSITORY: "/srv", MODE: "dark", DRONE_MODE: "paused" })).toEqual([
      { variable: "REPOSITORY", instead: "DRONE_REPOSITORY" },
    ]);
  });

  it("gives Home Assistant its token and URL from HASS_TOKEN, HASS_URL (HASS_BASE_URL first) or --token, and synapse its SYNAPSE_ keys", () => {
    const env = resolve({ env: { HASS_TOKEN: "secret", HASS_URL: "http://ha:8123", SYNAPSE_DATABASE_URL: "file:/var/lib/s.db", SYNAPSE_METADATA: '{"name":"x"}' } });
    expect(overridingValues(env)).toEqual({
      hass: { TOKEN: "secret", BASE_URL: "http://ha:8123" },
      synapse: { DATABASE_URL: "file:/var/lib/s.db", METADATA: { name: "x" } },
    });
    const both = resolve({ env: { HASS_URL: "http://alias", HASS_BASE_URL: "http://prefixed" }, token: "from-switch" });
    expect(overridingValues(both).hass).toEqual({ BASE_URL: "http://prefixed", TOKEN: "from-switch" });
    expect(entry(both, "hass", "TOKEN")?.source).toEqual({ kind: "switch", name: "token" });
  });

  it("parses values by type, and reports a value it cannot read with its variable", () => {
    const resolution = resolve({ env: { DRONE_SOURCES: '["/home","/etc"]', DRONE_EXCLUDES: "*/.cache,*/tmp", DRONE_PRESCAN: "no", DRONE_ONE_FILE_SYSTEM: "yes" } });
    expect(overridingValues(resolution).drone).toEqual({ SOURCES: ["/home", "/etc"], EXCLUDES: ["*/.cache", "*/tmp"], PRESCAN: false, ONE_FILE_SYSTEM: true });
    expect(resolve({ env: { SYNAPSE_METADATA: "{oops" } }).problems).toEqual(["SYNAPSE_METADATA: must be a JSON object"]);
    expect(resolve({ env: { DRONE_SOURCES: "[1,2]" } }).problems).toEqual(['DRONE_SOURCES: must be a JSON list of strings (["a","b"]) or words separated by commas']);
  });

  it("reports a number, a boolean or a list it cannot read with its variable instead of guessing", () => {
    // hass checks none of its numbers itself: NaN would reach its retry timer
    expect(resolve({ env: { HASS_RETRY_INTERVAL: "abc" } }).problems).toEqual(["HASS_RETRY_INTERVAL: must be a number"]);
    expect(resolve({ env: { DRONE_KEEP_DAILY: " " } }).problems).toEqual(["DRONE_KEEP_DAILY: must be a number"]);
    expect(resolve({ switches: [{ name: "KEEP_DAILY", value: "seven" }] }).problems).toEqual(["--KEEP_DAILY: must be a number"]);
    expect(overridingValues(resolve({ env: { HASS_RETRY_INTERVAL: " 30 " } })).hass).toEqual({ RETRY_INTERVAL: 30 });
    // a typo must not turn a feature off
    const typo = resolve({ env: { DRONE_PRESCAN: "ture" } });
    expect(typo.problems).toEqual(["DRONE_PRESCAN: must be true or false (true, false, yes, no, 1, 0)"]);
    expect(entry(typo, "drone", "PRESCAN")?.source).toEqual({ kind: "default" });
    expect(resolve({ switches: [{ name: "PRESCAN", value: "maybe" }] }).problems).toEqual(["--PRESCAN: must be true or false (true, false, yes, no, 1, 0)"]);
    const words = resolve({ env: { DRONE_PRESCAN: "0", DRONE_ONE_FILE_SYSTEM: "TRUE" }, switches: [{ name: "VERIFY_AFTER_BACKUP", value: "False" }] });
    expect(words.problems).toEqual([]);
    expect(overridingValues(words).drone).toEqual({ PRESCAN: false, ONE_FILE_SYSTEM: true, VERIFY_AFTER_BACKUP: false });
    expect(overridingValues(resolve({ switches: [{ name: "PRESCAN", value: undefined }] })).drone).toEqual({ PRESCAN: true });
    // lists as people write them: spaces after commas, a trailing comma
    expect(overridingValues(resolve({ env: { DRONE_SOURCES: "/home, /etc ,,/srv," } })).drone).toEqual({ SOURCES: ["/home", "/etc", "/srv"] });
  });

  it("warns once about an unprefixed drone or hass variable, and about a ./.env holding the drone's variables", () => {
    const keys = new Map<string, readonly string[]>([
      ["drone", Object.keys(DRONE_CONFIGURATION)],
      ["hass", Object.keys(HASS)],
    ]);
    const env = { TOKEN: "t", BASE_URL: "http://ha:8123", MODE: "dark", REPOSITORY: "/srv", DRONE_REPOSITORY: "/srv/borg", EDITOR: "vi" };
    const dotEnv = { path: "./.env", variables: { HASS_TOKEN: "t", DRONE_MODE: "standalone", NODE_ENV: "production" } };
    expect(ignoredSourceWarnings({ app: "the drone", modules: keys, prefixes: ["DRONE_", "HASS_", "SYNAPSE_"], env, dotEnv })).toEqual([
      "MODE is set in the environment; the drone reads DRONE_MODE (variables without the DRONE_ prefix are ignored).",
      "BASE_URL is set in the environment; the drone reads HASS_BASE_URL (variables without the HASS_ prefix are ignored).",
      "TOKEN is set in the environment; the drone reads HASS_TOKEN (variables without the HASS_ prefix are ignored).",
      "./.env sets DRONE_MODE, HASS_TOKEN, but the drone does not read ./.env: export them, or pass --env-file ./.env.",
    ]);
    // HASS_URL counts for BASE_URL; nothing the drone reads, nothing to say
    expect(ignoredSourceWarnings({ app: "the drone", modules: keys, prefixes: ["DRONE_"], env: { BASE_URL: "http://x", HASS_URL: "http://ha" } })).toEqual([]);
    expect(ignoredSourceWarnings({ app: "the drone", modules: keys, prefixes: ["DRONE_"], env: { EDITOR: "vi" }, dotEnv: { path: "./.env", variables: { NODE_ENV: "production" } } })).toEqual([]);
  });

  it("names every key of the hass library in HASS_KEYS", () => {
    expect([...HASS_KEYS].sort()).toEqual(Object.keys(LIB_HASS.configuration ?? {}).sort());
  });

  it("describes each source in words", () => {
    expect(describeSource({ kind: "default" })).toBe("default");
    expect(describeSource({ kind: "file", path: "/etc/backup_drone.ini", section: "drone" })).toBe("file /etc/backup_drone.ini [drone]");
    expect(describeSource({ kind: "env_file", path: "/etc/drone.env", variable: "DRONE_ID" })).toBe("env file /etc/drone.env (DRONE_ID)");
    expect(describeSource({ kind: "env", variable: "DRONE_REPOSITORY" })).toBe("env DRONE_REPOSITORY");
    expect(describeSource({ kind: "switch", name: "KEEP_DAILY" })).toBe("switch --KEEP_DAILY");
  });
});
