/**
 * Our real apps against the behaviours of the synapse integration (25.10.19-beta.5) they had
 * to be changed for: drones a person can tell apart in the config flow, no entity category
 * for HA's registry to refuse, texts the drone checks itself, and a coordinator that adds a
 * drone's problem sensor while it stays registered.
 */
import { join } from "node:path";

import { afterEach, describe, expect, it, onTestFailed } from "vitest";

import { entityId, entityUniqueId } from "../../../libs/protocol/index.mjs";
import { problemObjectId } from "../../../apps/backup_coordinator/ha/entities.mjs";
import { type DroneProcess, spawnDrone } from "../../emulator/drone-process.mjs";
import { type HaEmulator, startEmulator } from "../../emulator/index.mjs";
import { Fleet } from "../../fleet/harness.mjs";
import { TEST_PASSPHRASE, type TestRepository } from "../../helpers/borg.mjs";
import { makeDroneRepository } from "../../helpers/drone.mjs";
import { tempDir } from "../../helpers/fs.mjs";

const TOKEN = "canary-emulator-token-a9f3";

let cleanups: (() => Promise<unknown>)[] = [];
const haLog: string[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  cleanups = [];
  haLog.length = 0;
});

async function emulator(autoAdopt: boolean): Promise<HaEmulator> {
  const ha = await startEmulator({ token: TOKEN, autoAdopt, log: line => void haLog.push(line) });
  cleanups.push(() => ha.stop());
  onTestFailed(() => console.error(haLog.slice(-80).join("\n")));
  return ha;
}

async function drone(ha: HaEmulator, droneId: string): Promise<{ process: DroneProcess; repo: TestRepository }> {
  const repo = await makeDroneRepository(2, 16 * 1024);
  cleanups.push(() => repo.remove());
  const process = await spawnDrone({
    url: ha.url,
    token: TOKEN,
    passphrase: TEST_PASSPHRASE,
    dir: repo.root,
    drone: {
      DRONE_ID: droneId,
      REPOSITORY: repo.repository.location,
      SOURCES: [join(repo.root, "source")],
      STATE_DIR: join(repo.root, "state"),
      BORG_BASE_DIR: repo.repository.baseDir,
      LOCK_WAIT_SECONDS: 2,
    },
  });
  cleanups.push(() => process.stop());
  return { process, repo };
}

