/**
 * Start-up cost of a one-shot command, where a wrapper's overhead shows most: the drone's
 * `--version` (no drone booted), `status` (booted, no borg), and `list` against raw
 * `borg list` and `borgmatic list` on the same small repository, alternating, several rounds.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { mustRun, timedRun } from "./lib/spawn.mjs";

/** One timed command. */
export interface StartupTiming {
  round: number;
  command: StartupCommand;
  ms: number;
}

export const STARTUP_COMMANDS = ["node_empty", "drone_version", "drone_status", "drone_list", "borg_list", "borgmatic_list"] as const;
export type StartupCommand = (typeof STARTUP_COMMANDS)[number];

/** What the start-up rounds need. */
export interface StartupContext {
  work: string;
  home: string;
  passphrase: string;
  passphraseFile: string;
  bin: string;
  borgmatic: boolean;
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
}

/** Time each command `rounds` times, alternating. */
export async function measureStartup(context: StartupContext, rounds: number): Promise<StartupTiming[]> {
  const root = join(context.work, "startup");
  const source = join(root, "source");
  const repository = join(root, "repo");
  const baseDir = join(root, "borg-base");
  await mkdir(source, { recursive: true });
  for (let index = 0; index < 10; index++) await writeFile(join(source, `file${index}.txt`), `file ${index}\n`.repeat(100));
  const borgEnv = { ...context.env, BORG_PASSPHRASE: context.passphrase, BORG_BASE_DIR: baseDir };
  await mustRun("borg", ["init", "--encryption", "repokey-blake2", repository], { env: borgEnv, cwd: root });
  await mustRun("borg", ["create", `${repository}::bench@first`, source], { env: borgEnv, cwd: root });

  const droneConfig = join(root, "backup_drone.json");
  await writeFile(
    droneConfig,
    JSON.stringify({ drone: { DRONE_ID: "bench", REPOSITORY: repository, PASSPHRASE_FILE: context.passphraseFile, SOURCES: [source], STATE_DIR: join(root, "state"), BORG_BASE_DIR: baseDir } }),
    { mode: 0o600 },
  );
  const borgmaticConfig = join(root, "borgmatic.yaml");
  await writeFile(
    borgmaticConfig,
    [
      "location:",
      `    source_directories: [${JSON.stringify(source)}]`,
      `    repositories: [${JSON.stringify(repository)}]`,
      "storage:",
      `    encryption_passphrase: ${JSON.stringify(context.passphrase)}`,
      `    borg_base_directory: ${JSON.stringify(baseDir)}`,
      "",
    ].join("\n"),
    { mode: 0o600 },
  );

  const commands: Record<StartupCommand, { file: string; args: string[]; env: NodeJS.ProcessEnv } | undefined> = {
    node_empty: { file: process.execPath, args: ["-e", "0"], env: context.env },
    drone_version: { file: process.execPath, args: [context.bin, "--version"], env: context.env },
    drone_status: { file: process.execPath, args: [context.bin, "status", "--config", droneConfig], env: context.env },
    drone_list: { file: process.execPath, args: [context.bin, "list", "--config", droneConfig], env: context.env },
    // as a person runs it: the passphrase in the environment
    borg_list: { file: "borg", args: ["list", repository], env: borgEnv },
    borgmatic_list: context.borgmatic ? { file: "borgmatic", args: ["list", "--config", borgmaticConfig], env: context.env } : undefined,
  };

  const timings: StartupTiming[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const command of STARTUP_COMMANDS) {
      const spec = commands[command];
      if (!spec) continue;
      const run = await timedRun(spec.file, spec.args, { env: spec.env, cwd: root });
      if (run.code !== 0) throw new Error(`${command} exited ${run.code ?? run.signal}: ${run.stderr.slice(-1000)}`);
      timings.push({ round, command, ms: run.ms });
    }
    context.log(`  start-up round ${round}/${rounds}: ${timings.filter(timing => timing.round === round).map(timing => `${timing.command} ${(timing.ms / 1000).toFixed(2)} s`).join(", ")}`);
  }
  return timings;
}
