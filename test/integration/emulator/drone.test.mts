/**
 * The real `backup-drone daemon` (unmodified DA hass and synapse clients) against the
 * loopback Home Assistant and a real borg repository: the device and entities it registers,
 * a button pressed in HA that runs borg, settings changed from the UI, and going offline.
 * The tests run in order on one drone (each boot costs a few seconds).
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

import {
  COMMAND_EVENT_TYPES,
  commandAckEventSchema,
  COORDINATOR_EVENT_TYPES,
  DRONE_ENTITIES,
  DRONE_ENTITY_KEYS,
  droneDeviceId,
  type DroneEntityKey,
  entityId,
  entityUniqueId,
  EVENT_TYPES,
  progressEventSchema,
  resultEventSchema,
  statusEventSchema,
} from "../../../libs/protocol/index.mjs";
import { type DroneProcess, spawnDrone } from "../../emulator/drone-process.mjs";
import { type FiredEvent, type HaEmulator, type HassState, startEmulator } from "../../emulator/index.mjs";
import { TEST_PASSPHRASE, type TestRepository } from "../../helpers/borg.mjs";
import { makeDroneRepository } from "../../helpers/drone.mjs";
import { writeRandomFiles } from "../../helpers/fs.mjs";
import { builtBin, startProcess } from "../../helpers/process.mjs";

const TOKEN = "canary-emulator-token-81d2";
const DRONE_ID = "emudrone";
const APP_ID = `backup-drone-${DRONE_ID}`;

let ha: HaEmulator;
let repo: TestRepository;
let drone: DroneProcess;
const haLog: string[] = [];

beforeAll(async () => {
  ha = await startEmulator({ token: TOKEN, log: line => void haLog.push(line) });
  repo = await makeDroneRepository(4, 64 * 1024);
  drone = await spawnDrone({
    url: ha.url,
    token: TOKEN,
    passphrase: TEST_PASSPHRASE,
    dir: repo.root,
    drone: {
      DRONE_ID,
      REPOSITORY: repo.repository.location,
      SOURCES: [join(repo.root, "source")],
      STATE_DIR: join(repo.root, "state"),
      BORG_BASE_DIR: repo.repository.baseDir,
      LOCK_WAIT_SECONDS: 2,
      // slow enough on the cancel test's 16 MiB to press Cancel while borg reads
      COMPRESSION: "lzma,9",
      // the cancel tests press Cancel once progress shows borg reading: live progress, not once a minute
      PROGRESS_INTERVAL_MS: 200,
    },
    appUniqueId: APP_ID,
  });
  await ha.waitFor(() => ha.applications().find(app => app.unique_id === APP_ID && app.online), 30_000, "the drone's synapse app online");
  // HA adds the entities just after it answers the registration
  await ha.waitFor(() => ha.state(entityId(DRONE_ID, "application_state")), 10_000, "the drone's entities in the state machine");
}, 60_000);

afterAll(async () => {
  await drone?.stop();
  await ha?.stop();
  await repo?.remove();
});

const idOf = (key: DroneEntityKey) => {
  const id = ha.entityIdFor(entityUniqueId(DRONE_ID, key));
  if (!id) throw new Error(`${key} is not in the entity registry`);
  return id;
};
const stateOf = (key: DroneEntityKey) => ha.state(idOf(key))?.state;
const since = (index: number, type: string) => ha.events().slice(index).filter(event => event.event_type === type);
const stateChanges = (events: FiredEvent[], entity: string) =>
  events
    .filter(event => event.event_type === "state_changed" && event.data.entity_id === entity)
    .map(event => (event.data.new_state as HassState | null)?.state);

describe("a drone daemon against the loopback Home Assistant", () => {
  it("registers one device with every entity, under the drone's unique ids and entity ids", () => {
    const keys = DRONE_ENTITY_KEYS.filter(key => !("offsite" in DRONE_ENTITIES[key]));
    const device = ha.deviceRegistry().find(entry => entry.identifiers.some(([domain, id]) => domain === "synapse" && id === droneDeviceId(DRONE_ID)));
    expect(device).toMatchObject({ name: DRONE_ID, manufacturer: "backup-coordinator", model: "drone" });
    // the app's own device, which synapse checks to know it is registered
    expect(ha.deviceRegistry().some(entry => entry.identifiers.some(([, id]) => id === APP_ID))).toBe(true);

    const registry = ha.entityRegistry().filter(entry => entry.platform === "synapse" && entry.device_id === device?.id);
    for (const key of keys) {
      const entry = registry.find(item => item.unique_id === entityUniqueId(DRONE_ID, key));
      expect(entry, key).toBeDefined();
      expect(entry?.entity_id).toBe(entityId(DRONE_ID, key));
      expect(ha.state(entityId(DRONE_ID, key))?.state, key).not.toBe("unavailable");
    }
    expect(ha.state(entityId(DRONE_ID, "application_state"))).toMatchObject({
      state: "idle",
      attributes: { device_class: "enum", friendly_name: `${DRONE_ID} Application State` },
    });
    expect(ha.state(entityId(DRONE_ID, "keep_daily"))?.attributes).toMatchObject({ min: 0, max: 10_000, step: 1 });

    const online = ha.entityIdFor(`${APP_ID}-online`);
    expect(online).toMatch(/^binary_sensor\./);
    expect(ha.state(online ?? "")?.state).toBe("on");
    expect(haLog.some(line => line.includes("registered ("))).toBe(true);
  });

  it("a press of Create Backup in HA reaches the drone: borg creates an archive, the state goes creating → idle, events on the bus", async () => {
    // synapse sends entity patches once it sees itself registered; it heartbeats from then on
    await ha.waitFor(
      () => (ha.applications().some(app => app.unique_id === APP_ID && app.lastHeartbeat !== null) ? true : undefined),
      30_000,
      "the drone's first heartbeat",
    );
    const start = ha.events().length;
    const button = idOf("create_backup");
    await ha.callService("button", "press", { entity_id: button });
    // HA itself writes the press time as the button's state
    expect(Date.parse(ha.state(button)?.state ?? "")).not.toBeNaN();

    const resultEvent = await ha.waitFor(
      () => since(start, EVENT_TYPES.result).find(event => event.data.operation === "create"),
      60_000,
      "the create result event",
    );
    const result = resultEventSchema.parse(resultEvent.data);
    expect(result).toMatchObject({ drone_id: DRONE_ID, operation: "create", outcome: "success", trigger: "button" });
    expect(result.archive?.name).toMatch(new RegExp(`^${DRONE_ID}@`));
    const archives = await repo.client.list();
    expect(archives.value.archives.map(archive => archive.name)).toContain(result.archive?.name);

    const progress = since(start, EVENT_TYPES.progress).map(event => progressEventSchema.parse(event.data));
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.every(event => event.run_id === result.run_id)).toBe(true);
    await ha.waitFor(() => (stateOf("application_state") === "idle" ? true : undefined), 10_000, "Application State back to idle");
    const states = stateChanges(ha.events().slice(start), idOf("application_state"));
    expect(states).toContain("creating");
    expect(states.at(-1)).toBe("idle");
    const status = since(start, EVENT_TYPES.status).map(event => statusEventSchema.parse(event.data));
    expect(status.some(event => event.state === "creating")).toBe(true);
    expect(Date.parse(stateOf("last_backup") ?? "")).not.toBeNaN();
    // the run history reaches HA as Last Result's attribute
    const recent = await ha.waitFor(
      () => {
        const runs = z.object({ recent_runs: z.array(z.object({ run_id: z.string(), outcome: z.string(), trigger: z.string() })) }).safeParse(ha.state(idOf("last_result"))?.attributes);
        return runs.success && runs.data.recent_runs[0]?.run_id === result.run_id ? runs.data.recent_runs : undefined;
      },
      10_000,
      "recent_runs on Last Result",
    );
    expect(recent[0]).toMatchObject({ outcome: "success", trigger: "button" });
    expect(ha.state(idOf("last_duration"))?.attributes).toMatchObject({ state_class: "measurement" });
  });

  it("Cancel pressed during a create: borg stops, the result says interrupted, cancelled, by the button; a checkpoint is kept; the next create succeeds; Cancel when idle is only logged", async () => {
    await writeRandomFiles(join(repo.root, "source", "big"), 16, 1024 * 1024);
    const start = ha.events().length;
    await ha.callService("button", "press", { entity_id: idOf("create_backup") });
    await ha.waitFor(
      () => since(start, EVENT_TYPES.progress).find(event => progressEventSchema.parse(event.data).original_size >= 2 * 1024 * 1024),
      60_000,
      "a create well under way",
    );
    await ha.callService("button", "press", { entity_id: idOf("cancel") });
    const resultEvent = await ha.waitFor(() => since(start, EVENT_TYPES.result).find(event => event.data.operation === "create"), 60_000, "the create result");
    expect(resultEventSchema.parse(resultEvent.data)).toMatchObject({
      operation: "create",
      trigger: "button",
      outcome: "interrupted",
      error_kind: "cancelled",
      cancelled_by: "Home Assistant (Cancel button)",
      error: "cancelled by Home Assistant (Cancel button); borg kept a checkpoint, and the next run reuses what it uploaded until then",
    });
    const withCheckpoints = (await repo.client.list({ considerCheckpoints: true })).value.archives.map(archive => archive.name);
    expect(withCheckpoints.filter(name => name.endsWith(".checkpoint"))).toHaveLength(1);
    await ha.waitFor(() => (stateOf("application_state") === "idle" ? true : undefined), 10_000, "Application State back to idle");

    // nothing runs: the press is logged, nothing fails, no result
    const idle = ha.events().length;
    await ha.callService("button", "press", { entity_id: idOf("cancel") });
    await drone.waitForOutput(/cancel \(Home Assistant \(Cancel button\)\): nothing is running or queued/, 10_000);
    expect(since(idle, EVENT_TYPES.result)).toEqual([]);

    const next = ha.events().length;
    await ha.callService("button", "press", { entity_id: idOf("create_backup") });
    const nextEvent = await ha.waitFor(() => since(next, EVENT_TYPES.result).find(event => event.data.operation === "create"), 120_000, "the next create result");
    expect(resultEventSchema.parse(nextEvent.data)).toMatchObject({ outcome: "success", cancelled_by: null });
  }, 240_000);

  it("Cancel pressed in HA, and the cancel command, reach a create started in a terminal (another process): it ends cancelled by them; the ack names that process", async () => {
    const bin = await builtBin("backup-drone");
    const configFile = join(repo.root, `backup_drone.${DRONE_ID}.json`);
    let round = 0;
    const terminalCreate = async () => {
      // new data each time: what the repository holds already is read fast, without compression
      await writeRandomFiles(join(repo.root, "source", `terminal-${++round}`), 16, 1024 * 1024);
      const create = startProcess(bin, ["create", "--json", "--config", configFile], { cwd: repo.root, env: { DRONE_PASSPHRASE: TEST_PASSPHRASE } });
      // the progress events on stdout: borg is reading the sources
      await create.waitFor(/"original_size":[1-9]\d{6,}/, 60_000);
      return create;
    };
    const lastResult = (stdout: string) => resultEventSchema.parse(JSON.parse(stdout.trim().split("\n").at(-1) ?? "null"));

    const pressed = await terminalCreate();
    await ha.callService("button", "press", { entity_id: idOf("cancel") });
    const afterPress = await pressed.done;
    expect(afterPress.code, afterPress.stderr).toBe(3);
    expect(lastResult(afterPress.stdout)).toMatchObject({ operation: "create", outcome: "interrupted", error_kind: "cancelled", cancelled_by: "Home Assistant (Cancel button)" });
    await drone.waitForOutput(new RegExp(`cancel \\(Home Assistant \\(Cancel button\\)\\): asked pid ${pressed.pid}, which runs create`), 10_000);

    const commanded = await terminalCreate();
    const start = ha.events().length;
    ha.fireEvent(COMMAND_EVENT_TYPES.command, { v: 1, drone_id: DRONE_ID, action: "cancel", request_id: "cancel-terminal-1", sender: "test automation", time: new Date().toISOString() });
    const ack = await ha.waitFor(() => since(start, COMMAND_EVENT_TYPES.ack).find(event => event.data.request_id === "cancel-terminal-1"), 10_000, "the cancel's ack");
    expect(commandAckEventSchema.parse(ack.data)).toMatchObject({ accepted: true, reason: expect.stringContaining(`asked pid ${commanded.pid}`) });
    const afterCommand = await commanded.done;
    expect(afterCommand.code, afterCommand.stderr).toBe(3);
    expect(lastResult(afterCommand.stdout)).toMatchObject({ operation: "create", outcome: "interrupted", error_kind: "cancelled", cancelled_by: "test automation" });
    expect(lastResult(afterCommand.stdout).run_id).toBe(commandAckEventSchema.parse(ack.data).run_id);
  }, 240_000);

  it("Next Backup shows the coordinator's plan for this drone, fired on HA's bus; another drone's plan is ignored", async () => {
    const plan = (droneId: string, nextAt: string | null, reason: string) =>
      ha.fireEvent(COORDINATOR_EVENT_TYPES.plan, { v: 1, coordinator_id: "backup_coordinator", drone_id: droneId, time: new Date().toISOString(), next_at: nextAt, reason });
    plan("otherdrone", "2026-12-01T03:00:00.000Z", "due");
    plan(DRONE_ID, "2026-12-02T03:00:00.000Z", "due");
    await ha.waitFor(() => (Date.parse(stateOf("next_backup") ?? "") === Date.parse("2026-12-02T03:00:00.000Z") ? true : undefined), 10_000, "Next Backup");
    const changes = stateChanges(ha.events(), idOf("next_backup"));
    expect(changes.some(state => Date.parse(state ?? "") === Date.parse("2026-12-01T03:00:00.000Z"))).toBe(false);
    expect(ha.state(idOf("next_backup"))?.attributes).toMatchObject({ device_class: "timestamp" });
    plan(DRONE_ID, null, "paused");
    await ha.waitFor(() => (stateOf("next_backup") === "unknown" ? true : undefined), 10_000, "Next Backup unknown");
  });

  it("a number set from the UI reaches the drone and shows; HA refuses an out-of-range value, the drone an invalid one", async () => {
    const keepDaily = idOf("keep_daily");
    expect(stateOf("keep_daily")).toBe("7");
    await ha.callService("number", "set_value", { entity_id: keepDaily, value: 3 });
    await ha.waitFor(() => (stateOf("keep_daily") === "3" ? true : undefined), 10_000, "Keep Daily 3");

    // outside the entity's min/max: HA answers with a validation error and never asks the drone
    const refused = ha.callService("number", "set_value", { entity_id: keepDaily, value: 20_000 });
    await expect(refused).rejects.toMatchObject({ code: "service_validation_error", message: expect.stringContaining("outside valid range") as unknown });

    // in range for HA, not for the drone (not a whole number): the drone refuses and says the old value again
    const start = ha.events().length;
    await ha.callService("number", "set_value", { entity_id: keepDaily, value: 2.5 });
    await ha.waitFor(
      () => since(start, "synapse/update").find(event => event.data.unique_id === entityUniqueId(DRONE_ID, "keep_daily")),
      10_000,
      "the drone's answer to 2.5",
    );
    await drone.waitForOutput(/keep_daily: 2\.5 rejected/, 10_000);
    expect(stateOf("keep_daily")).toBe("3");

    // a select and a text go the same way
    await ha.callService("select", "select_option", { entity_id: idOf("application_mode"), option: "paused" });
    await ha.waitFor(() => (stateOf("application_mode") === "paused" ? true : undefined), 10_000, "Application Mode paused");
    await expect(ha.callService("select", "select_option", { entity_id: idOf("application_mode"), option: "sometimes" })).rejects.toMatchObject({
      code: "service_validation_error",
    });
    await ha.callService("text", "set_value", { entity_id: idOf("keep_within"), value: "14d" });
    await ha.waitFor(() => (stateOf("keep_within") === "14d" ? true : undefined), 10_000, "Keep Within 14d");
  });

  it("never puts the passphrase or the token in an event or a state", () => {
    const everything = JSON.stringify([ha.events(), ha.states(), ha.entityRegistry()]);
    expect(everything).not.toContain(TEST_PASSPHRASE);
    expect(everything).not.toContain(TOKEN);
    expect(drone.output()).not.toContain(TEST_PASSPHRASE);
    expect(drone.output()).not.toContain(TOKEN);
  });

  it("keeps synapse's database readable by its owner only (mode 0600), like the state file", async () => {
    const state = join(repo.root, "state");
    expect((await stat(join(state, `${DRONE_ID}.synapse.db`))).mode & 0o777).toBe(0o600);
    expect((await stat(join(state, `${DRONE_ID}.json`))).mode & 0o777).toBe(0o600);
  });

  it("stopped, the drone tells HA it goes offline: the online sensor turns off and its entities become unavailable", async () => {
    const online = ha.entityIdFor(`${APP_ID}-online`) ?? "";
    const finished = await drone.stop();
    expect(finished.code).toBe(0);
    await ha.waitFor(() => (ha.state(online)?.state === "off" ? true : undefined), 10_000, "the online sensor off");
    await ha.waitFor(() => (stateOf("application_state") === "unavailable" ? true : undefined), 10_000, "the entities unavailable");
    expect(ha.applications().find(app => app.unique_id === APP_ID)).toMatchObject({ online: false, connected: false });
    expect(haLog.some(line => line.includes("going offline gracefully"))).toBe(true);
    // unavailable, but HA keeps showing what the entity is
    expect(ha.state(idOf("keep_daily"))?.attributes).toMatchObject({ min: 0, max: 10_000, friendly_name: `${DRONE_ID} Keep Daily` });
  });
});
