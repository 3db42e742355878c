/**
 * A real `backup-drone daemon` on a real borg repository against a real Home Assistant that
 * has no synapse integration: the drone backs up on its own schedule and its progress,
 * result and status events reach HA's bus (as an automation subscribes to them) and HA's
 * recorder; HA restarting under a run loses nothing. The tests run in order on one HA.
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { EVENT_TYPES } from "../../libs/protocol/index.mjs";
import { type DroneProcess } from "../emulator/drone-process.mjs";
import { TEST_PASSPHRASE, type TestRepository } from "../helpers/borg.mjs";
import { makeDroneRepository } from "../helpers/drone.mjs";
import { droneEvents, heldRun, startDrone } from "../homeassistant/apps.mjs";
import { type HaEvent } from "../homeassistant/client.mjs";
import { type HomeAssistant, startHomeAssistant } from "../homeassistant/instance.mjs";
import { formatEntry } from "../homeassistant/log.mjs";

/** HA's recorder keeps no event whose JSON is larger (recorder/db_schema.py MAX_EVENT_DATA_BYTES). */
const MAX_EVENT_DATA_BYTES = 32_768;

let ha: HomeAssistant;
const repos: TestRepository[] = [];
const drones: DroneProcess[] = [];
/** What a client subscribed to each drone event type (as an automation does) received. */
const subscribed: HaEvent[] = [];
let ownerId: string;

beforeAll(async () => {
  ha = await startHomeAssistant({ synapseDir: false });
  const socket = await ha.socket();
  ownerId = (await socket.command<{ id: string }>({ type: "auth/current_user" })).id;
  // one subscription per type, as an automation's event trigger makes it; this socket dies with
  // the restart below, so what it saw is only the first boot's
  for (const type of Object.values(EVENT_TYPES)) await socket.subscribe(type, event => void subscribed.push(event));
}, 900_000);

afterAll(async () => {
  await Promise.all(drones.map(drone => drone.stop()));
  await ha?.remove();
  await Promise.all(repos.map(repo => repo.remove()));
});

async function newDrone(droneId: string, drone: Record<string, unknown> = {}) {
  const repo = await makeDroneRepository(8, 256 * 1024);
  repos.push(repo);
  // standalone and never backed up: the daemon starts a scheduled backup right away
  const process = await startDrone({ ha, repo, droneId, drone: { MODE: "standalone", ...drone } });
  drones.push(process);
  return { repo, process };
}

