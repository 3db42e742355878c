/**
 * The daemon: the drone with its own schedule (standalone mode), with Home Assistant when a
 * token is configured, until SIGTERM/SIGINT. Without Home Assistant it logs progress and
 * results, since nobody else shows them.
 */
import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { hostname, userInfo } from "node:os";
import { join } from "node:path";

import { type TServiceParams } from "@digital-alchemy/core";

import { secureDatabaseFile, sqliteDatabasePath } from "../../../libs/ha/database-file.mjs";
import { waitAtStart } from "../../../libs/ha/reachable.mjs";
import { type ResultEvent } from "../../../libs/protocol/index.mjs";
import { parseDroneConfig } from "../config.mjs";
import { cancelRequestPath, listenForCancelRequests } from "../core/cancel-request.mjs";
import { type CommandOptions, type ConfigSwitch } from "./args.mjs";
import { envFileVariables, exportEnvFile } from "../../../libs/config/env-file.mjs";
import { readConfigFiles } from "../../../libs/config/load.mjs";
import { loadDroneApplication } from "./application.mjs";
import { configFiles, droneDatabaseUrl, droneStartWarnings, guardService, homeAssistantTokenSource } from "./boot.mjs";
import { formatFrequency, formatWhen } from "./format.mjs";
import { createLineThrottle, plainLine } from "./progress.mjs";
import { resultLines } from "./report.mjs";
import { COMMANDS, EXIT_CODES } from "./spec.mjs";
import { createPaint } from "./terminal.mjs";

/** After SIGTERM the daemon exits within this long, even if borg does not stop in time. */
const SHUTDOWN_DEADLINE_MS = 14_000;

const plain = createPaint(false);



/** synapse's own default: a database file in the working directory. */
const SYNAPSE_DEFAULT_DATABASE = `file:${join(process.cwd(), "synapse_storage.db")}`;

/** synapse's default application id (md5 of hostname, user and app name). */
function synapseDefaultUniqueId(appName: string): string {
  return createHash("md5").update([hostname(), userInfo().username, appName].join("-")).digest("hex");
}

/** The synapse application id of a drone: stable, and different for every drone id. */
export function droneApplicationId(droneId: string): string {
  return createHash("md5").update(`backup_drone-${droneId}`).digest("hex");
}

/**
 * The synapse application name of a drone (`app` in its discovery answer and registration).
 * The integration's config flow lists waiting applications keyed by this name
 * (config_flow.py `async_step_user`), so it must differ between drones.
 */
export function droneApplicationName(droneId: string): string {
  return `backup_drone_${droneId}`;
}

/** The title a person picks in Home Assistant's config flow, and the name of the application's device. */
export function droneApplicationTitle(droneId: string): string {
  return `Backup drone ${droneId}`;
}

/**
 * The daemon's own service: turns the standalone schedule on, recovers from a crash once,
 * logs what a person without Home Assistant needs to see, and bounds the shutdown.
 */
/** Set once the start-up check has said in its own line why Home Assistant cannot be used. */
let homeAssistantProblemSaid = false;

