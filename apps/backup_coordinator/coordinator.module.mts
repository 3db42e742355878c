/**
 * The backup coordinator as a DA library (`LIB_BACKUP_COORDINATOR`: import it into your own
 * app beside LIB_HASS and LIB_SYNAPSE) and as an application (`createCoordinatorApplication`,
 * what the `backup-coordinator` command runs).
 */
import { CreateApplication, CreateLibrary } from "@digital-alchemy/core";
import { LIB_HASS } from "@digital-alchemy/hass";
import { LIB_SYNAPSE } from "@digital-alchemy/synapse";

import { COORDINATOR_APP_NAME, coordinatorDeclarations } from "./config.mjs";
import { EntitiesService } from "./services/entities.service.mjs";
import { FleetService } from "./services/fleet.service.mjs";
import { DispatchService } from "./services/dispatch.service.mjs";

/** The coordinator library: discovers drones through Home Assistant and decides when each runs. */
export const LIB_BACKUP_COORDINATOR = CreateLibrary({
  name: "backup_coordinator",
  configuration: coordinatorDeclarations(),
  depends: [LIB_HASS, LIB_SYNAPSE],
  // dispatch and the entities use the fleet (and the entities dispatch) while they are built
  priorityInit: ["fleet", "dispatch"],
  services: {
    fleet: FleetService,
    dispatch: DispatchService,
    entities: EntitiesService,
  },
});

/** The coordinator application (hass, synapse and the coordinator library). */
export function createCoordinatorApplication() {
  return CreateApplication({
    name: COORDINATOR_APP_NAME,
    libraries: [LIB_HASS, LIB_SYNAPSE, LIB_BACKUP_COORDINATOR],
    services: {},
  });
}

declare module "@digital-alchemy/core" {
  export interface LoadedModules {
    backup_coordinator: typeof LIB_BACKUP_COORDINATOR;
    backup_coordinator_app: ReturnType<typeof createCoordinatorApplication>;
  }
}
