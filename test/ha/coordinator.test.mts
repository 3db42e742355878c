/**
 * The real `backup-coordinator` and a drone against a real Home Assistant without the
 * synapse integration: the coordinator finds the drone from its events, says what is
 * missing, and shows a drone that went away as a persistent notification in HA (created,
 * replaced and dismissed through HA's own persistent_notification services).
 */
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { COORDINATOR_EVENT_TYPES } from "../../libs/protocol/coordinator-events.mjs";
import { type DroneProcess } from "../emulator/drone-process.mjs";
import { type TestRepository } from "../helpers/borg.mjs";
import { makeDroneRepository } from "../helpers/drone.mjs";
import { type Running } from "../helpers/process.mjs";
import { coordinatorEvents, startCoordinator, startDrone } from "../homeassistant/apps.mjs";
import { type HomeAssistant, startHomeAssistant } from "../homeassistant/instance.mjs";
import { formatEntry } from "../homeassistant/log.mjs";

const DRONE = "watched";
const PROBLEM = `backup_coordinator_${DRONE}`;
const RECOVERED = `${PROBLEM}_recovered`;

let ha: HomeAssistant;
let repo: TestRepository;
const drones: DroneProcess[] = [];
let coordinator: Running | undefined;

beforeAll(async () => {
  ha = await startHomeAssistant({ synapseDir: false });
  repo = await makeDroneRepository(2, 32 * 1024);
}, 900_000);

afterAll(async () => {
  await Promise.all(drones.map(drone => drone.stop()));
  coordinator?.kill();
  await coordinator?.done;
  await ha?.remove();
  await repo?.remove();
});

// paused: the coordinator watches it but presses nothing (without the integration there is no button)
const drone = async () => {
  const started = await startDrone({ ha, repo, droneId: DRONE, drone: { MODE: "paused" } });
  drones.push(started);
  return started;
};
const output = (running: Running) => `${running.output().stdout}${running.output().stderr}`;
const notification = async (id: string) => (await ha.notifications()).find(item => item.notification_id === id);

describe("the coordinator against Home Assistant without the synapse integration", () => {
  it("finds the drone from its status events and says in one line what the missing integration means", async () => {
    const first = await drone();
    await first.waitForOutput(/has not loaded the synapse integration/, 60_000);
    coordinator = await startCoordinator(ha, join(repo.root, "coordinator"), { NOTIFY: true, OFFLINE_AFTER_SECONDS: 10 });
    await coordinator.waitFor(new RegExp(`drone ${DRONE} discovered`), 60_000);
    await coordinator.waitFor(/has not loaded the synapse integration/, 30_000);
    const lines = output(coordinator).split("\n").filter(line => line.includes("has not loaded the synapse integration"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("so it can start no run");
    // its read of HA's entity registry (discovery at start) worked with the admin token
    expect(output(coordinator)).not.toMatch(/reading Home Assistant's entity registry failed|rebuilding the fleet from Home Assistant failed/);
    // the drone's plan, once: a paused drone has no planned time
    const plans = () => coordinatorEvents(ha, COORDINATOR_EVENT_TYPES.plan).filter(plan => plan.drone_id === DRONE);
    await ha.waitFor(() => (plans().length > 0 ? true : undefined), 30_000, "the drone's plan event");
    expect(plans()).toEqual([expect.objectContaining({ next_at: null, reason: "paused", coordinator_id: "backup_coordinator" })]);
  });

  it("a drone killed -9 becomes a persistent notification in HA; back, it is replaced by a recovered one", async () => {
    const first = drones[0];
    if (!first) throw new Error("no drone");
    await first.kill();
    const problem = await ha.waitFor(() => notification(PROBLEM), 60_000, "the problem notification");
    expect(problem).toMatchObject({ title: `Backup problem: ${DRONE}` });
    expect(problem.message).toMatch(/^no heartbeat for \d+ s\n\nProblem: offline, since /);
    expect(coordinatorEvents(ha, COORDINATOR_EVENT_TYPES.droneProblem)).toContainEqual(expect.objectContaining({ drone_id: DRONE, kind: "offline" }));

    await drone();
    const recovered = await ha.waitFor(() => notification(RECOVERED), 60_000, "the recovered notification");
    expect(recovered.title).toBe(`Backup recovered: ${DRONE}`);
    expect(recovered.message).toContain(`${DRONE} is fine again (it was offline`);
    // the problem's notification was dismissed through HA
    expect(await notification(PROBLEM)).toBeUndefined();
    expect(coordinatorEvents(ha, COORDINATOR_EVENT_TYPES.droneRecovered)).toContainEqual(expect.objectContaining({ drone_id: DRONE, previous_kind: "offline" }));
    // a paused drone's plan stays `paused` (no time) while it is away and back: nothing else was announced
    const plans = coordinatorEvents(ha, COORDINATOR_EVENT_TYPES.plan).filter(plan => plan.drone_id === DRONE);
    expect(plans.length).toBeGreaterThan(0);
    expect(plans.filter(plan => plan.reason !== "paused" || plan.next_at !== null)).toEqual([]);
    // the coordinator's own events reached the recorder too
    await ha.waitFor(
      async () => ((await ha.recordedEvents(COORDINATOR_EVENT_TYPES.droneRecovered)).some(row => row.data.drone_id === DRONE) ? true : undefined),
      30_000,
      "the recovered event in the recorder",
    );
  });

  it("HA's log holds no ERROR line", async () => {
    expect((await ha.errors()).map(formatEntry)).toEqual([]);
  });
});
