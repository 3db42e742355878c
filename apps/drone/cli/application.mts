/**
 * The drone application of the daemon, with or without Home Assistant. Apart from boot.mts,
 * which the one-shot commands share: their bundle (apps/drone/cli/program.mts) must not take
 * in hass and synapse through this dynamic import.
 */
import { createLocalDroneApplication } from "../drone-library.mjs";

/**
 * The drone application for the command line. hass and synapse (with the database drivers
 * synapse pulls in) are imported only with Home Assistant: importing them costs more than
 * a one-shot command takes, and without a token nothing would use them.
 */
export async function loadDroneApplication(homeAssistant: boolean) {
  if (!homeAssistant) return createLocalDroneApplication();
  const { createDroneApplication } = await import("../drone.module.mjs");
  return createDroneApplication({ homeAssistant: true });
}
