/**
 * A drone on its own schedule whose backups fail (here: its repository is gone) tries again
 * after 5 minutes, 10, then a whole frequency, instead of every minute; a backup that
 * succeeds clears the count. Real borg, the engine as the daemon uses it.
 */
import { rename } from "node:fs/promises";

import { afterEach, describe, expect, it } from "vitest";

import { type TestRepository } from "../../helpers/borg.mjs";
import { bootDrone, droneTestConfig, makeDroneRepository } from "../../helpers/drone.mjs";

const MINUTE = 60_000;

describe("the drone's own schedule after failed backups", () => {
  let repo: TestRepository | undefined;
  let teardown: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await teardown?.();
    await repo?.remove();
    repo = undefined;
  });

  it("waits 5 minutes, then 10, then a frequency; a backup that succeeds starts the count again", async () => {
    repo = await makeDroneRepository(2, 1024);
    const drone = await bootDrone(droneTestConfig(repo, { MODE: "standalone", FREQUENCY_MINUTES: 1440 }));
    teardown = drone.teardown;
    const { engine } = drone;
    // never backed up: due at once
    expect(engine.due()).toEqual(["scheduled"]);

    const location = repo.repository.location;
    await rename(location, `${location}.away`);
    const first = await engine.run("scheduled", "schedule");
    expect(first.outcome).toBe("failed");
    const failed = engine.persisted().failedBackups.primary;
    expect(failed).toMatchObject({ attempts: 1 });
    const at = Date.parse(failed!.at);
    expect(engine.due(new Date(at + MINUTE))).toEqual([]);
    expect(engine.due(new Date(at + 5 * MINUTE))).toEqual(["scheduled"]);

    await engine.run("scheduled", "schedule");
    const second = engine.persisted().failedBackups.primary!;
    expect(second.attempts).toBe(2);
    expect(engine.due(new Date(Date.parse(second.at) + 9 * MINUTE))).toEqual([]);
    expect(engine.due(new Date(Date.parse(second.at) + 10 * MINUTE))).toEqual(["scheduled"]);

    await engine.run("scheduled", "schedule");
    const third = engine.persisted().failedBackups.primary!;
    expect(third.attempts).toBe(3);
    expect(engine.due(new Date(Date.parse(third.at) + 1439 * MINUTE))).toEqual([]);
    expect(engine.due(new Date(Date.parse(third.at) + 1440 * MINUTE))).toEqual(["scheduled"]);

    // a press still runs at once; it succeeds and clears the count
    await rename(`${location}.away`, location);
    const pressed = await engine.run("create", "button");
    expect(pressed.outcome).toBe("success");
    expect(engine.persisted().failedBackups.primary).toBeNull();
  });
});
