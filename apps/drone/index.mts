/** The drone as a library: `LIB_DRONE` for a DA app of your own, the engine, and its configuration. */
export * from "./config.mjs";
export * from "./core/engine.mjs";
export { type Settings, SettingsError } from "./core/settings.mjs";
export { type PersistedState } from "./core/state.mjs";
export * from "./drone.module.mjs";
