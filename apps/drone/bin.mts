#!/usr/bin/env node
/**
 * The built `backup-drone` (scripts/bundle.mts makes dist/bin/backup-drone.mjs from it): runs
 * the command line (apps/drone/cli/program.mts) from its CommonJS bundle,
 * dist/bin/backup-drone-program.cjs, with a V8 code cache (libs/process/code-cache.mts),
 * and the daemon from its ES modules. Digital Alchemy's dotenvx is left out of the bundles
 * (a stand-in), so nothing needs deferring here.
 */
import { fileURLToPath } from "node:url";

import { runCachedScript } from "../../libs/process/code-cache.mjs";
import type { RunDaemon } from "./cli/program.mjs";

/** The program bundle's content hash, set by scripts/bundle.mts. */
declare const DRONE_PROGRAM_BUILD: string;

const program = runCachedScript(fileURLToPath(new URL("./backup-drone-program.cjs", import.meta.url)), DRONE_PROGRAM_BUILD);
const { runProgram } = program.exports as { runProgram: (argv: readonly string[], runDaemon: RunDaemon) => Promise<void> };
await runProgram(process.argv.slice(2), async (options, switches) => {
  const { runDaemon } = await import("./cli/daemon.mjs");
  // before the daemon runs for good: what the command line compiled so far
  program.saveCache();
  await runDaemon(options, switches);
});
program.saveCache();
