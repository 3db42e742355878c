import { join } from "node:path";

import { type TServiceParams } from "@digital-alchemy/core";

import { type DroneConfig, parseDroneConfig } from "../config.mjs";
import { parseConfigOrExit } from "../../../libs/config/errors.mjs";
import { createDroneEngine, type DroneEngine, type DroneLog } from "../core/engine.mjs";
import { openStateStore } from "../core/state.mjs";

/** The engine service's API: the engine, once configuration is loaded. */
export interface EngineService {
  /** The running engine; throws before onPostConfig has finished. */
  readonly engine: DroneEngine;
  readonly config: DroneConfig;
  /** Resolves when the engine is ready (onPostConfig done). */
  ready(): Promise<DroneEngine>;
}

/**
 * Validates the configuration (every problem at once, each with its key) and builds the
 * engine and its state store. A bad configuration fails the boot.
 */
export function EngineService({ config, lifecycle, logger }: TServiceParams): EngineService {
  let engine: DroneEngine | undefined;
  let droneConfig: DroneConfig | undefined;
  let markReady!: (engine: DroneEngine) => void;
  const ready = new Promise<DroneEngine>(resolve => (markReady = resolve));
  const log: DroneLog = {
    debug: message => logger.debug(message),
    info: message => logger.info(message),
    warn: message => logger.warn(message),
    error: message => logger.error(message),
  };

  lifecycle.onPostConfig(async () => {
    droneConfig = parseConfigOrExit(() => parseDroneConfig({ ...config.drone }), logger);
    const store = await openStateStore(join(droneConfig.stateDir, `${droneConfig.droneId}.json`), message => logger.warn(message));
    engine = createDroneEngine({ config: droneConfig, store, log });
    logger.info(`drone ${droneConfig.droneId} ready: repository ${droneConfig.repository}, mode ${engine.settings().mode}`);
    markReady(engine);
  }, 100);

  // before hass and synapse go offline, so that the final state still reaches Home Assistant
  lifecycle.onPreShutdown(async () => {
    await engine?.shutdown();
  }, 1000);

  return {
    get engine() {
      if (!engine) throw new Error("the drone engine is not ready before onPostConfig");
      return engine;
    },
    get config() {
      if (!droneConfig) throw new Error("the drone configuration is not loaded before onPostConfig");
      return droneConfig;
    },
    ready: () => ready,
  };
}
