/**
 * `backup-drone config`: every drone key with its effective value and where it came from,
 * secrets hidden. It resolves the sources the way the other commands do (sources.mts) but
 * boots nothing, so it also answers when the configuration is wrong, which is when a person
 * needs it; settings changed at run time (from Home Assistant or `backup-drone`) are read
 * from the state file and shown over what is configured, as the drone uses them.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { closestName } from "../../../libs/config/index.mjs";
import { ConfigError, DRONE_CONFIGURATION, DRONE_KEYS, defaultDroneId, defaultStateDir, droneKeys, parseDroneConfig } from "../config.mjs";
import { type Settings } from "../core/settings.mjs";
import { salvageState } from "../core/state.mjs";
import { type CommandOptions, type ConfigSwitch } from "./args.mjs";
import { envFilePath, envFileVariables } from "../../../libs/config/env-file.mjs";
import { fileContent, readConfigFiles } from "../../../libs/config/load.mjs";
import { type ConfigSource, describeSource, type Resolved, resolveSources, unprefixedVariables } from "../../../libs/config/sources.mjs";
import { configFiles, describeFileKeyProblem, fileKeyProblems, homeAssistantTokenSource } from "./boot.mjs";
import { EXIT_CODES, type ExitCode } from "./spec.mjs";
import { createTerminal } from "./terminal.mjs";

/** What a secret shows instead of its value. */
export const HIDDEN = "(set, hidden)";

/** The drone keys a run-time setting overrides. */
const SETTING_KEYS = {
  mode: "MODE",
  frequencyMinutes: "FREQUENCY_MINUTES",
  offsiteFrequencyMinutes: "OFFSITE_FREQUENCY_MINUTES",
  priority: "PRIORITY",
  keepDaily: "KEEP_DAILY",
  keepWeekly: "KEEP_WEEKLY",
  keepMonthly: "KEEP_MONTHLY",
  keepYearly: "KEEP_YEARLY",
  keepWithin: "KEEP_WITHIN",
} as const satisfies Partial<Record<keyof Settings, keyof typeof DRONE_KEYS>>;

/** One key as `config` shows it. */
export interface ConfigRow {
  module: string;
  key: string;
  /** The value in force, or {@link HIDDEN} for a secret that is set. */
  value: unknown;
  source: ConfigSource | { kind: "state" };
  secret: boolean;
  /** When a run-time setting wins: what the configuration says, and where from. */
  configured?: { value: unknown; source: ConfigSource };
}

/** A value that may be a secret, as it may be shown. */
const visible = (value: unknown, secret: boolean) => (secret && typeof value === "string" && value.length > 0 ? HIDDEN : value);

/** The rows of the drone's keys: resolved values, run-time settings over them, secrets hidden. */
export function configRows(resolved: ReadonlyMap<string, Resolved>, changed: Partial<Settings>): ConfigRow[] {
  const byKey = new Map<string, unknown>(Object.entries(SETTING_KEYS).flatMap(([setting, key]) => (setting in changed ? [[key, changed[setting as keyof Settings]]] : [])));
  const secrets = new Set<string>(droneKeys.secretKeys());
  return Object.keys(DRONE_KEYS).map(key => {
    const secret = secrets.has(key);
    const entry = resolved.get(key) ?? { value: DRONE_CONFIGURATION[key as keyof typeof DRONE_CONFIGURATION].default, source: { kind: "default" } as const };
    const configuredValue = visible(entry.value, secret);
    if (byKey.has(key)) return { module: "drone", key, value: byKey.get(key), source: { kind: "state" }, secret, configured: { value: configuredValue, source: entry.source } };
    return { module: "drone", key, value: configuredValue, source: entry.source, secret };
  });
}

