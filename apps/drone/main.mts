#!/usr/bin/env node
/**
 * `backup-drone`: the daemon (no command, or `daemon`) and the one-shot commands. Parses
 * the command line and hands over; the drone itself loads only when a command runs, so
 * that `--help` answers at once.
 */
import nodeModule from "node:module";

import { deferDotenvx } from "../../libs/config/defer-dotenvx.mjs";
import { configFileProblem } from "../../libs/config/env-file.mjs";
import { parseCommandLine } from "./cli/args.mjs";
import { commandHelp, programHelp } from "./cli/help.mjs";
import { EXIT_CODES } from "./cli/spec.mjs";

// Node 22+ keeps compiled code between runs (a no-op on Node 20); the drone loads after this line
(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();
// the drone reads its env file itself (libs/config/sources.mts): Digital Alchemy's dotenvx, which would
// let ./.env override the exported environment, is never loaded (libs/config/defer-dotenvx.mts)
deferDotenvx();

// `backup-drone list | head`: a closed pipe ends the command quietly
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE") throw error;
  process.exit();
});

const line = parseCommandLine(process.argv.slice(2));

if (line.kind === "help") {
  process.stdout.write(line.command ? commandHelp(line.command) : programHelp());
} else if (line.kind === "version") {
  const { packageVersion } = await import("../../libs/protocol/version.mjs");
  process.stdout.write(`backup-drone ${packageVersion()}\n`);
} else if (line.kind === "usage_error") {
  const more = line.command ? `backup-drone ${line.command} --help` : "backup-drone --help";
  process.stderr.write(`backup-drone: ${line.message}\nSee \`${more}\`.\n`);
  process.exitCode = EXIT_CODES.failed;
} else {
  const problem = configFileProblem(line.options.config) ?? configFileProblem(line.options.envFile, "--env-file");
  if (problem !== undefined) {
    process.stderr.write(`backup-drone: ${problem}\n`);
    process.exitCode = EXIT_CODES.failed;
  } else if (line.command === "config") {
    const { runConfigCommand } = await import("./cli/config-command.mjs");
    process.exitCode = runConfigCommand(line.options, line.switches);
  } else if (line.command === "daemon") {
    const { runDaemon } = await import("./cli/daemon.mjs");
    await runDaemon(line.options, line.switches);
  } else {
    const { runOneShot } = await import("./cli/one-shot.mjs");
    await runOneShot(line.command, line.options, line.switches);
  }
}