describe("drones in the synapse config flow", () => {
  it("two waiting drones are listed each under its own name and title; each pick adds that drone, whose device bears its name; HA's log has no error", async () => {
    const ha = await emulator(false);
    const a = await drone(ha, "attic");
    const b = await drone(ha, "basement");
    // a person opens Settings → Add integration → Digital Alchemy until both have connected
    let flow = await ha.configFlow();
    for (let tries = 1; Object.keys(flow.choices).length < 2 && tries < 30; tries++) flow = await ha.configFlow();
    expect(flow.choices).toEqual({ backup_drone_attic: "Backup drone attic", backup_drone_basement: "Backup drone basement" });

    expect(flow.pick("backup_drone_basement")).toBe(b.process.appUniqueId);
    await ha.waitFor(() => ha.applications().find(app => app.unique_id === b.process.appUniqueId && app.online), 30_000, "basement registered");
    expect(ha.applications().find(app => app.unique_id === a.process.appUniqueId)).toBeUndefined();
    expect(flow.pick("backup_drone_attic")).toBe(a.process.appUniqueId);
    await ha.waitFor(() => ha.applications().find(app => app.unique_id === a.process.appUniqueId && app.online), 30_000, "attic registered");
    await ha.waitFor(() => ha.state(entityId("attic", "keep_within")), 10_000, "attic's entities");

    // the application's own device (synapse's primary device) is named after the drone, not "backup_drone"
    const deviceOf = (uniqueId: string) => ha.deviceRegistry().find(device => device.identifiers.some(([, id]) => id === uniqueId));
    expect(deviceOf(a.process.appUniqueId)?.name).toBe("Backup drone attic");
    expect(deviceOf(b.process.appUniqueId)?.name).toBe("Backup drone basement");
    expect(ha.applications().map(app => app.app).sort()).toEqual(["backup_drone_attic", "backup_drone_basement"]);

    // no entity category reached the bridge: the registration left no error in HA's log
    expect(haLog.filter(line => line.includes("ERROR"))).toEqual([]);
    expect(ha.entityRegistry().filter(entry => entry.platform === "synapse" && entry.entity_category !== null).map(entry => entry.entity_id)).toEqual(
      ha.entityRegistry().filter(entry => entry.unique_id.endsWith("-online")).map(entry => entry.entity_id),
    );
  });

  it("a text set from HA is checked by the drone, not by HA (text.py reads only native_value): a bad value is refused and the entity shows the value in force", async () => {
    const ha = await emulator(true);
    const { process } = await drone(ha, "study");
    const keepWithin = await ha.waitFor(() => ha.entityIdFor(entityUniqueId("study", "keep_within")), 30_000, "Keep Within");
    await ha.waitFor(() => (ha.state(keepWithin)?.state === "" ? true : undefined), 30_000, "Keep Within shown");
    // HA knows no pattern and the default length limits of TextEntity
    expect(ha.state(keepWithin)?.attributes).toMatchObject({ mode: "text", min: 0, max: 255, pattern: null });

    await ha.callService("text", "set_value", { entity_id: keepWithin, value: "14d" });
    await ha.waitFor(() => (ha.state(keepWithin)?.state === "14d" ? true : undefined), 10_000, "Keep Within 14d");

    // HA takes it and hands it to the drone, which refuses it and sends the value in force again
    const start = ha.events().length;
    await ha.callService("text", "set_value", { entity_id: keepWithin, value: "2 weeks" });
    await process.waitForOutput(/keep_within: .*2 weeks.* rejected/, 10_000);
    await ha.waitFor(
      () => ha.events().slice(start).find(event => event.event_type === "synapse/update" && event.data.unique_id === entityUniqueId("study", "keep_within")),
      10_000,
      "the drone's answer",
    );
    expect(ha.state(keepWithin)?.state).toBe("14d");
    // the restore target too: a relative path is refused
    const target = ha.entityIdFor(entityUniqueId("study", "restore_target")) ?? "";
    await ha.callService("text", "set_value", { entity_id: target, value: "relative/path" });
    await process.waitForOutput(/restore_target: .*relative\/path.* rejected/, 10_000);
    expect(ha.state(target)?.state).toBe("");
  });
});

describe("Restore Archive's options (a capability of the select)", () => {
  it("change once per backup: one registry update, which every client re-reads; a run that leaves the archives as they were updates nothing; every patch is small", async () => {
    const ha = await emulator(true);
    await drone(ha, "den");
    const select = await ha.waitFor(() => ha.entityIdFor(entityUniqueId("den", "restore_archive")), 30_000, "Restore Archive");
    await ha.waitFor(() => (ha.state(select)?.state === "latest" ? true : undefined), 30_000, "Restore Archive shown");
    const capabilityUpdates = () =>
      ha
        .events()
        .filter(event => event.event_type === "entity_registry_updated" && event.data.entity_id === select && Object.keys(event.data.changes ?? {}).includes("capabilities"));
    const resultOf = async (key: "create_backup" | "update_stats", operation: string) => {
      const start = ha.events().length;
      await ha.callService("button", "press", { entity_id: ha.entityIdFor(entityUniqueId("den", key)) ?? "" });
      return await ha.waitFor(
        () => ha.events().slice(start).find(event => event.event_type === "backup_drone_result" && event.data.operation === operation),
        60_000,
        `the ${operation} result`,
      );
    };

    const before = capabilityUpdates().length;
    const created = await resultOf("create_backup", "create");
    const archive = (created.data.archive as { name: string }).name;
    await ha.waitFor(() => ((ha.state(select)?.attributes.options as string[]).includes(archive) ? true : undefined), 30_000, "the new archive offered");
    expect(ha.state(select)?.attributes.options).toEqual(["latest", archive]);
    expect(capabilityUpdates()).toHaveLength(before + 1);

    const statsStart = ha.events().length;
    await resultOf("update_stats", "stats");
    // the stats run ends with a status event; by then its patches have reached HA
    await ha.waitFor(() => ha.events().slice(statsStart).find(event => event.event_type === "backup_drone_status" && event.data.state === "idle"), 30_000, "the drone idle");
    expect(capabilityUpdates()).toHaveLength(before + 1);

    // no drone event lost its data in the recorder, and every entity patch is far under the integration's 10 000 bytes
    expect(haLog.filter(line => line.includes("exceed maximum size"))).toEqual([]);
    const updates = ha.events().filter(event => event.event_type === "synapse/update");
    expect(updates.length).toBeGreaterThan(10);
    expect(Math.max(...updates.map(event => Buffer.byteLength(JSON.stringify(event.data))))).toBeLessThan(3_000);
  });
});

