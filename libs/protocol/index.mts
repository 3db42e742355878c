/** Schemas of the Home Assistant events and entity keys shared by the drone and the coordinator. */
export * from "./entities.mjs";
export * from "./events.mjs";
