/** Typed client for borg 1.2 and 1.4: command builders, the process runner, parsers, errors. */
export * from "./client.mjs";
export * from "./command.mjs";
export * from "./commands.mjs";
export * from "./error-kinds.mjs";
export * from "./errors.mjs";
export * from "./failure.mjs";
export * from "./location.mjs";
export * from "./log-lines.mjs";
export * from "./maintenance.mjs";
export { borgEnvironment, passcommandEnv } from "./passphrase.mjs";
export * from "./runner.mjs";
export * from "./schemas.mjs";
export * from "./secret.mjs";
export * from "./ssh.mjs";
export * from "./version.mjs";
