/**
 * The drone as a DA library (`LIB_DRONE`, import it into your own app) and as an
 * application (`createDroneApplication`), with or without Home Assistant.
 */
import { CreateApplication, CreateLibrary } from "@digital-alchemy/core";
import { LIB_HASS } from "@digital-alchemy/hass";
import { LIB_SYNAPSE } from "@digital-alchemy/synapse";

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

/** The drone library: import it into a DA app; Home Assistant is used when LIB_HASS and LIB_SYNAPSE are loaded too. */
export const LIB_DRONE = CreateLibrary({
  name: "drone",
  configuration: daConfiguration(),
  // an explicit empty list: DA reads `depends` when an optional dependency is absent
  depends: [],
  optionalDepends: [LIB_HASS, LIB_SYNAPSE],
  priorityInit: ["engine"],
  services: {
    engine: EngineService,
    standalone: StandaloneService,
    home_assistant: HomeAssistantService,
  },
});

/** The drone application; with `homeAssistant` it also loads hass and synapse. */
export function createDroneApplication(options: { homeAssistant: boolean }) {
  return CreateApplication({
    name: "backup_drone",
    libraries: options.homeAssistant ? [LIB_HASS, LIB_SYNAPSE, LIB_DRONE] : [LIB_DRONE],
    services: {},
  });
}

/** The drone application with Home Assistant (the daemon picks the variant from the configuration). */
export const DRONE = createDroneApplication({ homeAssistant: true });

declare module "@digital-alchemy/core" {
  export interface LoadedModules {
    drone: typeof LIB_DRONE;
    backup_drone: ReturnType<typeof createDroneApplication>;
  }
}
