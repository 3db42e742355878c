/**
 * The `backup-coordinator` command (apps/backup_coordinator/main.mts loads it): boots the
 * coordinator application until SIGTERM/SIGINT. Only bootstraps; `--help` lists every setting.
 */
import { mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

import { type TServiceParams } from "@digital-alchemy/core";

import { secureDatabaseFile, sqliteDatabasePath } from "../../libs/ha/database-file.mjs";
import { waitForHomeAssistant } from "../../libs/ha/reachable.mjs";
import { packageVersion } from "../../libs/protocol/version.mjs";
import { COORDINATOR_CONFIGURATION } from "./config.mjs";
import { COORDINATOR_APP_NAME, createCoordinatorApplication } from "./coordinator.module.mjs";

function help(): string {
  const keys = Object.entries(COORDINATOR_CONFIGURATION).map(
    ([key, entry]) => `  ${key.padEnd(24)} ${entry.type.padEnd(8)} default ${JSON.stringify(entry.default)}\n      ${entry.description}`,
  );
  return [
    "backup-coordinator: decides when each backup drone runs, through Home Assistant.",
    "",
    "Usage: backup-coordinator [--KEY=VALUE ...] [--config FILE]",
    "",
    "Home Assistant: HASS_BASE_URL (default http://homeassistant.local:8123) and HASS_TOKEN (a long-lived token).",
    `Configuration files: /etc/${COORDINATOR_APP_NAME}, ./.${COORDINATOR_APP_NAME}, ~/.config/${COORDINATOR_APP_NAME}`,
    "(ini, json or yaml), section [backup_coordinator]; environment BACKUP_COORDINATOR_<KEY> or <KEY>.",
    "",
    "Settings:",
    ...keys,
    "",
    "Exit codes:",
    "  0  stopped by SIGTERM or SIGINT",
    "  1  could not start: Home Assistant unreachable or the token refused",
    "  2  invalid configuration: every problem is listed with its key",
    "",
    "Documentation: docs/coordinator.md (decisions, entities, events), docs/install.md, docs/troubleshooting.md.",
    "",
  ].join("\n");
}

/** Requests to Home Assistant at start-up before the coordinator gives up (at hass.RETRY_INTERVAL, 5 s: 50 s). */
const HOME_ASSISTANT_ATTEMPTS = 11;

/** How long one start-up request to Home Assistant may take. */
const HOME_ASSISTANT_TIMEOUT_MS = 10_000;

/** synapse's own default is a database file in the working directory: keep it with the user's state instead. */
function databaseUrl(): string {
  const dir = join(process.env.XDG_STATE_HOME ?? join(homedir(), ".local", "state"), "backup-coordinator");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return `file:${join(dir, "synapse.db")}`;
}

/** Run the command with its arguments (without node and the script). */
export async function runCoordinator(args: readonly string[]): Promise<void> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(help());
  } else if (args.includes("--version")) {
    process.stdout.write(`backup-coordinator ${packageVersion()}\n`);
  } else {
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
            const problem = await waitForHomeAssistant({
              baseUrl: config.hass.BASE_URL,
              token: config.hass.TOKEN,
              attempts: HOME_ASSISTANT_ATTEMPTS,
              intervalMs: config.hass.RETRY_INTERVAL * 1000,
              timeoutMs: HOME_ASSISTANT_TIMEOUT_MS,
              urlSetting: "hass.BASE_URL (HASS_BASE_URL)",
              tokenSetting: "hass.TOKEN (HASS_TOKEN), a token of an administrator",
              warn: line => process.stderr.write(`warning: ${line}\n`),
            });
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
    });
    booted = true;
  }
}
