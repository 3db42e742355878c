/**
 * The drone library and application as built from their parts, without importing Home
 * Assistant's client libraries: hass and synapse (and the database drivers synapse pulls in)
 * take longer to import than a one-shot command takes to run, so the command line builds
 * the drone from here and imports them only when a token is configured.
 * `drone.module.mts` builds the public `LIB_DRONE` and `DRONE` from the same parts.
 */
import { CreateApplication, CreateLibrary, type TLibrary } from "@digital-alchemy/core";

import { DRONE_CONFIGURATION } from "./config.mjs";
import { EngineService } from "./services/engine.service.mjs";
import { HomeAssistantService } from "./services/home-assistant.service.mjs";
import { StandaloneService } from "./services/standalone.service.mjs";

type DaEntry =
  | { type: "string"; default?: string; description: string; enum?: string[] }
  | { type: "number"; default: number; description: string }
  | { type: "boolean"; default: boolean; description: string }
  | { type: "string[]"; default: string[]; description: string };

/** The DA declaration of every drone key (from the one table in config.mts). */
function daConfiguration() {
  const entries = Object.entries(DRONE_CONFIGURATION).map(([key, entry]) => {
    const { type, description } = entry;
    const declared: DaEntry =
      type === "string"
        ? { type, default: entry.default, description, ...("enum" in entry ? { enum: [...entry.enum] } : {}) }
        : type === "string[]"
          ? { type, default: [...entry.default], description }
          : ({ type, default: entry.default, description } as DaEntry);
    return [key, declared] as const;
  });
  return Object.fromEntries(entries) as {
    [K in keyof typeof DRONE_CONFIGURATION]: (typeof DRONE_CONFIGURATION)[K]["type"] extends "number"
      ? { type: "number"; default: number; description: string }
      : (typeof DRONE_CONFIGURATION)[K]["type"] extends "boolean"
        ? { type: "boolean"; default: boolean; description: string }
        : (typeof DRONE_CONFIGURATION)[K]["type"] extends "string[]"
          ? { type: "string[]"; default: string[]; description: string }
          : { type: "string"; default: string; description: string };
  };
}

/**
 * The drone library. `optionalDepends` only orders wiring: a library listed there that the
 * host loads is wired before the drone, so that the Home Assistant bridge finds it.
 */
export function createDroneLibrary(optionalDepends: TLibrary[]) {
  return CreateLibrary({
    name: "drone",
    configuration: daConfiguration(),
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