function daemonService(tokenSource: string | undefined) {
  const homeAssistant = tokenSource !== undefined;
  return function DaemonService({ config, drone, internal, lifecycle, logger }: TServiceParams) {
    drone.standalone.enable();

    // synapse keeps its entity database in the working directory unless told otherwise: keep
    // it with the drone's state instead (after the guard has validated the configuration)
    lifecycle.onPostConfig(() => {
      if (!homeAssistant) return;
      const { stateDir, droneId } = parseDroneConfig({ ...config.drone });
      if (config.synapse.DATABASE_URL === SYNAPSE_DEFAULT_DATABASE) {
        mkdirSync(stateDir, { recursive: true, mode: 0o700 });
        internal.boilerplate.configuration.set("synapse", "DATABASE_URL", droneDatabaseUrl(stateDir, droneId));
      }
      // before synapse opens it: for the drone's user only, like the state file
      const database = config.synapse.DATABASE_TYPE === "sqlite" ? sqliteDatabasePath(config.synapse.DATABASE_URL) : undefined;
      for (const file of database ? secureDatabaseFile(database) : []) logger.warn(`could not make ${file} readable by its owner only (mode 0600)`);
      // synapse's default identity is hostname + user + app name: two drones on one machine
      // would be one application in Home Assistant. The drone id is what tells drones apart.
      const appName = internal.boot.application.name;
      const uniqueId = config.synapse.METADATA_UNIQUE_ID;
      if (!uniqueId || uniqueId === synapseDefaultUniqueId(appName)) {
        internal.boilerplate.configuration.set("synapse", "METADATA_UNIQUE_ID", droneApplicationId(droneId));
      }
      const title = config.synapse.METADATA_TITLE;
      if (!title || title === appName) {
        internal.boilerplate.configuration.set("synapse", "METADATA_TITLE", droneApplicationTitle(droneId));
      }
      // synapse names the application's own device after the DA application, "backup_drone"
      // on every machine: name it after the drone instead (unless the configuration does)
      const metadata = config.synapse.METADATA;
      if (!metadata?.name) internal.boilerplate.configuration.set("synapse", "METADATA", { ...metadata, name: droneApplicationTitle(droneId) });
      // synapse sends the DA application's name as `app` (websocket.service.mjs, read at each
      // discovery and registration): the config files are already read, so from here on the
      // drone's own name is safe to use
      (internal.boot.application as { name: string }).name = droneApplicationName(droneId);
    }, 999);

    // before hass connects (its own onPostConfig has no priority): a refused token or an
    // unreachable URL is said in one line with the URL, and a refused token is final
    lifecycle.onPostConfig(async () => {
      if (!homeAssistant) return;
      const problem = await waitAtStart(config.hass, { urlSetting: "HASS_URL (or BASE_URL in the [hass] section)", tokenSetting: `TOKEN (now from ${tokenSource})` });
      if (problem === undefined) return;
      process.stderr.write(`backup-drone: ${problem.line}\n`);
      homeAssistantProblemSaid = true;
      // 1: worth trying again later (systemd does); 2: it would fail the same way
      process.exit(problem.final ? EXIT_CODES.failed : 1);
    }, 500);

    // the engine logs failures itself; a success deserves its summary (archive, sizes, pruned)
    const logResult = (result: ResultEvent) => {
      if (result.outcome === "success") logger.info(resultLines(result, plain).join("\n"));
      else if (result.outcome === "warning") logger.warn(resultLines(result, plain).join("\n"));
    };

    // before the standalone schedule's first look (an onReady without priority): a borg
    // left running by a crashed process must be stopped before a new run starts
    lifecycle.onReady(async () => {
      const engine = drone.engine.engine;
      logger.info(homeAssistant ? `Home Assistant: token from ${tokenSource}` : "no Home Assistant token configured (HASS_TOKEN, --token or TOKEN in the hass section): running without Home Assistant");
      engine.onResult(logResult);
      if (!homeAssistant) {
        const due = createLineThrottle();
        engine.onProgress(event => {
          if (due(event)) logger.info(plainLine(event));
        });
      }
      // `backup-drone cancel` from a shell reaches the run this daemon runs
      const stopListening = listenForCancelRequests({
        path: cancelRequestPath(engine.config.stateDir, engine.config.droneId),
        runningRunId: () => engine.live().runId,
        cancel: by => engine.cancel(by),
        log: { info: message => logger.info(message), warn: message => logger.warn(message) },
      });
      lifecycle.onShutdownStart(stopListening);
      await engine.recover();

      const settings = engine.settings();
      if (settings.mode === "standalone") {
        const last = engine.persisted().lastBackup;
        logger.info(
          `standalone: a scheduled backup ${formatFrequency(settings.frequencyMinutes)}; last backup ${formatWhen(last)}${engine.due().length > 0 ? ", due now" : ""}`,
        );
      } else if (settings.mode === "coordinated" && !homeAssistant) {
        logger.warn(
          // the names the drone reads: a plain MODE or TOKEN in the environment is ignored
          "MODE is coordinated but no Home Assistant token is configured: nothing will run on its own. Set DRONE_MODE=standalone, or a token in HASS_TOKEN (see --help).",
        );
      } else if (settings.mode === "paused") {
        logger.info("paused: nothing runs on its own");
      }
    }, 100);

    // DA's timers are gone by shutdown: a plain timer bounds it, and never keeps the process up
    const deadline = () =>
      setTimeout(() => {
        logger.error(`shutdown took longer than ${SHUTDOWN_DEADLINE_MS / 1000} s; exiting (the next start recovers)`);
        process.exit();
      }, SHUTDOWN_DEADLINE_MS).unref();
    process.once("SIGTERM", deadline).once("SIGINT", deadline);
  };
}

/** Boot the daemon; resolves once it runs (DA keeps the process alive until a signal). */
export async function runDaemon(options: CommandOptions, switches: readonly ConfigSwitch[]): Promise<void> {
  const files = configFiles(options.config);
  let sections: Record<string, Record<string, unknown>> = {};
  try {
    sections = readConfigFiles(files);
  } catch {
    // a broken file: DA reports it while booting
  }
  // the environment as exported, before the env file joins it (exported variables win, see sources.mts)
  const env = { ...process.env };
  // a TOKEN or a ./.env the drone used to read: without a word the daemon would just run without Home Assistant
  for (const warning of droneStartWarnings({ env, ...(options.envFile === undefined ? {} : { envFile: options.envFile }) })) process.stderr.write(`warning: ${warning}\n`);
  const envFile = envFileVariables(options.envFile);
  exportEnvFile(envFile);
  const tokenSource = homeAssistantTokenSource({ token: options.token, files: sections, envFile }, env);
  const homeAssistant = tokenSource !== undefined;
  const app = await loadDroneApplication(homeAssistant);
  // DA ends a failed boot with a bare process.exit(): make that a failure, and say what to check
  process.exitCode = 1;
  let booted = false;
  process.once("exit", code => {
    if (booted || !homeAssistant || code !== 1 || homeAssistantProblemSaid) return;
    process.stderr.write(
      `backup-drone: could not start with Home Assistant (token from ${tokenSource ?? "?"}). Check that Home Assistant is reachable at HASS_URL (or BASE_URL in the [hass] section) and that the token is valid; without a token the drone runs without Home Assistant.\n`,
    );
  });
  await app.bootstrap({
    appendService: {
      cli_guard: guardService({
        switches,
        files,
        unknownKeys: COMMANDS.daemon.writes ? "error" : "warn",
        opensRepository: true,
        envFile: options.envFile,
        env,
        token: options.token,
        warn: message => process.stderr.write(`warning: ${message}\n`),
        fail: message => process.stderr.write(`${message}\n`),
      }),
      daemon: daemonService(tokenSource),
    },
    configuration: { boilerplate: { LOG_LEVEL: options.verbose ? "debug" : "info" } },
    // the guard's loader reads the environment, the env file and the switches (sources.mts)
    configSources: { env: false, argv: false },
    // DA's wiring chatter (optional libraries not loaded, boot timings) only with --verbose
    loggerOptions: options.verbose ? {} : { levelOverrides: { boilerplate: "warn" } },
  });
  booted = true;
  process.exitCode = EXIT_CODES.success;
}
