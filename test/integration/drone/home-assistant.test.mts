import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";

import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";

import { droneEntityKeys, ENTITY_SPECS } from "../../../apps/drone/ha/entities.mjs";
import {
  COMMAND_EVENT_TYPES,
  COORDINATOR_EVENT_TYPES,
  DRONE_ENTITIES,
  DRONE_ENTITY_KEYS,
  droneDeviceId,
  entityId,
  entityObjectId,
  entityUniqueId,
  EVENT_SCHEMAS,
  EVENT_TYPES,
  type ProgressEvent,
  type StatusEvent,
} from "../../../libs/protocol/index.mjs";
import { makeTestRepository, type TestRepository } from "../../helpers/borg.mjs";
import { droneTestConfig, makeDroneRepository } from "../../helpers/drone.mjs";
import { bootHassDrone, type HassDrone, teardownCheckingSecrets } from "../../helpers/hass.mjs";
import { waitFor } from "../../helpers/wait.mjs";

const VERSION = (JSON.parse(readFileSync(join(import.meta.dirname, "..", "..", "..", "package.json"), "utf8")) as { version: string })
  .version;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/** Every fire_event matches its protocol schema, and only the drone's event types are fired. */
function expectValidEvents(drone: HassDrone) {
  const events = drone.fired();
  for (const event of events) {
    expect(Object.values(EVENT_TYPES)).toContain(event.event_type);
    const schema = EVENT_SCHEMAS[event.event_type as keyof typeof EVENT_SCHEMAS];
    expect(schema.safeParse(event.event_data).success, `${event.event_type} ${JSON.stringify(event.event_data)}`).toBe(true);
  }
  return events;
}

