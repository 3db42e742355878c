#!/usr/bin/env node
/**
 * `backup-drone` from its modules (tsx, or tsc's output): the daemon (no command, or `daemon`)
 * and the one-shot commands (./cli/program.mts). The built bin is apps/drone/bin.mts.
 */
import nodeModule from "node:module";

import { deferDotenvx } from "../../libs/config/defer-dotenvx.mjs";
import { runProgram } from "./cli/program.mjs";

// Node 22+ keeps compiled code between runs (a no-op on Node 20); the drone loads after this line
(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();
// the drone reads its env file itself (libs/config/sources.mts): Digital Alchemy's dotenvx, which would
// let ./.env override the exported environment, is never loaded (libs/config/defer-dotenvx.mts)
deferDotenvx();

await runProgram(process.argv.slice(2), async (options, switches) => {
  const { runDaemon } = await import("./cli/daemon.mjs");
  await runDaemon(options, switches);
});
