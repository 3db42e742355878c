/** A drone configured against a real temp repository, for tests. */
import { join } from "node:path";

import { TestRunner, type TServiceParams } from "@digital-alchemy/core";

import { LIB_DRONE } from "../../apps/drone/drone.module.mjs";
import { makeTestRepository, TEST_PASSPHRASE, type TestRepository } from "./borg.mjs";
import { writeRandomFiles } from "./fs.mjs";

/** Configuration values of the `drone` module for a test repository. */
export function droneTestConfig(repo: TestRepository, extra: Record<string, unknown> = {}) {
  return {
    DRONE_ID: "testdrone",
    REPOSITORY: repo.repository.location,
    PASSPHRASE: TEST_PASSPHRASE,
    SOURCES: [join(repo.root, "source")],
    STATE_DIR: join(repo.root, "state"),
    BORG_BASE_DIR: repo.repository.baseDir,
    LOCK_WAIT_SECONDS: 2,
    PROGRESS_INTERVAL_MS: 0,
    ...extra,
  };
}

/** A repository with some data to back up. */
export async function makeDroneRepository(files = 8, bytes = 256 * 1024): Promise<TestRepository> {
  const repo = await makeTestRepository();
  await writeRandomFiles(join(repo.root, "source"), files, bytes);
  return repo;
}

/** Boot LIB_DRONE alone (no Home Assistant) with TestRunner; returns the params and a teardown. */
export async function bootDrone(config: Record<string, unknown>) {
  let params!: TServiceParams;
  const runner = TestRunner({ target: LIB_DRONE })
    .setOptions({ configSources: { argv: false, env: false, file: false } })
    .configure({ boilerplate: { LOG_LEVEL: "warn" }, drone: config } as never);
  await runner.run(p => {
    params = p;
  });
  return { params, engine: params.drone.engine.engine, teardown: () => runner.teardown() };
}
