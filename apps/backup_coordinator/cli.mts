/**
 * The `backup-coordinator` command (apps/backup_coordinator/main.mts loads it): boots the
 * coordinator application until SIGTERM/SIGINT, or prints its configuration (`config`). Only
 * bootstraps; `--help` lists every setting. Its configuration comes from the sources the drone
 * reads too (libs/config/sources.mts): prefixed variables only, `--env-file`, never ./.env.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";

import { type TServiceParams } from "@digital-alchemy/core";

import { configFileProblem, envFileVariables, exportEnvFile, startWarnings } from "../../libs/config/env-file.mjs";
import { configFiles, registerSourcesLoader, unknownSwitchProblem } from "../../libs/config/load.mjs";
import { type ConfigSwitch, HASS_KEYS } from "../../libs/config/sources.mjs";
import { secureDatabaseFile, sqliteDatabasePath } from "../../libs/ha/database-file.mjs";
import { waitAtStart } from "../../libs/ha/reachable.mjs";
import { packageVersion } from "../../libs/protocol/version.mjs";
import { coordinatorHelp, type CoordinatorOptions, parseCoordinatorLine } from "./command-line.mjs";
import { coordinatorStateDir, runCoordinatorConfig } from "./config-command.mjs";
import { COORDINATOR_APP_NAME, COORDINATOR_CONFIGURATION } from "./config.mjs";
import { createCoordinatorApplication } from "./coordinator.module.mjs";



/** synapse's own default is a database file in the working directory: keep it with the user's state instead. */
function databaseUrl(): string {
  const dir = coordinatorStateDir();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return `file:${join(dir, "synapse.db")}`;
}

/** The exit code of invalid usage or configuration. */
const INVALID = 2;

/** Run the command with its arguments (without node and the script). */
export async function runCoordinator(args: readonly string[]): Promise<void> {
  const line = parseCoordinatorLine(args);
  if (line.kind === "help") {
    process.stdout.write(coordinatorHelp());
    return;
  }
  if (line.kind === "version") {
    process.stdout.write(`backup-coordinator ${packageVersion()}\n`);
    return;
  }
  if (line.kind === "usage_error") {
    process.stderr.write(`backup-coordinator: ${line.message}\nSee \`backup-coordinator --help\`.\n`);
    process.exitCode = INVALID;
    return;
  }
  const problem = configFileProblem(line.options.config) ?? configFileProblem(line.options.envFile, "--env-file");
  if (problem !== undefined) {
    process.stderr.write(`backup-coordinator: ${problem}\n`);
    process.exitCode = INVALID;
  } else if (line.kind === "config") {
    process.exitCode = runCoordinatorConfig(line.options, line.switches);
  } else {
    await bootCoordinator(line.options, line.switches);
  }
}

/** Boot the coordinator until SIGTERM/SIGINT. */
async function bootCoordinator(options: CoordinatorOptions, switches: readonly ConfigSwitch[]): Promise<void> {
  // the environment as exported, before the env file joins it (exported variables win)
  const env = { ...process.env };
  const warnings = startWarnings({
    app: "the coordinator",
    modules: new Map<string, readonly string[]>([
      ["backup_coordinator", Object.keys(COORDINATOR_CONFIGURATION)],
      ["hass", HASS_KEYS],
    ]),
    prefixes: ["BACKUP_COORDINATOR_", "HASS_", "SYNAPSE_"],
    env,
    ...(options.envFile === undefined ? {} : { envFile: options.envFile }),
  });
  for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
  // for what reads the environment itself: hass's SUPERVISOR_TOKEN
  exportEnvFile(envFileVariables(options.envFile));
  // DA exits with process.exitCode when the boot fails: anything but a clean shutdown is a failure
  process.exitCode = 1;
  let booted = false;
  let explained = false;
  process.once("exit", code => {
    if (booted || explained || code !== 1) return;
    process.stderr.write(
      "backup-coordinator: could not start. Check that Home Assistant is reachable at hass.BASE_URL (HASS_BASE_URL) and that hass.TOKEN (HASS_TOKEN) is a valid long-lived token of an administrator.\n",
    );
  });
  await createCoordinatorApplication().bootstrap({
    configuration: {
      // lower precedence than env, switches and files: a person's settings win
      boilerplate: { LOG_LEVEL: "info" },
      synapse: { DATABASE_URL: databaseUrl(), METADATA_TITLE: "Backup Coordinator" },
    },
    appendService: {
      // the env file, the environment and the switches, over the files DA reads itself
      config_sources: ({ internal, lifecycle }: TServiceParams) => {
        lifecycle.onPreInit(() => {
          const unknown = unknownSwitchProblem(switches, internal.boilerplate.configuration.getDefinitions());
          if (unknown !== undefined) {
            explained = true;
            process.stderr.write(`backup-coordinator: ${unknown}\n`);
            process.exit(INVALID);
          }
          registerSourcesLoader(internal, {
            switches,
            files: configFiles(COORDINATOR_APP_NAME, options.config),
            ...(options.envFile === undefined ? {} : { envFile: options.envFile }),
            env,
            fail: error => {
              explained = true;
              process.stderr.write(`backup-coordinator: ${error.message}\n`);
              process.exit(INVALID);
            },
          });
        });
      },
      // before synapse opens its database: for the coordinator's user only
      database_file: ({ config, lifecycle, logger }: TServiceParams) => {
        lifecycle.onPostConfig(() => {
          const database = config.synapse.DATABASE_TYPE === "sqlite" ? sqliteDatabasePath(config.synapse.DATABASE_URL) : undefined;
          for (const file of database ? secureDatabaseFile(database) : []) logger.warn(`could not make ${file} readable by its owner only (mode 0600)`);
        }, 999);
      },
      // after the configuration is validated (fleet service, 100), before hass connects (its
      // onPostConfig has no priority): one line with the URL and the cause
      home_assistant_check: ({ config, lifecycle }: TServiceParams) => {
        lifecycle.onPostConfig(async () => {
          const problem = await waitAtStart(config.hass, { urlSetting: "hass.BASE_URL (HASS_BASE_URL)", tokenSetting: "hass.TOKEN (HASS_TOKEN), a token of an administrator" });
          if (problem === undefined) return;
          explained = true;
          process.stderr.write(`backup-coordinator: ${problem.line}\n`);
          // 1: worth trying again later (systemd does); 2: it would fail the same way
          process.exit(problem.final ? 2 : 1);
        }, 50);
      },
      exit_code: ({ lifecycle }: TServiceParams) => {
        lifecycle.onShutdownComplete(() => {
          process.exitCode = 0;
        });
      },
    },
    // the sources loader above reads the environment and the switches (libs/config/sources.mts)
    configSources: { env: false, argv: false },
  });
  booted = true;
}
