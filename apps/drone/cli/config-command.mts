/**
 * `backup-drone config`: every drone key with its effective value and where it came from,
 * then Home Assistant's address, token (set or not) and synapse's database; secrets hidden,
 * command lines shortened unless `--show-commands` (libs/config/config-view.mts). It resolves the sources the way the other commands do (sources.mts) but
 * boots nothing, so it also answers when the configuration is wrong, which is when a person
 * needs it; settings changed at run time (from Home Assistant or `backup-drone`) are read
 * from the state file and shown over what is configured, as the drone uses them.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { type ConfigRow, configTable, HOME_ASSISTANT_KEYS, homeAssistantRows, keyRows, rowJson } from "../../../libs/config/config-view.mjs";
import { envFilePath, envFileVariables } from "../../../libs/config/env-file.mjs";
import { fileContent, readConfigFiles, resolveFromSources, unknownSwitchProblem } from "../../../libs/config/load.mjs";
import { type KeyTypes, type Resolved, unprefixedVariables } from "../../../libs/config/sources.mjs";
import { ConfigError, DRONE_CONFIGURATION, type DRONE_KEYS, defaultDroneId, defaultStateDir, droneKeys, parseDroneConfig } from "../config.mjs";
import { type Settings } from "../core/settings.mjs";
import { salvageState } from "../core/state.mjs";
import { type CommandOptions, type ConfigSwitch } from "./args.mjs";
import { configFiles, describeFileKeyProblem, droneDatabaseUrl, fileKeyProblems, homeAssistantTokenSource } from "./boot.mjs";
import { EXIT_CODES, type ExitCode } from "./spec.mjs";
import { createTerminal } from "./terminal.mjs";

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

/**
 * The rows of the drone's keys: resolved values, run-time settings over them, secrets hidden,
 * command lines shortened unless `showCommands`.
 */
export function configRows(resolved: ReadonlyMap<string, Resolved>, changed: Partial<Settings>, showCommands = false): ConfigRow[] {
  const byKey = new Map<string, unknown>(Object.entries(SETTING_KEYS).flatMap(([setting, key]) => (setting in changed ? [[key, changed[setting as keyof Settings]]] : [])));
  const rows = keyRows("drone", DRONE_CONFIGURATION, resolved, { secrets: droneKeys.secretKeys(), commands: droneKeys.commandKeys(), showCommands });
  return rows.map(row =>
    byKey.has(row.key) && row.source.kind !== "state" ? { ...row, value: byKey.get(row.key), source: { kind: "state" }, configured: { value: row.value, source: row.source } } : row,
  );
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
  const modules: KeyTypes = new Map([["drone", DRONE_CONFIGURATION], ...HOME_ASSISTANT_KEYS]);
  const unknown = unknownSwitchProblem(switches, modules);
  if (unknown !== undefined) {
    terminal.line(`backup-drone: ${unknown}`);
    return EXIT_CODES.failed;
  }
  const files = configFiles(options.config);
  const envFile = envFilePath(options.envFile);
  const envVariables = envFileVariables(options.envFile);
  const resolution = resolveFromSources({ modules, files, ...(options.envFile === undefined ? {} : { envFile: options.envFile }), env: process.env, switches });
  const resolved = resolution.values.get("drone") ?? new Map<string, Resolved>();
  const droneId = text(resolved.get("DRONE_ID")?.value) ?? defaultDroneId();
  const stateDir = text(resolved.get("STATE_DIR")?.value) ?? defaultStateDir();
  const stateFile = join(stateDir, `${droneId}.json`);
  const rows = configRows(resolved, changedSettings(stateFile), options.showCommands);
  const homeAssistant = homeAssistantRows(resolution, { databaseUrl: droneDatabaseUrl(stateDir, droneId), env: process.env });
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
        keys: rows.map(rowJson),
        home_assistant: homeAssistant.map(rowJson),
        ignored_variables: ignored,
        home_assistant_token: token ?? null,
        problems,
        warnings,
      }),
    );
  } else {
    terminal.data(`Drone ${droneId}: configuration in force (lowest to highest: default < file < env file < env < switch; state: changed at run time)`);
    for (const line of configTable([...rows, ...homeAssistant])) terminal.data(line);
    terminal.data("");
    terminal.data(`configuration files: ${files.length > 0 ? files.join(", ") : "none"}`);
    terminal.data(`env file: ${envFile ?? "none (only --env-file FILE is read)"}`);
    terminal.data(`state file: ${stateFile}`);
    terminal.data(`Home Assistant token: ${token ? `from ${token} (hidden)` : "none: the daemon runs without Home Assistant"}`);
    if (!options.showCommands && rows.some(row => row.command && row.value !== "")) terminal.data("commands (hooks, passcommands, BORG_RSH) show their program only: --show-commands shows them whole");
    for (const { variable, instead } of ignored) terminal.data(`ignored: ${variable} in the environment (the drone reads ${instead})`);
    for (const warning of warnings) terminal.line(`warning: ${warning}`);
    if (problems.length > 0) terminal.line(`backup-drone: ${new ConfigError(problems).message}`);
  }
  return problems.length > 0 ? EXIT_CODES.failed : EXIT_CODES.success;
}
