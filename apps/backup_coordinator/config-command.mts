/**
 * `backup-coordinator config`: every coordinator key with its value in force and where it came
 * from, then Home Assistant's address, token (set or not, never its value) and synapse's
 * database. It resolves the sources as the coordinator does (libs/config/sources.mts) but
 * starts nothing, so it answers when the configuration is wrong, which is when it is needed.
 */
import { homedir } from "node:os";
import { join } from "node:path";

import { configTable, HOME_ASSISTANT_KEYS, homeAssistantRows, keyRows, rowJson } from "../../libs/config/config-view.mjs";
import { envFilePath } from "../../libs/config/env-file.mjs";
import { ConfigError } from "../../libs/config/errors.mjs";
import { configFiles, resolveFromSources, unknownSwitchProblem } from "../../libs/config/load.mjs";
import { type ConfigSwitch, type KeyTypes, type Resolved, unprefixedVariables } from "../../libs/config/sources.mjs";
import { type CoordinatorOptions } from "./command-line.mjs";
import { COORDINATOR_APP_NAME, COORDINATOR_CONFIGURATION, parseCoordinatorConfig } from "./config.mjs";

/** The module whose keys are the coordinator's. */
const MODULE = "backup_coordinator";

/** Where the coordinator keeps synapse's database unless configured: with the user's state (`$XDG_STATE_HOME/backup-coordinator`). */
export function coordinatorStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_STATE_HOME ?? join(homedir(), ".local", "state"), "backup-coordinator");
}

/** Print the configuration on stdout (problems on stderr); returns the exit code: 2 when it is not valid. */
export function runCoordinatorConfig(options: CoordinatorOptions, switches: readonly ConfigSwitch[]): number {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const err = (line: string) => process.stderr.write(`${line}\n`);
  const modules: KeyTypes = new Map([[MODULE, COORDINATOR_CONFIGURATION], ...HOME_ASSISTANT_KEYS]);
  const unknown = unknownSwitchProblem(switches, modules);
  if (unknown !== undefined) {
    err(`backup-coordinator: ${unknown}`);
    return 2;
  }
  const files = configFiles(COORDINATOR_APP_NAME, options.config);
  const envFile = envFilePath(options.envFile);
  const resolution = resolveFromSources({ modules, files, ...(options.envFile === undefined ? {} : { envFile: options.envFile }), env: process.env, switches });
  const resolved = resolution.values.get(MODULE) ?? new Map<string, Resolved>();
  const rows = keyRows(MODULE, COORDINATOR_CONFIGURATION, resolved);
  const homeAssistant = homeAssistantRows(resolution, { databaseUrl: `file:${join(coordinatorStateDir(), "synapse.db")}`, env: process.env });
  const ignored = unprefixedVariables(MODULE, Object.keys(COORDINATOR_CONFIGURATION), process.env);
  const problems = [...resolution.problems];
  try {
    parseCoordinatorConfig(Object.fromEntries([...resolved].map(([key, entry]) => [key, entry.value])));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  const coordinatorId = rows.find(row => row.key === "COORDINATOR_ID")?.value;

  if (options.json) {
    out(
      JSON.stringify({
        coordinator_id: coordinatorId,
        files,
        env_file: envFile ?? null,
        keys: rows.map(rowJson),
        home_assistant: homeAssistant.map(rowJson),
        ignored_variables: ignored,
        problems,
      }),
    );
  } else {
    out(`Coordinator ${String(coordinatorId)}: configuration in force (lowest to highest: default < file < env file < env < switch)`);
    for (const line of configTable([...rows, ...homeAssistant])) out(line);
    out("");
    out(`configuration files: ${files.length > 0 ? files.join(", ") : "none"}`);
    out(`env file: ${envFile ?? "none (only --env-file FILE is read)"}`);
    for (const { variable, instead } of ignored) out(`ignored: ${variable} in the environment (the coordinator reads ${instead})`);
    if (problems.length > 0) err(`backup-coordinator: ${new ConfigError(problems).message}`);
  }
  return problems.length > 0 ? 2 : 0;
}
