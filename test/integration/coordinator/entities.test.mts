/**
 * The coordinator's Home Assistant device: what it registers, and what its sensors show
 * while drones run (progress throttled, as synapse's integration limits patches).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { COORDINATOR_ENTITIES } from "../../../apps/backup_coordinator/ha/entities.mjs";
import { PROGRESS_PUBLISH_MS, PROGRESS_PUBLISH_STEP, WRITES_PER_MINUTE } from "../../../apps/backup_coordinator/services/entities.service.mjs";
import { TEST_HASS_TOKEN } from "../../helpers/runner.mjs";
import { bootCoordinator, type Harness, settle } from "./harness.mjs";
import { minutesFrom, T0, waitFor } from "../../helpers/wait.mjs";

let h: Harness | undefined;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(T0);
});
afterEach(async () => {
  if (h) {
    await h.teardown();
    // the canary: the Home Assistant token is in no log line and no message
    expect(h.logs.filter(line => line.includes(TEST_HASS_TOKEN))).toEqual([]);
    expect(h.sent.filter(message => JSON.stringify(message).includes(TEST_HASS_TOKEN))).toEqual([]);
  }
  h = undefined;
  vi.useRealTimers();
});

type Registered = Record<string, unknown>;
type Metadata = { app_metadata: Record<string, unknown>; unique_id?: unknown };
const ofType = (harness: Harness, type: string) => harness.sent.filter(message => message.type === type) as unknown as Metadata[];
const registration = (harness: Harness) => ofType(harness, "synapse/application_online_ready").at(-1);
const registered = (harness: Harness, domain: string) => (registration(harness)?.app_metadata[domain] ?? []) as Registered[];
const updated = (harness: Harness, domain: string) => (ofType(harness, "synapse/update_configuration").at(-1)?.app_metadata[domain] ?? []) as Registered[];

describe("the coordinator's device", () => {
  it("registers every entity on one device, with ids derived from COORDINATOR_ID", async () => {
    h = await bootCoordinator();
    const app = await waitFor(() => registration(h!), "the registration");
    expect(app.app_metadata.secondary_devices).toEqual([
      expect.objectContaining({ unique_id: "backup_coordinator_device", name: "Backup Coordinator", manufacturer: "backup-coordinator", model: "coordinator" }),
    ]);
    for (const [key, spec] of Object.entries(COORDINATOR_ENTITIES)) {
      expect(registered(h, spec.domain)).toContainEqual(
        expect.objectContaining({
          unique_id: `backup_coordinator_${key}`,
          suggested_object_id: `backup_coordinator_${key}`,
          device_id: "backup_coordinator_device",
          name: `Backup Coordinator ${spec.name}`,
        }),
      );
    }
    const bytesProcessed = registered(h, "sensor").find(entity => entity.unique_id === "backup_coordinator_bytes_processed");
    expect(bytesProcessed).toMatchObject({ device_class: "data_size", native_unit_of_measurement: "B" });
    // long-term statistics only where they chart something: not of a run's bytes, progress or files
    for (const key of ["bytes_processed", "files_processed", "progress", "eta"]) {
      expect(registered(h, "sensor").find(entity => entity.unique_id === `backup_coordinator_${key}`), key).not.toHaveProperty("state_class");
    }
    expect(registered(h, "sensor").find(entity => entity.unique_id === "backup_coordinator_failing_drones")).toMatchObject({ state_class: "measurement" });
    expect(registered(h, "number").find(entity => entity.unique_id === "backup_coordinator_concurrency_limit")).toMatchObject({
      native_min_value: 1,
      native_max_value: 10,
      native_value: 1,
    });
  });

  it("another COORDINATOR_ID gives other ids (two coordinators never collide)", async () => {
    h = await bootCoordinator({ config: { COORDINATOR_ID: "attic-coordinator" } });
    await waitFor(() => registration(h!), "the registration");
    expect(registered(h, "switch")).toEqual([
      expect.objectContaining({ unique_id: "attic-coordinator_pause", suggested_object_id: "attic_coordinator_pause" }),
    ]);
  });

  it("adds a problem binary_sensor for each drone it discovers, and tells HA with a configuration update, not a second registration", async () => {
    h = await bootCoordinator({ drones: [{ id: "my-laptop", lastBackup: minutesFrom(T0, -60) }, { id: "nas" }] });
    await waitFor(() => registration(h!), "the first registration");
    expect(registered(h, "binary_sensor")).toEqual([]);
    // two drones found in a burst: one update carries both sensors
    await h.report("my-laptop");
    await h.report("nas");
    await waitFor(() => updated(h!, "binary_sensor").length === 2, "a configuration update with both problem sensors");
    expect(ofType(h, "synapse/update_configuration")).toHaveLength(1);
    expect(updated(h, "binary_sensor").find(entity => entity.unique_id === "backup_coordinator_my-laptop_backup_problem")).toMatchObject({
      unique_id: "backup_coordinator_my-laptop_backup_problem",
      suggested_object_id: "my_laptop_backup_problem",
      device_class: "problem",
      device_id: "backup_coordinator_device",
      is_on: false,
    });
    // the integration refuses a second application_online_ready on a registered connection (already_connected)
    expect(ofType(h, "synapse/application_online_ready")).toHaveLength(1);
    const update = ofType(h, "synapse/update_configuration").at(-1)!;
    expect(update.unique_id).toBe("backup-coordinator-test-app");
    // everything goes again (what it leaves out, the integration removes), with the hash the heartbeats send
    expect(update.app_metadata).toMatchObject({
      hash: h.params.synapse.storage.hash(),
      secondary_devices: [expect.objectContaining({ unique_id: "backup_coordinator_device" })],
      device: expect.any(Object) as unknown,
    });
    for (const [key, spec] of Object.entries(COORDINATOR_ENTITIES)) {
      expect(updated(h, spec.domain).map(entity => entity.unique_id)).toContain(`backup_coordinator_${key}`);
    }
    // HA applied it: nothing is tried again
    await settle();
    expect(h.logs.filter(line => line.includes("did not take the new entities") || line.includes("trying again"))).toEqual([]);
  });

  it("registers no entity_category: the integration would hand HA's registry a string it refuses", async () => {
    h = await bootCoordinator();
    const app = await waitFor(() => registration(h!), "the registration");
    const everything = Object.values(app.app_metadata).filter(Array.isArray).flat() as Registered[];
    expect(everything.length).toBeGreaterThan(5);
    expect(everything.filter(entity => "entity_category" in entity)).toEqual([]);
  });
});

describe("the sensors", () => {
  it("show what runs, the queue, progress, ETA, bytes, files and the failing drones", async () => {
    h = await bootCoordinator({ drones: [{ id: "a" }, { id: "b" }, { id: "c", host: "cloud" }] });
    await h.command("pause", "turn_on");
    await h.heartbeat();
    await settle();
    h.params.backup_coordinator.entities.sync();
    await waitFor(() => h!.published("queue") === "a, b, c", "the queue");
    expect(h.published("running_now")).toBe("none");
    // paused: the queue is the order they would start in, and no drone has a planned time (the
    // plans come from the scheduler's look, which may follow the sync that wrote the queue)
    const pausedQueue = {
      drones: ["a", "b", "c"],
      drones_total: 3,
      planned: ["a", "b", "c"].map(drone_id => ({ drone_id, next_at: null, reason: "paused" })),
      planned_total: 3,
    };
    await waitFor(() => {
      h!.params.backup_coordinator.entities.sync();
      return JSON.stringify(h!.published("queue", "attributes")) === JSON.stringify(pausedQueue);
    }, "the queue's plans");
    expect(h.published("queue", "attributes")).toEqual(pausedQueue);

    await h.command("pause", "turn_off");
    await h.waitForPresses(2);
    await waitFor(() => h!.published("running_now") === "a, c", "running now");
    expect(h.published("queue")).toBe("b");

    // the first progress after a start: published at once only if PROGRESS_PUBLISH_MS passed
    // (the heartbeats of those minutes keep b, which sends no progress, online)
    vi.setSystemTime(new Date(T0.getTime() + PROGRESS_PUBLISH_MS + 1));
    await h.heartbeat();
    await h.progress("a", 40);
    await h.progress("c", 60, { original_size: 5000, nfiles: 70 });
    await settle();
    h.params.backup_coordinator.entities.sync();
    await waitFor(() => h!.published("progress") === 50, "progress");
    expect(h.published("eta")).toBe(60);
    // bytes and files are written when the runs going change, not as they climb
    expect(h.published("bytes_processed")).toBe(0);
    expect(h.published("files_processed")).toBe(0);

    // a burst within PROGRESS_PUBLISH_MS: no patch of the progress sensor
    const progressPatches = () => h!.sent.filter(message => message.type === "synapse/patch_entity" && message.unique_id === "backup_coordinator_progress").length;
    const before = progressPatches();
    for (let percent = 41; percent < 60; percent++) await h.progress("a", percent);
    await settle();
    h.params.backup_coordinator.entities.sync();
    await settle();
    expect(progressPatches()).toBe(before);
    // the interval passed, but the progress moved less than PROGRESS_PUBLISH_STEP points (50 → 59.5): still none
    vi.setSystemTime(new Date(Date.now() + PROGRESS_PUBLISH_MS + 1));
    await h.heartbeat();
    h.params.backup_coordinator.entities.sync();
    await settle();
    expect(progressPatches()).toBe(before);
    expect(h.published("progress")).toBe(50);
    // moved far enough (50 → 50 + PROGRESS_PUBLISH_STEP): published
    await h.progress("a", 40 + 2 * PROGRESS_PUBLISH_STEP);
    await settle();
    h.params.backup_coordinator.entities.sync();
    await waitFor(() => h!.published("progress") === 50 + PROGRESS_PUBLISH_STEP, "the progress after the interval and the step");

    await h.finish("a", "failed");
    await waitFor(() => h!.published("failing_drones") === 1, "one failing drone");
    expect(h.published("failing_drones", "attributes")).toEqual({ drones: ["a"], drones_total: 1 });
    await h.waitForPresses(3);
    await waitFor(() => h!.published("running_now") === "b, c", "b running");
    // the runs going changed: what they read so far (c's last progress; b has none yet)
    await waitFor(() => h!.published("bytes_processed") === 5000, "the bytes of the runs going");
    expect(h.published("files_processed")).toBe(70);
    await h.progress("b", 10, { original_size: 7000, nfiles: 90 });
    await h.progress("c", 80, { original_size: 8000, nfiles: 100 });
    await settle();
    h.params.backup_coordinator.entities.sync();
    await settle();
    expect(h.published("bytes_processed")).toBe(5000);
    // one run ended, another goes on: the one going
    await h.finish("b", "success");
    await waitFor(() => h!.published("running_now") === "c", "c running alone");
    expect(h.published("bytes_processed")).toBe(8000);
    // the last run ended: what the runs read in all; none made an archive here, so each counts
    // what its create's last progress said (a's 80,000 at 80 %, b's and c's)
    await h.finish("c", "success");
    await waitFor(() => h!.published("running_now") === "none", "nothing running");
    expect(h.published("bytes_processed")).toBe(80_000 + 7000 + 8000);
    expect(h.published("files_processed")).toBe(800 + 90 + 100);
  });

  it("Bytes and Files Processed in all are the runs' archives, though a scheduled run's last progress comes from prune and compact (0 bytes)", async () => {
    h = await bootCoordinator({ drones: [{ id: "a" }] });
    await h.heartbeat();
    await h.waitForPresses(1);
    await waitFor(() => h!.published("running_now") === "a", "a running");
    await h.progress("a", 60, { original_size: 60_000, nfiles: 600 });
    // the steps after the create each count from 0 and end with 0 bytes and 0 files
    for (const state of ["pruning", "compacting", "updating_stats"] as const) {
      await h.progress("a", 100, { state, original_size: 0, compressed_size: 0, deduplicated_size: 0, nfiles: 0, finished: true });
    }
    await settle();
    const archive = { name: "a-1", original_size: 90_000, compressed_size: 45_000, deduplicated_size: 900, nfiles: 900 };
    await h.finish("a", "success", { archive });
    await waitFor(() => h!.published("running_now") === "none", "nothing running");
    await waitFor(() => h!.published("bytes_processed") === 90_000, "the bytes of a's archive");
    expect(h.published("files_processed")).toBe(900);
  });

  it("a write the rate gate refused at a run's end is made once the gate opens: Bytes, Files and Progress do not stay stale", async () => {
    // the gate counts with performance.now(): faked too, so that a minute passes at once
    vi.useRealTimers();
    vi.useFakeTimers({ toFake: ["Date", "performance"] });
    vi.setSystemTime(T0);
    h = await bootCoordinator({ drones: [{ id: "a" }] });
    await h.heartbeat();
    await h.waitForPresses(1);
    await waitFor(() => h!.published("running_now") === "a", "a running");
    // no estimate yet while a runs: Progress shows unknown
    expect(h.published("progress")).toBeNull();
    await h.progress("a", 60, { original_size: 60_000, nfiles: 600 });
    // the Pause switch written WRITES_PER_MINUTE times and more: the gate is shut for the minute
    for (let turn = 0; turn < WRITES_PER_MINUTE + 20; turn++) await h.command("pause", turn % 2 === 0 ? "turn_on" : "turn_off");
    await settle();
    const archive = { name: "a-1", original_size: 90_000, compressed_size: 45_000, deduplicated_size: 900, nfiles: 900 };
    await h.finish("a", "success", { archive });
    await settle();
    h.params.backup_coordinator.entities.sync();
    expect(h.published("bytes_processed")).toBe(0);
    expect(h.published("progress")).toBeNull();
    // a minute later the gate is open: what was refused is written, not left until the runs going change again
    vi.advanceTimersByTime(61_000);
    h.params.backup_coordinator.entities.sync();
    // waitFor measures with performance.now(), frozen here: a few real turns instead
    for (let turn = 0; turn < 20 && h.published("bytes_processed") !== 90_000; turn++) await settle(10);
    expect(h.published("bytes_processed")).toBe(90_000);
    expect(h.published("files_processed")).toBe(900);
    expect(h.published("running_now")).toBe("none");
    expect(h.published("progress")).toBe(0);
  });

  it("keep well below synapse's patch limit with busy drones", async () => {
    h = await bootCoordinator({ drones: [{ id: "a" }, { id: "b", host: "h2" }, { id: "c", host: "h3" }] });
    await h.heartbeat();
    await h.waitForPresses(3);
    const start = h.sent.length;
    // three drones from 0 to 100 % over three intervals (simulated), a progress event each second each
    const seconds = (3 * PROGRESS_PUBLISH_MS) / 1000;
    for (let second = 1; second <= seconds; second++) {
      vi.setSystemTime(new Date(T0.getTime() + second * 1000));
      for (const id of ["a", "b", "c"]) await h.progress(id, Math.min(100, (second * 100) / seconds));
      await settle(2);
    }
    await settle(50);
    const patches = h.sent.slice(start).filter(message => message.type === "synapse/patch_entity");
    const intervals = (seconds * 1000) / PROGRESS_PUBLISH_MS;
    // a progress event a second from each drone: Progress and ETA at most every PROGRESS_PUBLISH_MS
    // and as the runs began, Bytes and Files only as the runs began (plus one republish of every
    // entity, when the registration completes during the loop)
    const progressSensors = ["progress", "eta", "bytes_processed", "files_processed"].map(key => `backup_coordinator_${key}`);
    const progressPatches = patches.filter(message => typeof message.unique_id === "string" && progressSensors.includes(message.unique_id));
    expect(progressPatches.length, JSON.stringify(progressPatches.map(message => message.unique_id))).toBeLessThanOrEqual(2 * (intervals + 1) + 2 + 4);
    // every write together, far below synapse's 300 a minute
    expect(patches.length / (seconds / 60)).toBeLessThan(10);
    // and still about once per interval, the progress moving faster than PROGRESS_PUBLISH_STEP per
    // interval (the last interval's sync may fall after the simulated minutes end)
    expect(patches.filter(message => message.unique_id === "backup_coordinator_progress").length).toBeGreaterThanOrEqual(intervals - 1);
  });
});