describe("the coordinator adds a problem sensor for a drone found after it started", () => {
  it("through a configuration update: the sensor exists in HA, and the coordinator is not asked to register again", async () => {
    const dir = await tempDir("late-drone");
    const ha = await emulator(true);
    const lines: string[] = [];
    const fleet = new Fleet({ root: dir.path, emulator: ha, token: TOKEN, drones: [{ id: "late" }], log: (source, line) => lines.push(`${source}: ${line}`) });
    cleanups.push(dir.remove, () => fleet.stopAll());
    onTestFailed(() => console.error(lines.slice(-120).join("\n")));
    await fleet.prepare();

    await fleet.coordinator.start();
    const problem = `binary_sensor.${problemObjectId("late")}`;
    expect(ha.state(problem)).toBeUndefined();
    await fleet.drone("late").start();
    await ha.waitFor(() => (ha.state(problem)?.state === "off" ? true : undefined), 30_000, `${problem} in Home Assistant`);
    expect(ha.state(problem)?.attributes).toMatchObject({ drone_id: "late", device_class: "problem" });

    // two heartbeats later: the hash HA keeps is the coordinator's, no registration is asked for or refused
    const seen = haLog.length;
    await fleet.heartbeatSince("Backup Coordinator", Date.now() / 1000 + 6);
    const after = haLog.slice(seen);
    expect(after.filter(line => line.includes("already connected") || line.includes("re-registration"))).toEqual([]);
    expect(haLog.filter(line => line.includes("ERROR") && !line.includes("does not generate unique IDs"))).toEqual([]);
  });
});

describe("the coordinator's plan reaches the drone", () => {
  it("the drone's Next Backup shows the coordinator's plan: after the run it started, the last backup + Backup Frequency", async () => {
    const dir = await tempDir("plan-drone");
    const ha = await emulator(true);
    const lines: string[] = [];
    const fleet = new Fleet({
      root: dir.path,
      emulator: ha,
      token: TOKEN,
      drones: [{ id: "planned", config: { FREQUENCY_MINUTES: 600 } }],
      log: (source, line) => lines.push(`${source}: ${line}`),
    });
    cleanups.push(dir.remove, () => fleet.stopAll());
    onTestFailed(() => console.error(lines.slice(-120).join("\n")));
    await fleet.prepare();
    await fleet.drone("planned").start();
    await fleet.coordinator.start();

    // never backed up: the coordinator starts it, and the result re-labels the run as the coordinator's
    const result = await ha.waitFor(
      () => ha.events().find(event => event.event_type === "backup_drone_result" && event.data.drone_id === "planned"),
      60_000,
      "the drone's result",
    );
    expect(result.data).toMatchObject({ operation: "scheduled", outcome: "success", trigger: "coordinator" });
    const nextBackup = entityId("planned", "next_backup");
    const lastBackup = entityId("planned", "last_backup");
    const expected = () => {
      const last = Date.parse(ha.state(lastBackup)?.state ?? "");
      return Number.isNaN(last) ? undefined : last + 600 * 60_000;
    };
    // the coordinator takes the result's end as the last backup, the drone's sensor the archive's time; a plan
    // that moves by less than a minute is not sent again
    await ha.waitFor(
      () => {
        const next = Date.parse(ha.state(nextBackup)?.state ?? "");
        const want = expected();
        return want !== undefined && Math.abs(next - want) < 60_000 ? true : undefined;
      },
      30_000,
      "Next Backup = Last Backup + 600 min",
    );
    const plans = ha.events().filter(event => event.event_type === "backup_coordinator_plan" && event.data.drone_id === "planned");
    expect(plans.map(event => event.data.reason)).toEqual(expect.arrayContaining(["overdue", "running", "due"]));
    const started = ha.events().find(event => event.event_type === "backup_coordinator_run_started" && event.data.drone_id === "planned");
    expect(started?.data).toMatchObject({ ours: true, run_id: result.data.run_id });
  });
});