/** A value in a table cell. */
function cell(value: unknown): string {
  if (Array.isArray(value)) return value.length === 0 ? "(none)" : value.map(String).join(", ");
  if (value === "" || value === undefined || value === null) return "(empty)";
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** A row's source in words. */
export function rowSource(row: ConfigRow): string {
  if (row.source.kind !== "state") return describeSource(row.source);
  const configured = row.configured;
  return `state: changed at run time (configured ${configured ? `${cell(configured.value)}, ${describeSource(configured.source)}` : "?"})`;
}

/** The table for people. */
export function configTable(rows: readonly ConfigRow[]): string[] {
  const keyWidth = Math.max(...rows.map(row => row.key.length));
  const valueWidth = Math.min(40, Math.max(...rows.map(row => cell(row.value).length)));
  return rows.map(row => `${row.key.padEnd(keyWidth)}  ${cell(row.value).padEnd(valueWidth)}  ${rowSource(row)}`);
}

/** The state file's run-time settings, if it can be read. */
function changedSettings(stateFile: string): Partial<Settings> {
  try {
    return salvageState(JSON.parse(readFileSync(stateFile, "utf8"))).settings;
  } catch {
    return {};
  }
}

const text = (value: unknown) => (typeof value === "string" && value.trim().length > 0 ? value.trim() : undefined);

/** Print the configuration; exit 2 when it is not valid (the problems are listed after it). */
export function runConfigCommand(options: CommandOptions, switches: readonly ConfigSwitch[]): ExitCode {
  const terminal = createTerminal();
  const keys = Object.keys(DRONE_CONFIGURATION);
  const known = new Set(keys.flatMap(key => [key, `DRONE_${key}`]));
  const unknown = switches.find(entry => !known.has(entry.name.toUpperCase().replaceAll("-", "_")));
  if (unknown) {
    const suggestion = closestName(unknown.name, keys);
    terminal.line(`backup-drone: unknown option --${unknown.name}: not a drone configuration key${suggestion ? `; did you mean --${suggestion}?` : ""} (see --help)`);
    return EXIT_CODES.failed;
  }
  const files = configFiles(options.config);
  const envFile = envFilePath(options.envFile);
  const envVariables = envFileVariables(options.envFile);
  const resolution = resolveSources({
    modules: new Map([["drone", DRONE_CONFIGURATION]]),
    files: files.map(path => ({ path, content: fileContent(path) })),
    ...(envFile === undefined ? {} : { envFile: { path: envFile, variables: envVariables } }),
    env: process.env,
    switches,
  });
  const resolved = resolution.values.get("drone") ?? new Map<string, Resolved>();
  const droneId = text(resolved.get("DRONE_ID")?.value) ?? defaultDroneId();
  const stateFile = join(text(resolved.get("STATE_DIR")?.value) ?? defaultStateDir(), `${droneId}.json`);
  const rows = configRows(resolved, changedSettings(stateFile));
  const ignored = unprefixedVariables("drone", keys, process.env);
  const token = homeAssistantTokenSource({ token: options.token, files: readConfigFiles(files), envFile: envVariables });
  const values = Object.fromEntries([...resolved].map(([key, entry]) => [key, entry.value]));
  const problems = [...resolution.problems];
  try {
    parseDroneConfig(values);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  const warnings = files.flatMap(file => fileKeyProblems(file, fileContent(file), new Map([["drone", keys]]))).map(describeFileKeyProblem);

  if (options.json) {
    terminal.data(
      JSON.stringify({
        drone_id: droneId,
        files,
        env_file: envFile ?? null,
        state_file: stateFile,
        keys: rows.map(row => ({
          key: row.key,
          value: row.value,
          source: rowSource(row),
          source_kind: row.source.kind,
          secret: row.secret,
          configured: row.configured ? { value: row.configured.value, source: describeSource(row.configured.source) } : null,
        })),
        ignored_variables: ignored,
        home_assistant_token: token ?? null,
        problems,
        warnings,
      }),
    );
  } else {
    terminal.data(`Drone ${droneId}: configuration in force (lowest to highest: default < file < env file < env < switch; state: changed at run time)`);
    for (const line of configTable(rows)) terminal.data(line);
    terminal.data("");
    terminal.data(`configuration files: ${files.length > 0 ? files.join(", ") : "none"}`);
    terminal.data(`env file: ${envFile ?? "none (only --env-file FILE is read)"}`);
    terminal.data(`state file: ${stateFile}`);
    terminal.data(`Home Assistant token: ${token ? `from ${token} (hidden)` : "none: the daemon runs without Home Assistant"}`);
    for (const { variable, instead } of ignored) terminal.data(`ignored: ${variable} in the environment (the drone reads ${instead})`);
    for (const warning of warnings) terminal.line(`warning: ${warning}`);
    if (problems.length > 0) terminal.line(`backup-drone: ${new ConfigError(problems).message}`);
  }
  return problems.length > 0 ? EXIT_CODES.failed : EXIT_CODES.success;
}
