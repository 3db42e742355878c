/**
 * What `backup-drone` does with its command line: help, the version, a usage error, or a
 * command. The daemon is handed back to the caller (`runDaemon`): the built bin runs this
 * module from a CommonJS bundle with a V8 code cache (libs/process/code-cache.mts), and the
 * daemon from its ES modules. Each command's modules load only when it runs.
 */
// first: zod reads its configuration as each schema is built
import "./zod-jitless.mjs";
import { configFileProblem } from "../../../libs/config/env-file.mjs";
import { deferRelativeTimeFormat } from "../../../libs/process/deferred-intl.mjs";
import { type CommandOptions, parseCommandLine } from "./args.mjs";
import { commandHelp, programHelp } from "./help.mjs";
import { EXIT_CODES } from "./spec.mjs";
import { type ConfigSwitch } from "../../../libs/config/sources.mjs";

/** Starts the daemon (no command, or `daemon`). */
export type RunDaemon = (options: CommandOptions, switches: readonly ConfigSwitch[]) => Promise<void>;

/** Run `backup-drone` with `argv` (without node and the script); sets process.exitCode. */
export async function runProgram(argv: readonly string[], runDaemon: RunDaemon): Promise<void> {
  // `backup-drone list | head`: a closed pipe ends the command quietly
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
    process.exit();
  });
  const line = parseCommandLine(argv);
  if (line.kind === "help") {
    process.stdout.write(line.command ? commandHelp(line.command) : programHelp());
  } else if (line.kind === "version") {
    const { packageVersion } = await import("../../../libs/protocol/version.mjs");
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
      const { runConfigCommand } = await import("./config-command.mjs");
      process.exitCode = runConfigCommand(line.options, line.switches);
    } else if (line.command === "daemon") {
      await runDaemon(line.options, line.switches);
    } else {
      // DA core's modules load here: its one formatter is built when first used (while borg runs)
      const { runOneShot } = await deferRelativeTimeFormat(() => import("./one-shot.mjs"));
      await runOneShot(line.command, line.options, line.switches);
    }
  }
}
