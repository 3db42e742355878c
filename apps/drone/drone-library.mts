/**
 * The drone library and application as built from their parts, without importing Home
 * Assistant's client libraries: hass and synapse (and the database drivers synapse pulls in)
 * take longer to import than a one-shot command takes to run, so the command line builds
 * the drone from here and imports them only when a token is configured.
 * `drone.module.mts` builds the public `LIB_DRONE` and `DRONE` from the same parts.
 */
import { CreateApplication, CreateLibrary, type TLibrary } from "@digital-alchemy/core";

import { droneKeys } from "./config.mjs";
import { EngineService } from "./services/engine.service.mjs";
import { HomeAssistantService } from "./services/home-assistant.service.mjs";
import { StandaloneService } from "./services/standalone.service.mjs";

/**
 * The drone library. `optionalDepends` only orders wiring: a library listed there that the
 * host loads is wired before the drone, so that the Home Assistant bridge finds it.
 */
export function createDroneLibrary(optionalDepends: TLibrary[]) {
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
      home_assistant: HomeAssistantService,
    },
  });
}

/** The drone application around the given libraries (the drone library last). */
export function createDroneApplicationOf(libraries: TLibrary[]) {
  return CreateApplication({ name: "backup_drone", libraries, services: {} });
}

/** The drone application without Home Assistant, for the command line: hass and synapse are not imported. */
export function createLocalDroneApplication() {
  return createDroneApplicationOf([createDroneLibrary([])]);
}
