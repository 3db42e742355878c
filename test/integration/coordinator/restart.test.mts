/**
 * A coordinator that (re)starts while drones run: it rebuilds its view from Home
 * Assistant's registry and entity states, never presses a drone HA shows busy, and waits for
 * the restored drones to report before it starts anything. The pause switch survives.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { entityId } from "../../../libs/protocol/index.mjs";
import { bootCoordinator, type Harness, settle } from "./harness.mjs";
import { minutesFrom, T0, waitFor } from "../../helpers/wait.mjs";

const harnesses: Harness[] = [];
const dirs: string[] = [];

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(T0);
});
afterEach(async () => {
  for (const harness of harnesses.splice(0)) await harness.teardown();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  vi.useRealTimers();
});

const boot = async (...args: Parameters<typeof bootCoordinator>) => {
  const harness = await bootCoordinator(...args);
  harnesses.push(harness);
  return harness;
};

describe("after a restart", () => {
  it("a drone HA shows busy is never pressed again; others wait for its slot", async () => {
    const h = await boot({
      haDrones: [
        { id: "a", state: "creating", lastBackup: minutesFrom(T0, -3000) },
        { id: "b", state: "idle", lastBackup: null },
      ],
      drones: [{ id: "a", lastBackup: minutesFrom(T0, -3000) }, { id: "b" }],
    });
    const fleet = h.params.backup_coordinator.fleet;
    expect(fleet.drones()).toEqual(["a", "b"]);
    expect(fleet.state.running().map(run => [run.droneId, run.run.ours])).toEqual([["a", false]]);
    // both restored drones get a problem sensor in the first registration
    expect(h.params.backup_coordinator.entities.problemSensors()).toEqual({
      a: "backup_coordinator_a_backup_problem",
      b: "backup_coordinator_b_backup_problem",
    });
    const registrations = h.sent.filter(message => message.type === "synapse/application_online_ready") as unknown as {
      app_metadata: { binary_sensor?: { unique_id: string }[] };
    }[];
    expect(registrations[0]?.app_metadata.binary_sensor?.map(entity => entity.unique_id)).toEqual([
      "backup_coordinator_a_backup_problem",
      "backup_coordinator_b_backup_problem",
    ]);

    // b reports, a has not yet: a's repository host is unknown, so nothing starts
    await h.report("b");
    h.evaluate();
    await settle();
    expect(h.presses()).toEqual([]);
    expect(fleet.holding(new Date())).toBe(true);

    // a reports its run (its own or a person's): b shares its host and waits
    await h.startManual("a");
    h.evaluate();
    await settle();
    expect(fleet.holding(new Date())).toBe(false);
    expect(h.presses()).toEqual([]);

    vi.setSystemTime(minutesFrom(T0, 2));
    await h.finish("a", "success");
    await h.waitForPresses(1);
    expect(h.pressed()).toEqual(["b"]);
    expect(h.fired("backup_coordinator_run_finished").map(event => event.event_data)).toEqual([
      expect.objectContaining({ drone_id: "a", ours: false, outcome: "success" }),
    ]);
  });

  it("HA still showing a drone busy (its idle state not yet reached HA) holds the press until it does", async () => {
    const h = await boot({ haDrones: [{ id: "a", state: "idle" }], drones: [{ id: "a" }] });
    // HA shows the drone busy while its status event says idle
    await h.setHaState("sensor.a_application_state", "pruning");
    await h.report("a");
    h.evaluate();
    await settle();
    expect(h.presses()).toEqual([]);
    expect(h.logs.some(line => line.includes("not starting a: Home Assistant shows it pruning"))).toBe(true);
    // the change of HA's state makes the coordinator look again
    await h.setHaState("sensor.a_application_state", "idle");
    await h.waitForPresses(1);
  });

  it("a restored drone that never reports stops holding the others after OFFLINE_AFTER_SECONDS, and is offline", async () => {
    const h = await boot({
      haDrones: [{ id: "gone", state: "idle", online: null }, { id: "b" }],
      drones: [{ id: "b", host: "other" }],
    });
    await h.report("b");
    h.evaluate();
    await settle();
    expect(h.presses()).toEqual([]);
    vi.setSystemTime(minutesFrom(T0, 3.5));
    await h.report("b");
    await h.waitForPresses(1);
    expect(h.pressed()).toEqual(["b"]);
    h.params.backup_coordinator.entities.sync();
    await waitFor(() => h.problemSensor("gone")?.is_on === true, "gone's problem sensor");
    expect(h.problemSensor("gone")?.attributes).toMatchObject({ kind: "offline" });
  });

  it("an online sensor HA shows off marks the drone offline at once", async () => {
    const h = await boot({ haDrones: [{ id: "a", online: "off" }] });
    expect(h.params.backup_coordinator.fleet.state.drones.get("a")?.problem?.kind).toBe("offline");
    await waitFor(() => h.fired("backup_coordinator_drone_problem").length === 1, "the problem event");
  });

  it("the pause switch and the concurrency limit survive a restart (synapse's database)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "coordinator-db-"));
    dirs.push(dir);
    const databaseUrl = `file:${join(dir, "synapse.db")}`;
    const first = await boot({ databaseUrl, drones: [{ id: "a" }] });
    await first.command("pause", "turn_on");
    await first.command("concurrency_limit", "set_value", { value: 3 });
    await settle();
    await first.teardown();
    harnesses.splice(harnesses.indexOf(first), 1);

    const second = await boot({ databaseUrl, drones: [{ id: "a" }] });
    expect(second.params.backup_coordinator.dispatch.paused).toBe(true);
    expect(second.params.backup_coordinator.dispatch.perHostLimit).toBe(3);
    await second.report("a");
    second.evaluate();
    await settle();
    expect(second.presses()).toEqual([]);
    await second.command("pause", "turn_off");
    await second.waitForPresses(1);
  });
});

describe("the drones' entity ids", () => {
  it("HA's registry wins over the map a status carried: after a registry update, and after a reconnect that missed one", async () => {
    const h = await boot({ haDrones: [{ id: "a" }], drones: [{ id: "a" }] });
    const fleet = h.params.backup_coordinator.fleet;
    // a's status carries its entity map: the ids it had then
    await h.report("a");
    await settle();
    const before = fleet.button("a", "primary");
    expect(before).toBe(entityId("a", "scheduled_backup"));
    /** A person renames a's Scheduled Backup button in Home Assistant (the status map still holds the old id). */
    const rename = (to: string) => {
      const from = fleet.button("a", "primary");
      const rows = (h.params.hass.entity.registry.current as unknown as { entity_id: string }[]).map(row => (row.entity_id === from ? { ...row, entity_id: to } : row));
      h.params.mock_assistant.entity_registry.loadFixtures(rows as never);
    };

    rename("button.a_backup_now");
    h.params.mock_assistant.entity_registry.sendUpdate();
    await waitFor(() => fleet.button("a", "primary") === "button.a_backup_now", "the renamed button after the registry update");
    // the drone's next status carries its new map
    const map = { ...h.drones.get("a")!.status().entities, scheduled_backup: "button.a_backup_now" };
    await h.report("a", { entities: map });
    await settle();

    // renamed again while the coordinator was away: no update reaches it, the reconnect reads the registry
    rename("button.a_backup_tonight");
    h.params.event.emit("SOCKET_CONNECTED");
    await waitFor(() => fleet.button("a", "primary") === "button.a_backup_tonight", "the renamed button after the reconnect");
    // a later status without a map (unchanged, as the drone sees it) keeps the registry's ids
    await h.report("a", { entities: {}, entities_unchanged: true });
    await settle();
    expect(fleet.button("a", "primary")).toBe("button.a_backup_tonight");
  });
});
