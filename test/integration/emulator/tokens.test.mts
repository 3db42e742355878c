/**
 * The real `backup-drone daemon` against the loopback Home Assistant with a token of a user
 * who is not an administrator: what real HA 2025.4 showed (test/ha/tokens.test.mts) — the
 * drone says so in one line, fires nothing, and still backs up; HA's log holds only the
 * refused subscriptions of the hass library, each followed by "Error handling message:
 * Unauthorized".
 */
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { EVENT_TYPES } from "../../../libs/protocol/index.mjs";
import { type DroneProcess, spawnDrone } from "../../emulator/drone-process.mjs";
import { type HaEmulator, startEmulator } from "../../emulator/index.mjs";
import { TEST_PASSPHRASE, type TestRepository } from "../../helpers/borg.mjs";
import { makeDroneRepository } from "../../helpers/drone.mjs";

const TOKEN = "emulator-owner-token-5b1c";
const USER_TOKEN = "emulator-member-token-c94e";
const NOT_ADMIN = /token belongs to "Member", who is not an administrator/;

let ha: HaEmulator;
let repo: TestRepository;
let drone: DroneProcess | undefined;
const haLog: string[] = [];

beforeAll(async () => {
  ha = await startEmulator({ token: TOKEN, userToken: USER_TOKEN, log: line => void haLog.push(line) });
  repo = await makeDroneRepository(4, 64 * 1024);
}, 60_000);

afterAll(async () => {
  await drone?.stop();
  await ha?.stop();
  await repo?.remove();
});

describe("a drone with a token of a user who is not an administrator", () => {
  it("says once, in one line, what happened and what to do, fires nothing, and still backs up; HA logs only the refused subscriptions", async () => {
    drone = await spawnDrone({
      url: ha.url,
      token: USER_TOKEN,
      passphrase: TEST_PASSPHRASE,
      dir: repo.root,
      drone: {
        DRONE_ID: "member",
        MODE: "standalone",
        REPOSITORY: repo.repository.location,
        SOURCES: [join(repo.root, "source")],
        STATE_DIR: join(repo.root, "state"),
        BORG_BASE_DIR: repo.repository.baseDir,
        LOCK_WAIT_SECONDS: 5,
        STATUS_INTERVAL_SECONDS: 5,
      },
      hass: { RETRY_INTERVAL: 1 },
    });
    await drone.waitForOutput(NOT_ADMIN, 60_000);
    await drone.waitForOutput(/scheduled ended: success/, 120_000);
    expect((await repo.client.list()).value.archives.map(archive => archive.name)).toEqual([expect.stringMatching(/^member@/)]);

    const lines = drone.output().split("\n").filter(line => NOT_ADMIN.test(line));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("Home Assistant refuses the drone's events (fire_event needs an administrator)");
    expect(drone.output()).not.toMatch(/not confirmed by Home Assistant/);
    expect(drone.output()).not.toContain(USER_TOKEN);
    const fromDrone = ha.events().filter(event => Object.values<string>(EVENT_TYPES).includes(event.event_type));
    expect(fromDrone).toEqual([]);

    // as on real HA: each refused subscription is one "Refusing…" line and one "Unauthorized" line, and nothing else is an error
    const refused = haLog.filter(line => line.includes("ERROR Refusing to allow Member to subscribe to event"));
    const unauthorized = haLog.filter(line => line.includes("ERROR Error handling message: Unauthorized (unauthorized) Member"));
    expect(refused.length).toBeGreaterThan(0);
    expect(unauthorized.length).toBe(refused.length);
    expect(haLog.filter(line => line.includes("ERROR") && !refused.includes(line) && !unauthorized.includes(line))).toEqual([]);
  }, 200_000);
});
