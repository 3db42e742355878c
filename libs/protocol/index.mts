/** Schemas of the Home Assistant events and entity keys, and the scheduling rules, shared by the drone and the coordinator. */
export * from "./commands.mjs";
export * from "./coordinator-events.mjs";
export * from "./entities.mjs";
export * from "./error-kinds.mjs";
export * from "./events.mjs";
export * from "./limits.mjs";
export * from "./schedule.mjs";