describe("a drone against Home Assistant without the synapse integration", () => {
  let first: { repo: TestRepository; process: DroneProcess };

  it("backs up, and its progress, result and status events reach HA's bus, fired by the token's user", async () => {
    first = await newDrone("solo");
    const result = await ha.waitFor(
      () => droneEvents(ha, EVENT_TYPES.result, "solo").find(({ data }) => data.operation === "scheduled"),
      120_000,
      "the scheduled run's result event",
    );
    expect(result.data).toMatchObject({ drone_id: "solo", outcome: "success", trigger: "schedule", repository: "primary" });
    const archive = result.data.archive?.name;
    expect(archive).toMatch(/^solo@/);
    expect((await first.repo.client.list()).value.archives.map(item => item.name)).toContain(archive);

    const progress = droneEvents(ha, EVENT_TYPES.progress, "solo").filter(({ data }) => data.run_id === result.data.run_id);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.some(({ data }) => data.operation === "create" || data.state === "creating")).toBe(true);
    const statuses = droneEvents(ha, EVENT_TYPES.status, "solo");
    expect(statuses.some(({ data }) => data.state !== "idle")).toBe(true);
    await ha.waitFor(() => (droneEvents(ha, EVENT_TYPES.status, "solo").at(-1)?.data.state === "idle" ? true : undefined), 30_000, "an idle status");

    // fired over the drone's own connection, in the name of the token's user; HA marks websocket
    // fire_event LOCAL (only its REST API marks events REMOTE)
    for (const { userId, event } of [result, ...progress, ...statuses]) {
      expect(userId).toBe(ownerId);
      expect(event.origin).toBe("LOCAL");
    }
    // an automation's subscription to each type saw the same events as the all-events observer
    const seenBySubscriber = new Set(subscribed.map(event => JSON.stringify(event.data)));
    for (const { data } of [result, ...progress]) expect(seenBySubscriber.has(JSON.stringify(data))).toBe(true);
  });

  it("HA's recorder stores every one of them whole, each well under its 32 KiB limit", async () => {
    const onBus = ha.events().filter(event => Object.values<string>(EVENT_TYPES).includes(event.event_type));
    const recorded = await ha.waitFor(
      async () => {
        const rows = (await Promise.all(Object.values(EVENT_TYPES).map(type => ha.recordedEvents(type)))).flat();
        const stored = new Set(rows.map(row => `${row.event_type} ${JSON.stringify(row.data)}`));
        return onBus.every(event => stored.has(`${event.event_type} ${JSON.stringify(event.data)}`)) ? rows : undefined;
      },
      30_000,
      "every drone event of the bus in the recorder's database",
    );
    expect(recorded.length).toBeGreaterThanOrEqual(onBus.length);
    for (const row of recorded) {
      expect(row.bytes, `${row.event_type} ${JSON.stringify(row.data).slice(0, 200)}`).toBeLessThan(MAX_EVENT_DATA_BYTES);
      // the recorder writes {} in place of data it refused
      expect(Object.keys(row.data).length).toBeGreaterThan(0);
    }
    const largest = Math.max(...recorded.map(row => row.bytes));
    expect(largest).toBeGreaterThan(0);
    expect((await ha.log()).filter(entry => entry.text.includes("exceed maximum size")).map(formatEntry)).toEqual([]);
  });

  it("says once, in one line, that HA has not loaded the synapse integration, and nothing about its events failing", () => {
    const output = first.process.output();
    const lines = output.split("\n").filter(line => line.includes("has not loaded the synapse integration"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("it sends its events");
    expect(lines[0]).toContain("docs/install.md");
    expect(output).not.toMatch(/not confirmed by Home Assistant|not an administrator|message result error/);
    expect(output).not.toContain(TEST_PASSPHRASE);
    expect(output).not.toContain(ha.adminToken);
  });

  it("Home Assistant restarting during a run: the result the drone kept while HA was down arrives after the restart, and its status events go on", async () => {
    const held = await heldRun(ha, "restarted");
    const { process: drone } = await newDrone("restarted", held.settings);
    const runId = await held.started("restarted");

    // the run ends while HA is down: the drone keeps the result for later, and sends it after the restart
    const result = await held.endWhileHaIsDown(drone, "restarted", runId);
    expect(droneEvents(ha, EVENT_TYPES.result, "restarted").filter(({ boot }) => boot === 1)).toEqual([]);
    expect(result.boot).toBe(2);
    expect(result.data).toMatchObject({ operation: "scheduled", outcome: "success" });
    // heartbeats go on over the new connection (STATUS_INTERVAL_SECONDS 5), the drone idle again
    await ha.waitFor(
      () => (droneEvents(ha, EVENT_TYPES.status, "restarted").filter(({ boot, data }) => boot === 2 && data.state === "idle").length >= 2 ? true : undefined),
      30_000,
      "two idle status events after the restart",
    );
    // the other drone reconnected too
    await ha.waitFor(() => droneEvents(ha, EVENT_TYPES.status, "solo").find(({ boot }) => boot === 2), 30_000, "the first drone's status after the restart");
    // and the recorder of the new boot stored the kept result
    await ha.waitFor(
      async () => ((await ha.recordedEvents(EVENT_TYPES.result)).some(row => row.data.run_id === runId) ? true : undefined),
      30_000,
      "the kept result in the recorder",
    );
  });

  it("HA's log holds no ERROR line across both boots", async () => {
    expect((await ha.errors()).map(formatEntry)).toEqual([]);
  });
});
