/**
 * The drone as a DA library (`LIB_DRONE`, import it into your own app) and as an
 * application (`createDroneApplication`), with or without Home Assistant.
 */
import { LIB_HASS } from "@digital-alchemy/hass";
import { LIB_SYNAPSE } from "@digital-alchemy/synapse";

import { createDroneApplicationOf, createDroneLibrary } from "./drone-library.mjs";
import { HomeAssistantService } from "./services/home-assistant.service.mjs";

/** The drone library: import it into a DA app; Home Assistant is used when LIB_HASS and LIB_SYNAPSE are loaded too. */
export const LIB_DRONE = createDroneLibrary([LIB_HASS, LIB_SYNAPSE], { home_assistant: HomeAssistantService });

/** The drone application; with `homeAssistant` it also loads hass and synapse. */
export function createDroneApplication(options: { homeAssistant: boolean }) {
  return createDroneApplicationOf(options.homeAssistant ? [LIB_HASS, LIB_SYNAPSE, LIB_DRONE] : [LIB_DRONE]);
}

/** The drone application with Home Assistant (the daemon picks the variant from the configuration). */
export const DRONE = createDroneApplication({ homeAssistant: true });

declare module "@digital-alchemy/core" {
  export interface LoadedModules {
    drone: typeof LIB_DRONE;
    backup_drone: ReturnType<typeof createDroneApplication>;
  }
}
