/**
 * A fleet of 1,000 drones reporting at once. @digital-alchemy/hass ends the process when its
 * socket averages more than 500 messages a second over 5 s; the coordinator's first round
 * (a plan and a problem event per drone) and its republish of every problem sensor when the
 * registration begins went out at once and ended it. They are paced now: the process stays
 * and every message still goes.
 */
import { afterEach, describe, expect, it, vi } from "vitest";

import { HA_MESSAGES_PER_SECOND } from "../../../apps/backup_coordinator/services/dispatch.service.mjs";
import { bootCoordinator, type Harness } from "./harness.mjs";
import { waitFor } from "../../helpers/wait.mjs";

const DRONES = 1_000;
let h: Harness | undefined;

afterEach(async () => {
  await h?.teardown();
  h = undefined;
  vi.restoreAllMocks();
});

describe("a first round of 1,000 drones", () => {
  it("keeps the coordinator alive and sends every plan, problem event and problem sensor", async () => {
    // hass's way out, kept from ending the test's process so that the test can say it happened
    const exits: unknown[] = [];
    vi.spyOn(process, "exit").mockImplementation(((code?: unknown) => {
      exits.push(code);
    }) as typeof process.exit);

    const harness = (h = await bootCoordinator());
    const ids = Array.from({ length: DRONES }, (_, i) => `drone-${String(i).padStart(4, "0")}`);
    // a week without a backup: every drone is overdue, a problem
    ids.forEach((id, i) => harness.addDrone({ id, lastBackup: new Date(Date.now() - 7 * 86_400_000 + i * 60_000) }));
    await harness.heartbeat();
    harness.evaluate();

    const droneIds = (type: string) => new Set(harness.fired(type).map(event => event.event_data.drone_id));
    await waitFor(
      () => droneIds("backup_coordinator_drone_problem").size === DRONES && droneIds("backup_coordinator_plan").size === DRONES,
      "a problem and a plan event for every drone",
      90_000,
      200,
    );
    expect(harness.fired("backup_coordinator_drone_problem")).toHaveLength(DRONES);
    expect([...droneIds("backup_coordinator_drone_problem")].sort()).toEqual(ids);

    // the registration lost and back: every problem sensor is patched again
    const sensors = Object.values(harness.params.backup_coordinator.entities.problemSensors());
    expect(sensors).toHaveLength(DRONES);
    const configure = harness.params.synapse.configure;
    let looks = 0;
    configure.isRegistered = () => {
      looks += 1;
      return false;
    };
    await waitFor(() => looks >= 3, "the registration looked at while lost");
    const from = harness.sent.length;
    configure.isRegistered = () => true;
    const patched = () =>
      new Set(harness.sent.slice(from).flatMap(message => (message.type === "synapse/patch_entity" ? [String(message.unique_id)] : [])));
    await waitFor(() => sensors.every(sensor => patched().has(sensor)), "every problem sensor patched again", 60_000, 200);

    expect(exits, "times hass ended the process").toHaveLength(0);
    expect(harness.logs.filter(line => /exceeded|message traffic/.test(line))).toEqual([]);
  });

  it("presses go ahead of the problem events queued before them", async () => {
    const harness = (h = await bootCoordinator());
    const count = 2 * HA_MESSAGES_PER_SECOND + 50;
    for (let i = 0; i < count; i++) harness.addDrone({ id: `drone-${String(i).padStart(4, "0")}`, lastBackup: new Date(Date.now() - 7 * 86_400_000) });
    await harness.heartbeat();
    harness.evaluate();
    await harness.waitForPresses(1, 30_000);
    const firstPress = harness.sent.findIndex(message => message.type === "call_service" && message.domain === "button");
    const problemsBefore = harness.sent
      .slice(0, firstPress)
      .filter(message => message.type === "fire_event" && message.event_type === "backup_coordinator_drone_problem").length;
    // the look queued a problem event per drone before its presses: at most one second's worth went first
    expect(problemsBefore).toBeLessThanOrEqual(HA_MESSAGES_PER_SECOND);
    await waitFor(() => harness.fired("backup_coordinator_drone_problem").length === count, "every problem event", 30_000, 100);
  });
});
