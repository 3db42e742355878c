/**
 * A drone whose synapse database was written by a version that still sent entity categories:
 * synapse sends what it stored, and the integration would make Home Assistant log an error for
 * each such entity at every registration. The drone says so at start, and the documented fix
 * (one start with REBUILD_ON_ENTITY_CHANGE=true) drops the stored category.
 */
import { join } from "node:path";

import { afterEach, expect, it } from "vitest";

import { type TSynapseId } from "@digital-alchemy/synapse";

import { entityUniqueId } from "../../../libs/protocol/index.mjs";
import { type TestRepository } from "../../helpers/borg.mjs";
import { droneTestConfig, makeDroneRepository } from "../../helpers/drone.mjs";
import { bootHassDrone, type HassDrone, teardownCheckingSecrets } from "../../helpers/hass.mjs";
import { waitFor } from "../../helpers/wait.mjs";

let repo: TestRepository | undefined;
const running: HassDrone[] = [];

afterEach(async () => {
  for (const drone of running.splice(0)) await teardownCheckingSecrets(drone);
  await repo?.remove();
  repo = undefined;
});

const warning = (drone: HassDrone) => drone.logs.filter(line => line.includes("hold entity_category") && line.includes("REBUILD_ON_ENTITY_CHANGE=true"));

it("a stored entity_category is reported at start, and one start with REBUILD_ON_ENTITY_CHANGE=true drops it", async () => {
  repo = await makeDroneRepository(1, 1024);
  const databaseUrl = `file:${join(repo.root, "synapse.db")}`;
  const config = droneTestConfig(repo);
  // synapse brands its ids; ours are plain strings
  const uniqueId = entityUniqueId("testdrone", "keep_daily") as TSynapseId;

  const first = await bootHassDrone(config, { databaseUrl });
  await waitFor(() => first.registration(), "the first registration");
  expect(first.registered("keep_daily")).not.toHaveProperty("entity_category");
  expect(warning(first)).toEqual([]);
  // what an older version stored for this entity: its values and its defaults held the category
  const stored = { ...first.params.synapse.storage.find(uniqueId)?.export(), entity_category: "config" };
  await first.params.synapse.database.update(uniqueId, stored, stored);
  await teardownCheckingSecrets(first);

  const second = await bootHassDrone(config, { databaseUrl });
  running.push(second);
  await waitFor(() => second.registration(), "the second registration");
  expect(second.registered("keep_daily")).toMatchObject({ entity_category: "config" });
  expect(warning(second)).toHaveLength(1);
  expect(warning(second)[0]).toContain("keep_daily");
  await teardownCheckingSecrets(running.splice(0)[0]!);

  const third = await bootHassDrone(config, { databaseUrl, synapseConfig: { REBUILD_ON_ENTITY_CHANGE: true } });
  running.push(third);
  await waitFor(() => third.registration(), "the registration after the rebuild");
  expect(third.registered("keep_daily")).not.toHaveProperty("entity_category");
  expect(third.registered("keep_daily")).toMatchObject({ native_value: 7 });
  expect(warning(third)).toEqual([]);
});
