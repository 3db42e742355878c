/**
 * The drone library and application as built from their parts, without importing Home
 * Assistant's client libraries nor the drone's bridge to them: hass and synapse (and the
 * database drivers synapse pulls in) take longer to import than a one-shot command takes to
 * run, so the command line builds the drone from here and imports them only when a token is
 * configured. `drone.module.mts` builds the public `LIB_DRONE` and `DRONE` from the same
 * parts, with the bridge.
 */
import { CreateApplication, CreateLibrary, type ServiceFunction, type TLibrary } from "@digital-alchemy/core";

import { droneKeys } from "./config.mjs";
import { EngineService } from "./services/engine.service.mjs";
import { StandaloneService } from "./services/standalone.service.mjs";

/**
 * The drone library with the given extra services (the Home Assistant bridge, when hass may
 * be loaded). `optionalDepends` only orders wiring: a library listed there that the host
 * loads is wired before the drone, so that the Home Assistant bridge finds it.
 */
export function createDroneLibrary<Extra extends Record<string, ServiceFunction>>(optionalDepends: TLibrary[], extra: Extra) {
  return CreateLibrary({
    name: "drone",
    // the key table without its schemas: what DA declares, with fresh copies of the defaults
    configuration: droneKeys.declarations(),
    // an explicit empty list: DA reads `depends` when an optional dependency is absent
    depends: [],
    optionalDepends,
    priorityInit: ["engine"],
    services: {
      engine: EngineService,
      standalone: StandaloneService,
      ...extra,
    },
  });
}

/** The drone application around the given libraries (the drone library last). */
export function createDroneApplicationOf(libraries: TLibrary[]) {
  return CreateApplication({ name: "backup_drone", libraries, services: {} });
}

/**
 * The drone application without Home Assistant, for the command line: neither hass and
 * synapse nor the bridge (which would do nothing without them) are imported.
 */
export function createLocalDroneApplication() {
  return createDroneApplicationOf([createDroneLibrary([], {})]);
}
