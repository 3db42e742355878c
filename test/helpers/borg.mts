/** A real borg repository in a temp folder, for integration tests. */
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";

import { type BorgClient, BorgError, type BorgRepository, createBorgClient, Secret } from "../../libs/borg/index.mjs";
import { tempDir } from "./fs.mjs";

/** A canary: if it ever appears in argv, a log or an event, a test fails. */
export const TEST_PASSPHRASE = "canary-Pass-7f3c9e1d";

/** A temp folder with an initialised repokey repository and its own borg cache. */
export interface TestRepository {
  root: string;
  repository: BorgRepository;
  client: BorgClient;
  remove: () => Promise<void>;
}

/** Create (and `borg init`) a repokey repository in a fresh temp folder. */
export async function makeTestRepository(options: { init?: boolean; transport?: "fd" | "env" } = {}): Promise<TestRepository> {
  const { path: root, remove } = await tempDir("repo");
  const repository: BorgRepository = {
    location: join(root, "repo"),
    passphrase: { kind: "passphrase", value: new Secret(TEST_PASSPHRASE) },
    passphraseTransport: options.transport ?? "fd",
    baseDir: join(root, "borg-base"),
    lockWaitSeconds: 1,
  };
  const client = createBorgClient(repository);
  if (options.init ?? true) await client.init({ encryption: "repokey" });
  return { root, repository, client, remove };
}

/** The BorgError a borg call failed with (any other outcome fails the test). */
export async function rejection(promise: Promise<unknown>): Promise<BorgError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof BorgError) return error;
    throw error;
  }
  throw new Error("expected the borg call to fail");
}

/**
 * Another borg holds the repository's lock (`borg with-lock`) until `release`: a borg started
 * meanwhile waits, so that what it runs with can be read from /proc.
 */
export async function holdRepositoryLock(repo: TestRepository): Promise<{ release: () => Promise<void> }> {
  const flag = join(repo.root, `release-${Date.now()}`);
  const holder = spawn("borg", ["with-lock", repo.repository.location, "sh", "-c", `echo locked; while [ ! -e ${flag} ]; do sleep 0.1; done`], {
    env: { ...process.env, BORG_BASE_DIR: repo.repository.baseDir ?? "" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>(resolve => holder.stdout.once("data", () => resolve()));
  const exited = new Promise(resolve => holder.once("exit", resolve));
  return {
    release: async () => {
      await writeFile(flag, "");
      await exited;
    },
  };
}
