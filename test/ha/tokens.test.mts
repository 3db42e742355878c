/**
 * A token of a user who is not an administrator, against a real Home Assistant: HA refuses
 * `fire_event` (`@require_admin`) and every event subscription outside its allow-list. The
 * drone says so once, in one line, fires nothing (each refusal would be an ERROR line in
 * HA's log), and goes on backing up; the coordinator says so too.
 */
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { EVENT_TYPES } from "../../libs/protocol/index.mjs";
import { type DroneProcess } from "../emulator/drone-process.mjs";
import { type TestRepository } from "../helpers/borg.mjs";
import { makeDroneRepository } from "../helpers/drone.mjs";
import { type Running } from "../helpers/process.mjs";
import { startCoordinator, startDrone } from "../homeassistant/apps.mjs";
import { type HomeAssistant, startHomeAssistant } from "../homeassistant/instance.mjs";
import { formatEntry } from "../homeassistant/log.mjs";

let ha: HomeAssistant;
let repo: TestRepository;
let drone: DroneProcess | undefined;
let coordinator: Running | undefined;

beforeAll(async () => {
  ha = await startHomeAssistant({ synapseDir: false });
  repo = await makeDroneRepository(4, 64 * 1024);
}, 900_000);

afterAll(async () => {
  await drone?.stop();
  coordinator?.kill();
  await coordinator?.done;
  await ha?.remove();
  await repo?.remove();
});

const NOT_ADMIN = /token belongs to "Member", who is not an administrator/;

describe("a token of a user who is not an administrator", () => {
  it("the drone says once, in one line, what happened and what to do, fires nothing, and still backs up", async () => {
    drone = await startDrone({ ha, repo, droneId: "member", token: ha.userToken, drone: { MODE: "standalone" } });
    await drone.waitForOutput(NOT_ADMIN, 60_000);
    await drone.waitForOutput(/scheduled ended: success/, 120_000);
    expect((await repo.client.list()).value.archives.map(archive => archive.name)).toEqual([expect.stringMatching(/^member@/)]);

    const lines = drone.output().split("\n").filter(line => NOT_ADMIN.test(line));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("Home Assistant refuses the drone's events (fire_event needs an administrator)");
    expect(lines[0]).toContain("logged in as an administrator");
    expect(lines[0]).toContain("Long-lived access tokens");
    // no event was even tried: no timeouts waiting for replies HA never sends
    expect(drone.output()).not.toMatch(/not confirmed by Home Assistant/);
    expect(drone.output()).not.toContain(ha.userToken);
    const fromDrone = ha.events().filter(event => Object.values<string>(EVENT_TYPES).includes(event.event_type));
    expect(fromDrone).toEqual([]);
  });

  it("the coordinator says so in one line too", async () => {
    coordinator = await startCoordinator(ha, join(repo.root, "coordinator"), {}, ha.userToken);
    await coordinator.waitFor(/token belongs to "Member", who is not an administrator: Home Assistant refuses the coordinator's events/, 60_000);
    const { stdout, stderr } = coordinator.output();
    expect(`${stdout}${stderr}`.split("\n").filter(line => line.includes("who is not an administrator"))).toHaveLength(1);
    expect(`${stdout}${stderr}`).not.toContain(ha.userToken);
  });

  it("HA's log shows the refused subscriptions of the hass library, and no refused fire_event", async () => {
    const errors = await ha.errors();
    // HA logs "Refusing to allow Member to subscribe to event X" and then, for the same
    // message, "Error handling message: Unauthorized"; a refused fire_event logs only the latter
    const refusedSubscriptions = errors.filter(entry => entry.text.startsWith("Refusing to allow Member to subscribe to event"));
    const unauthorized = errors.filter(entry => /Error handling message: Unauthorized \(unauthorized\) Member/.test(entry.text));
    expect(refusedSubscriptions.length).toBeGreaterThan(0);
    expect(unauthorized.length).toBe(refusedSubscriptions.length);
    const others = errors.filter(entry => !refusedSubscriptions.includes(entry) && !unauthorized.includes(entry));
    expect(others.map(formatEntry)).toEqual([]);
  });
});
