/** The one process runner: spawning, process groups, the stop sequence, deadlines and output. */
export * from "./group.mjs";
export * from "./run.mjs";
export * from "./shell.mjs";