describe("the drone's Home Assistant device (synapse)", () => {
  const repos: TestRepository[] = [];
  const drones: HassDrone[] = [];
  const boot = async (config: Record<string, unknown>) => {
    const drone = await bootHassDrone(config);
    drones.push(drone);
    return drone;
  };

  afterEach(async () => {
    for (const drone of drones.splice(0)) {
      // the canaries: in no log line, no event, no registration or patch
      await teardownCheckingSecrets(drone);
    }
    for (const repo of repos.splice(0)) await repo.remove();
  });

  it("registers one device carrying every entity, with the drone id in every id and the HA metadata", async () => {
    const repo = await makeDroneRepository(1, 1024);
    repos.push(repo);
    const drone = await boot(droneTestConfig(repo));
    expect(drone.params.hass).toBeDefined();
    expect(drone.params.synapse).toBeDefined();
    expect(drone.params.drone.home_assistant.mode).toBe("entities");

    const registration = await waitFor(() => drone.registration(), "the registration");
    expect(registration.app_metadata.secondary_devices).toEqual([
      expect.objectContaining({
        unique_id: droneDeviceId("testdrone"),
        name: "testdrone",
        manufacturer: "backup-coordinator",
        model: "drone",
        sw_version: VERSION,
      }),
    ]);
    const keys = droneEntityKeys(false);
    expect(keys).toHaveLength(DRONE_ENTITY_KEYS.length - 4);
    const settings = drone.engine.settings();
    for (const key of DRONE_ENTITY_KEYS) {
      const entity = drone.registered(key);
      if (!keys.includes(key)) {
        expect(entity, `${key} needs an offsite repository`).toBeUndefined();
        continue;
      }
      const spec = ENTITY_SPECS[key];
      expect(entity, key).toMatchObject({
        unique_id: entityUniqueId("testdrone", key),
        suggested_object_id: entityObjectId("testdrone", key),
        device_id: droneDeviceId("testdrone"),
        name: `testdrone ${DRONE_ENTITIES[key].name}`,
        icon: expect.stringMatching(/^mdi:[a-z-]+$/),
      });
      if ("device_class" in spec) expect(entity?.device_class, key).toBe(spec.device_class);
      if ("unit_of_measurement" in spec) {
        expect(entity?.unit_of_measurement, key).toBe(spec.unit_of_measurement);
        expect(entity?.native_unit_of_measurement, key).toBe(spec.unit_of_measurement);
      }
      // never sent: synapse 25.10.19-beta.5 hands it to HA's registry as a string, which HA refuses (docs/entities.md)
      expect(entity, key).not.toHaveProperty("entity_category");
      if (spec.domain === "sensor" && spec.state_class) {
        expect(entity?.capability_attributes, key).toEqual({ state_class: spec.state_class });
      }
    }
    expect(drone.registered("archive_deduplicated_size")).toMatchObject({
      device_class: "data_size",
      unit_of_measurement: "B",
      state_class: "measurement",
      state: null,
    });
    expect(drone.registered("application_state")).toMatchObject({ device_class: "enum", state: "idle" });
    expect((drone.registered("application_state")?.capability_attributes as { options: string[] }).options).toContain("creating");
    expect(drone.registered("last_result")).toMatchObject({ device_class: "enum", state: "unknown" });
    expect(drone.registered("last_backup")).toMatchObject({ device_class: "timestamp", state: null });
    expect(drone.registered("last_error")).toMatchObject({ state: "" });
    expect(drone.registered("eta")).toMatchObject({ device_class: "duration", unit_of_measurement: "s" });
    expect(drone.registered("keep_daily")).toMatchObject({
      native_min_value: 0,
      native_max_value: 10_000,
      mode: "box",
      native_value: settings.keepDaily,
    });
    expect(drone.registered("backup_frequency")).toMatchObject({
      native_min_value: 5,
      native_max_value: 525_600,
      unit_of_measurement: "min",
      native_value: settings.frequencyMinutes,
    });
    expect(drone.registered("priority")).toMatchObject({ native_min_value: -100, native_max_value: 100, native_value: 0 });
    expect(drone.registered("application_mode")).toMatchObject({
      options: ["coordinated", "standalone", "paused"],
      current_option: settings.mode,
    });
    expect(drone.registered("keep_within")).toMatchObject({ native_value: "" });
    const pattern = new RegExp(String(drone.registered("keep_within")?.pattern));
    expect(["", "14d", "6m", "1y", "12H"].every(value => pattern.test(value))).toBe(true);
    expect(["2 weeks", "0d", "14", "d"].some(value => pattern.test(value))).toBe(false);

    // the boot status event: valid, with the entity ids HA uses (a renamed one included)
    const status = await waitFor(() => drone.fired(EVENT_TYPES.status)[0], "a status event");
    const event = status.event_data as unknown as StatusEvent;
    expect(event).toMatchObject({ drone_id: "testdrone", state: "idle", repository_host: "local:testdrone", offsite_host: null, version: VERSION });
    expect(Object.keys(event.entities).sort()).toEqual([...keys].sort());
    expect(event.entities.create_backup).toBe("button.renamed_create_backup");
    expect(event.entities.keep_within).toBe(entityId("testdrone", "keep_within"));
    expectValidEvents(drone);
    expect(drone.logs.filter(line => /^(warn|error|fatal)/.test(line))).toEqual([]);
  });

  it("each button runs its borg operation; sensors, progress and events follow", async () => {
    const repo = await makeDroneRepository(6, 256 * 1024);
    repos.push(repo);
    // one daily archive and no other rule: the full run prunes the archive before it
    const drone = await boot(droneTestConfig(repo, { KEEP_DAILY: 1, KEEP_WEEKLY: 0, KEEP_MONTHLY: 0, KEEP_YEARLY: 0 }));
    const { engine } = drone;
    const primary = engine.client("primary");
    const archives = async () => (await primary.list({ prefix: engine.archivePrefix })).value.archives.length;

    const created = await drone.nextResult("create", () => drone.press("create_backup"));
    expect(created).toMatchObject({ outcome: "success", trigger: "button" });
    expect(await archives()).toBe(1);
    await waitFor(() => drone.published("application_state") === "idle", "application_state back to idle");
    expect(drone.patches("application_state").map(data => data.state)).toEqual(expect.arrayContaining(["creating", "idle"]));
    expect(drone.published("last_backup")).toBe(engine.persisted().lastBackup);
    expect(drone.published("last_backup")).toMatch(ISO);
    expect(drone.published("last_result")).toBe("success");
    expect(drone.published("last_error")).toBe("");
    for (const key of ["archive_total_size", "archive_compressed_size", "archive_deduplicated_size"] as const) {
      expect(drone.published(key), key).toBeGreaterThan(0);
    }
    expect(drone.published("progress")).toBe(100);
    expect(drone.published("eta")).toBe(0);
    // a sub-second run: the reset, the first event and the final one at most
    expect(drone.patches("progress").length).toBeLessThanOrEqual(3);
    const progress = drone.fired(EVENT_TYPES.progress).map(event => event.event_data as unknown as ProgressEvent);
    expect(progress.filter(event => event.run_id === created.run_id).length).toBeGreaterThanOrEqual(1);
    expect(progress.some(event => event.run_id === created.run_id && event.finished && event.percent === 100)).toBe(true);
    expect(drone.fired(EVENT_TYPES.result).filter(event => event.event_data.run_id === created.run_id)).toHaveLength(1);

    const stats = await drone.nextResult("stats", () => drone.press("update_stats"));
    expect(stats.outcome).toBe("success");
    await waitFor(() => drone.published("archive_count") === 1, "archive_count 1");

    const pruned = await drone.nextResult("prune", () => drone.press("prune_backups"));
    expect(pruned.outcome).toBe("success");
    expect(engine.persisted().lastPrune).toMatch(ISO);
    await waitFor(() => drone.published("last_prune") === engine.persisted().lastPrune, "last_prune");

    const checked = await drone.nextResult("check", () => drone.press("check_repository"));
    expect(checked.outcome).toBe("success");
    await waitFor(() => drone.published("last_check") === engine.persisted().lastCheck && engine.persisted().lastCheck, "last_check");

    // the full run: create, then prune (keep-daily 1 keeps the new archive only), compact, stats
    const statesBefore = drone.patches("application_state").length;
    const scheduled = await drone.nextResult("scheduled", () => drone.press("scheduled_backup"));
    expect(scheduled.outcome).toBe("success");
    expect(scheduled.archive?.name).toMatch(/^testdrone@/);
    expect(scheduled.pruned).toHaveLength(1);
    expect(await archives()).toBe(1);
    await waitFor(() => drone.published("application_state") === "idle" && drone.published("archive_count") === 1, "idle after the run");
    const states = drone.patches("application_state").map(data => data.state);
    // each operation pressed alone shows at once
    expect(states).toEqual(expect.arrayContaining(["creating", "pruning", "updating_stats", "checking", "idle"]));
    // the scheduled run's start and end; its later steps, each shorter than STEP_SETTLE_MS, are not written
    expect(states.slice(statesBefore)).toEqual(["creating", "idle"]);
    const runStatuses = drone.fired(EVENT_TYPES.status).filter(event => event.event_data.run_id === scheduled.run_id);
    const statusStates = runStatuses.map(event => event.event_data.state);
    expect(statusStates).toContain("creating");
    for (const step of ["pruning", "compacting", "updating_stats"]) expect(statusStates).not.toContain(step);
    expect(drone.published("last_duration")).toBe(engine.persisted().lastDurationSeconds);
    // Last Result lists the newest runs from the run history, newest first, compact
    const runs = [scheduled, checked, pruned, stats, created];
    const recentRuns = () => z.object({ recent_runs: z.array(z.record(z.string(), z.unknown())) }).safeParse(drone.published("last_result", "attributes")).data?.recent_runs;
    await waitFor(() => recentRuns()?.length === runs.length, "recent_runs with every run");
    expect(recentRuns()?.map(run => run.run_id)).toEqual(runs.map(run => run.run_id));
    expect(recentRuns()?.[0]).toEqual({
      run_id: scheduled.run_id,
      operation: "scheduled",
      trigger: "button",
      outcome: "success",
      started_at: scheduled.started_at,
      duration_seconds: Math.round(scheduled.duration_seconds * 10) / 10,
      added: scheduled.archive?.deduplicated_size,
      error_kind: null,
    });
    expect(recentRuns()?.[3]).toMatchObject({ operation: "stats", added: null });

    const events = expectValidEvents(drone);
    const results = events.filter(event => event.event_type === EVENT_TYPES.result).map(event => event.event_data.operation);
    expect(results).toEqual(["create", "stats", "prune", "check", "scheduled"]);
    await waitFor(
      () => drone.fired(EVENT_TYPES.status).some(event => event.event_data.last_backup === engine.persisted().lastBackup),
      "a status event with the last backup",
    );
    expect(drone.logs.filter(line => /^(error|fatal)/.test(line))).toEqual([]);
  });

  it("Next Backup: the coordinator's plan for this drone when coordinated, its own schedule when standalone, unknown when paused", async () => {
    const repo = await makeDroneRepository(1, 1024);
    repos.push(repo);
    const drone = await boot(droneTestConfig(repo, { MODE: "coordinated", FREQUENCY_MINUTES: 120 }));
    await waitFor(() => drone.registration(), "the registration");
    expect(drone.registered("next_backup")).toMatchObject({ device_class: "timestamp", state: null });
    const plan = (data: Record<string, unknown>) =>
      drone.params.hass.socket.onMessage({ type: "event", id: 1, event: { event_type: COORDINATOR_EVENT_TYPES.plan, data } });
    const base = { v: 1, coordinator_id: "backup_coordinator", time: new Date().toISOString() };

    // another drone's plan and a malformed one change nothing
    await plan({ ...base, drone_id: "otherdrone", next_at: "2026-12-01T03:00:00.000Z", reason: "due" });
    await plan({ ...base, drone_id: "testdrone", next_at: "tomorrow", reason: "due" });
    await plan({ ...base, drone_id: "testdrone", next_at: "2026-12-02T03:00:00.000Z", reason: "due" });
    await waitFor(() => drone.published("next_backup") === "2026-12-02T03:00:00.000Z", "the planned time");
    expect(drone.patches("next_backup").map(data => data.state)).not.toContain("2026-12-01T03:00:00.000Z");
    await plan({ ...base, drone_id: "testdrone", next_at: null, reason: "paused" });
    await waitFor(() => drone.published("next_backup") === null, "no planned time");

    // standalone: its own schedule (never backed up: now), then last backup + frequency
    await drone.selectOption("application_mode", "standalone");
    await waitFor(() => typeof drone.published("next_backup") === "string", "the drone's own next run");
    const created = await drone.nextResult("create", () => drone.press("create_backup"));
    expect(created.outcome).toBe("success");
    const expected = new Date(Date.parse(drone.engine.persisted().lastBackup!) + 120 * 60_000).toISOString();
    await waitFor(() => drone.published("next_backup") === expected, "last backup + 120 min");

    // paused: unknown, whatever was planned
    await drone.selectOption("application_mode", "paused");
    await waitFor(() => drone.published("next_backup") === null, "unknown when paused");
  });

  it("a run the coordinator says it started is re-labelled trigger coordinator (live status and result)", async () => {
    const repo = await makeDroneRepository(4, 256 * 1024);
    repos.push(repo);
    const drone = await boot(droneTestConfig(repo));
    await waitFor(() => drone.registration(), "the registration");
    const started = (data: Record<string, unknown>) =>
      drone.params.hass.socket.onMessage({ type: "event", id: 1, event: { event_type: COORDINATOR_EVENT_TYPES.runStarted, data } });
    const base = { v: 1, coordinator_id: "home_coordinator", drone_id: "testdrone", kind: "primary", time: new Date().toISOString() };

    const answer = drone.engine.request("scheduled", "button");
    if (!answer.accepted) throw new Error(answer.reason);
    // not ours, or another run, or another drone: nothing changes
    await started({ ...base, ours: false, run_id: answer.runId });
    await started({ ...base, ours: true, run_id: "another-run" });
    await started({ ...base, drone_id: "otherdrone", ours: true, run_id: answer.runId });
    expect(drone.engine.live().trigger).toBe("button");
    await started({ ...base, ours: true, run_id: answer.runId });
    expect(drone.engine.live()).toMatchObject({ runId: answer.runId, trigger: "coordinator" });
    const result = await answer.done;
    expect(result).toMatchObject({ run_id: answer.runId, trigger: "coordinator", outcome: "success" });
    const fired = drone.fired(EVENT_TYPES.result).filter(event => event.event_data.run_id === answer.runId);
    expect(fired.map(event => event.event_data.trigger)).toEqual(["coordinator"]);
  });

  it("while a run's next step waits to be shown, another change (the mode) is shown at once, Application State still at the step shown", async () => {
    const repo = await makeDroneRepository(2, 16 * 1024);
    repos.push(repo);
    const gate = join(repo.root, "after-hook.gate");
    writeFileSync(gate, "");
    // the after hook (the run's last step) waits until the test removes the gate
    const drone = await boot(droneTestConfig(repo, { HOOK_AFTER: `while [ -e ${gate} ]; do sleep 0.1; done` }));
    await waitFor(() => drone.registration(), "the registration");
    const answer = drone.engine.request("scheduled", "button");
    if (!answer.accepted) throw new Error(answer.reason);
    await waitFor(() => drone.engine.live().state === "running_hooks", "the after hook");
    // the run moved on from creating: that step change waits, so HA still shows creating
    await drone.selectOption("application_mode", "standalone");
    const modeStatus = await waitFor(
      () => drone.fired(EVENT_TYPES.status).find(event => event.event_data.run_id === answer.runId && event.event_data.mode === "standalone"),
      "a status with the new mode during the run",
    );
    expect(modeStatus.event_data.state).toBe("creating");
    await waitFor(() => drone.published("application_mode", "current_option") === "standalone", "Application Mode written");
    expect(drone.published("application_state")).toBe("creating");
    expect(drone.engine.live().state).toBe("running_hooks");
    rmSync(gate);
    await expect(answer.done).resolves.toMatchObject({ outcome: "success" });
    await waitFor(() => drone.published("application_state") === "idle", "idle after the run");
  });

  it("a held prune shows in Home Assistant (result, Last Result, Prune Hold, status), and Release Prune Hold lets the next run prune", async () => {
    const repo = await makeDroneRepository(8, 64 * 1024);
    repos.push(repo);
    const drone = await boot(droneTestConfig(repo, { KEEP_DAILY: 1, KEEP_WEEKLY: 0, KEEP_MONTHLY: 0, KEEP_YEARLY: 0 }));
    const { engine } = drone;
    const archives = async () => (await engine.client("primary").list({ prefix: engine.archivePrefix })).value.archives.length;
    expect((await drone.nextResult("create", () => drone.press("create_backup"))).outcome).toBe("success");
    expect((await drone.nextResult("create", () => drone.press("create_backup"))).outcome).toBe("success");
    await waitFor(() => drone.published("prune_hold") === "clear", "prune_hold clear");

    // six of eight files gone: the guard holds prune
    const source = join(repo.root, "source");
    for (const name of (await readdir(source)).slice(0, 6)) await rm(join(source, name));
    const held = await drone.nextResult("scheduled", () => drone.press("scheduled_backup"));
    expect(held).toMatchObject({ outcome: "held", error_kind: "prune_held", pruned: [] });
    expect(await archives()).toBe(3);
    await waitFor(() => drone.published("prune_hold") === "held", "prune_hold held");
    expect(drone.published("last_result")).toBe("held");
    expect(String(drone.published("last_error"))).toContain("file count fell by 75 %");
    const heldStatus = await waitFor(
      () => drone.fired(EVENT_TYPES.status).map(event => event.event_data as unknown as StatusEvent).find(event => event.prune_hold),
      "a status event with prune_hold",
    );
    expect(heldStatus.prune_hold?.archive).toBe(held.archive?.name);

    await drone.press("release_prune_hold");
    await waitFor(() => drone.published("prune_hold") === "clear", "prune_hold clear after the release");
    expect(engine.persisted().pruneHold).toBeNull();
    await waitFor(
      () => drone.fired(EVENT_TYPES.status).map(event => event.event_data as unknown as StatusEvent).at(-1)?.prune_hold === null,
      "a status event without a hold",
    );
    const pruned = await drone.nextResult("prune", () => drone.press("prune_backups"));
    expect(pruned.outcome).toBe("success");
    expect(await archives()).toBe(1);
    expectValidEvents(drone);
  });

  it("a press while busy follows the queue rule: another operation waits, the same one is refused", async () => {
    const repo = await makeDroneRepository(12, 1024 * 1024);
    repos.push(repo);
    const drone = await boot(droneTestConfig(repo));
    await drone.press("create_backup");
    await drone.press("update_stats");
    await drone.press("create_backup");
    // synapse hands presses on asynchronously: wait for the third to be answered
    await waitFor(
      () => drone.logs.some(line => line.includes("create (button) refused: create is already running")),
      "the refusal of the second create",
    );
    expect(drone.engine.live()).toMatchObject({ operation: "create", queue: ["stats"] });
    const created = await drone.firstResult("create");
    const stats = await drone.firstResult("stats");
    expect(created.outcome).toBe("success");
    expect(stats.outcome).toBe("success");
    expect(Date.parse(stats.started_at)).toBeGreaterThanOrEqual(Date.parse(created.finished_at));
    expect(drone.fired(EVENT_TYPES.result).map(event => event.event_data.operation)).toEqual(["create", "stats"]);
    expectValidEvents(drone);
  });

  it("an offsite repository adds the offsite entities; Offsite Backup runs borg against it", async () => {
    const repo = await makeDroneRepository(2, 64 * 1024);
    const offsite = await makeTestRepository();
    repos.push(repo, offsite);
    const drone = await boot(droneTestConfig(repo, { OFFSITE_REPOSITORY: offsite.repository.location }));
    await waitFor(() => drone.registration(), "the registration");
    for (const key of ["offsite_backup", "offsite_frequency", "last_offsite_backup", "offsite_size"] as const) {
      expect(drone.registered(key), key).toMatchObject({ unique_id: entityUniqueId("testdrone", key) });
    }
    expect(drone.registered("offsite_frequency")).toMatchObject({ native_value: 10_080 });

    const result = await drone.nextResult("offsite", () => drone.press("offsite_backup"));
    expect(result).toMatchObject({ outcome: "success", repository: "offsite" });
    expect((await offsite.client.list({})).value.archives).toHaveLength(1);
    await waitFor(() => drone.published("last_offsite_backup") === drone.engine.persisted().lastOffsiteBackup, "last_offsite_backup");
    expect(drone.published("last_offsite_backup")).toMatch(ISO);
    expect(drone.published("offsite_size")).toBeGreaterThan(0);
    const status = await waitFor(
      () => drone.fired(EVENT_TYPES.status).find(event => event.event_data.last_offsite_backup !== null),
      "a status event after the offsite run",
    );
    expect(status.event_data).toMatchObject({ offsite_host: "local:testdrone", offsite_frequency_minutes: 10_080 });
    // the entity-id map went out once (with the offsite entities); since then it is unchanged and left out
    const withMap = drone.fired(EVENT_TYPES.status).filter(event => event.event_data.entities_unchanged !== true);
    expect(Object.keys(withMap.at(-1)?.event_data.entities as object)).toHaveLength(DRONE_ENTITY_KEYS.length);
    expect(status.event_data).toMatchObject({ entities: {}, entities_unchanged: true });
    // a status command is answered with the map, whoever asks (a coordinator that restarted)
    const count = drone.fired(EVENT_TYPES.status).length;
    await drone.params.hass.socket.onMessage({
      type: "event",
      id: 1,
      event: {
        event_type: COMMAND_EVENT_TYPES.command,
        data: { v: 1, drone_id: "testdrone", action: "status", request_id: "map-1", sender: "test", time: new Date().toISOString() },
      },
    });
    const answered = await waitFor(() => drone.fired(EVENT_TYPES.status)[count], "the status answering the command");
    expect(answered.event_data).not.toHaveProperty("entities_unchanged");
    expect(Object.keys(answered.event_data.entities as object)).toHaveLength(DRONE_ENTITY_KEYS.length);
    expectValidEvents(drone);
  });

  it("at shutdown the interrupted run's result and the idle state reach HA before synapse goes offline", async () => {
    const repo = await makeDroneRepository(60, 4 * 1024 * 1024);
    repos.push(repo);
    const drone = await boot(droneTestConfig(repo));
    await drone.press("create_backup");
    await waitFor(() => drone.published("application_state") === "creating", "the create to start");
    // borg reports progress 5 times a second and the engine passes every report on here
    // (PROGRESS_INTERVAL_MS 0): the entities still change at most every 5 s
    const running = () => drone.fired(EVENT_TYPES.progress).filter(event => event.event_data.finished === false);
    await waitFor(() => running().length >= 3, "three progress events");
    expect(drone.patches("progress").length).toBeLessThanOrEqual(1);
    expect(drone.patches("eta").length).toBeLessThanOrEqual(1);
    await drone.teardown();

    const types = drone.sent.map(message =>
      message.type === "fire_event" ? String(message.event_type) : message.type === "synapse/patch_entity" ? `patch ${String(message.unique_id)}` : message.type,
    );
    const offline = types.indexOf("synapse/going_offline");
    expect(offline).toBeGreaterThan(0);
    const before = drone.sent.slice(0, offline);
    const result = before.find(message => message.event_type === EVENT_TYPES.result);
    expect(result?.event_data).toMatchObject({ operation: "create", outcome: "interrupted" });
    expect(drone.published("application_state")).toBe("idle");
    expect(types.lastIndexOf(`patch ${entityUniqueId("testdrone", "application_state")}`)).toBeLessThan(offline);
    const lastStatus = before.filter(message => message.event_type === EVENT_TYPES.status).at(-1);
    expect(lastStatus?.event_data).toMatchObject({ state: "idle", operation: null });
    expect(types.slice(offline + 1).filter(type => type.startsWith("backup_drone") || type.startsWith("patch"))).toEqual([]);
    expect(drone.logs.filter(line => line.includes("blocked synapse socket message"))).toEqual([]);
    expectValidEvents(drone);
  });
});
