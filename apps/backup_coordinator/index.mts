/**
 * The coordinator as a library: `LIB_BACKUP_COORDINATOR` for a DA app of your own (beside
 * LIB_HASS and LIB_SYNAPSE), its configuration, its events, and the pure fleet model.
 */
export * from "./config.mjs";
export * from "./coordinator.module.mjs";
export * from "./core/fleet.mjs";
export * from "./core/plan.mjs";
export * from "./events.mjs";
export {
  COORDINATOR_ENTITIES,
  type CoordinatorEntityKey,
  coordinatorObjectId,
  coordinatorUniqueId,
  problemObjectId,
  problemUniqueId,
} from "./ha/entities.mjs";
