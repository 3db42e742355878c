/**
 * A drone's machine in the test home (test/helpers/home-network.mts): the real `backup-drone`
 * command run inside the drone's network namespace, configured to back up over ssh to a
 * repository on the nas with the drone's DEFAULT ssh options (only the key and known_hosts are
 * the test's), and its `--json` output read back.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";

import { expect } from "vitest";
import { z } from "zod";

import { type ResultEvent, resultEventSchema } from "../../libs/protocol/index.mjs";
import { TEST_PASSPHRASE } from "./borg.mjs";
import { writeRandomFiles } from "./fs.mjs";
import { type HomeNetwork } from "./home-network.mjs";
import { type Finished, type Running, startProcess } from "./process.mjs";
import { type SshClientKey } from "./sshd.mjs";

/** The JSON lines of a command's output (a line that is not an object is left out). */
export const jsonLines = (text: string): unknown[] =>
  text
    .split("\n")
    .filter(line => line.trim().startsWith("{"))
    .map(line => JSON.parse(line) as unknown);

/** The result event a `--json` command ended with. */
export const resultOf = (finished: Finished): ResultEvent => resultEventSchema.parse(jsonLines(finished.stdout).at(-1));

const archiveLine = z.object({ name: z.string() });

/** Where and how a drone machine backs up. */
export interface SshDroneOptions {
  /** The `backup-drone` bin (builtBin). */
  bin: string;
  /** Folder the machine's home (sources, state, borg's cache, config) is made in. */
  workDir: string;
  /** The nas folder its repository (`<root>/repo`) is in; the drone's own by default. */
  repositoryRoot?: string;
  /** The key it connects with; the drone's own by default. */
  key?: SshClientKey;
  /** `backup-drone init` the repository (default true). */
  init?: boolean;
  lockWaitSeconds: number;
  /** Size of each of the 4 source files it starts with. */
  sourceFileBytes: number;
}

/** A drone machine of the network, its config written and (unless told not to) its repository initialised. */
export async function sshDroneMachine(network: HomeNetwork, name: string, options: SshDroneOptions) {
  const drone = network.drone(name);
  const home = join(options.workDir, name);
  const source = join(home, "source");
  await writeRandomFiles(source, 4, options.sourceFileBytes);
  const repositoryRoot = options.repositoryRoot ?? drone.repositoryRoot;
  const repository = network.sshd.url(join(repositoryRoot, "repo"));
  const config = join(home, "backup_drone.json");
  await writeFile(
    config,
    JSON.stringify({
      drone: {
        DRONE_ID: name,
        REPOSITORY: repository,
        BORG_RSH: (options.key ?? drone.key).rsh,
        SOURCES: [source],
        STATE_DIR: join(home, "state"),
        BORG_BASE_DIR: join(home, "borg-base"),
        LOCK_WAIT_SECONDS: options.lockWaitSeconds,
        INACTIVITY_TIMEOUT_MINUTES: 1,
        PRESCAN: false,
        PROGRESS_INTERVAL_MS: 0,
      },
    }),
  );
  const start = (args: string[]): Running =>
    startProcess(options.bin, [...args, "--config", config], { cwd: home, env: { DRONE_PASSPHRASE: TEST_PASSPHRASE }, netns: drone.netns });
  const run = (args: string[]) => start(args).done;
  if (options.init ?? true) {
    const init = await run(["init", "--json"]);
    expect(init.code, init.stderr).toBe(0);
  }
  const names = async () => {
    const listed = await run(["list", "--json"]);
    expect(listed.code, listed.stderr).toBe(0);
    return jsonLines(listed.stdout).map(line => archiveLine.parse(line).name);
  };
  const lockDir = join(repositoryRoot, "repo", "lock.exclusive");
  return { drone, home, source, repository, lockDir, start, run, names };
}

/** A drone machine. */
export type SshDroneMachine = Awaited<ReturnType<typeof sshDroneMachine>>;
