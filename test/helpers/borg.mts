/** A real borg repository in a temp folder, for integration tests. */
import { join } from "node:path";

import { type BorgClient, type BorgRepository, createBorgClient, Secret } from "../../libs/borg/index.mjs";
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
