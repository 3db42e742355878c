/**
 * Drones through the real synapse integration (a checkout named by SYNAPSE_EXTENSION_DIR,
 * never part of this repository) on a real Home Assistant: added through the integration's
 * config flow as a person does from Settings, their device and entities as HA shows them,
 * buttons, numbers and selects used through HA's own services. Where the integration still
 * differs from what the drone declares, an `it.fails` names the finding of issue 14: it
 * passes while the behaviour lasts and fails (to be turned into a plain `it`) once fixed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { ENTITY_SPECS, droneEntityKeys, type EntitySpec } from "../../apps/drone/ha/entities.mjs";
import { droneDeviceId, type DroneEntityKey, entityId, entityUniqueId, EVENT_TYPES } from "../../libs/protocol/index.mjs";
import { type DroneProcess } from "../emulator/drone-process.mjs";
import { type TestRepository } from "../helpers/borg.mjs";
import { makeDroneRepository } from "../helpers/drone.mjs";
import { droneEvents, startDrone } from "../homeassistant/apps.mjs";
import { HaCommandError } from "../homeassistant/client.mjs";
import { type HaState, type HomeAssistant, startHomeAssistant } from "../homeassistant/instance.mjs";
import { formatEntry } from "../homeassistant/log.mjs";

const CHECKOUT = process.env.SYNAPSE_EXTENSION_DIR?.trim() ?? "";

let ha: HomeAssistant;
const repos: TestRepository[] = [];
const drones = new Map<string, DroneProcess>();

async function drone(droneId: string) {
  const repo = await makeDroneRepository(4, 64 * 1024);
  repos.push(repo);
  // paused: nothing runs unless a button is pressed
  const started = await startDrone({ ha, repo, droneId, drone: { MODE: "paused" } });
  drones.set(droneId, started);
  // synapse answers discovery only once it is up and sees itself unregistered
  await started.waitForOutput(/application is not registered in hass/, 60_000);
  return { repo, process: started };
}

const flowSchema = (value: unknown) => value as { flow_id: string; type: string; step_id?: string; data_schema?: { name: string; options?: [string, string][] }[]; title?: string; errors?: Record<string, string> };

/** The integration's config flow over HA's REST API, as the Settings page drives it. */
async function flow(path: string, body: Record<string, unknown>) {
  const response = await fetch(`${ha.url}/api/config/config_entries/${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${ha.adminToken}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  expect(response.status, `POST ${path}`).toBe(200);
  return flowSchema(await response.json());
}

/** What the drone declares for an entity, in the shape HA shows it (state attributes and registry). */
function declared(key: DroneEntityKey, spec: EntitySpec) {
  const attributes: Record<string, unknown> = { icon: spec.icon };
  if ("device_class" in spec && spec.device_class) attributes.device_class = spec.device_class;
  if ("unit_of_measurement" in spec && spec.unit_of_measurement) attributes.unit_of_measurement = spec.unit_of_measurement;
  if ("state_class" in spec && spec.state_class) attributes.state_class = spec.state_class;
  if (spec.domain === "sensor" && spec.options) attributes.options = [...spec.options];
  if (spec.domain === "select" && spec.options !== "archives") attributes.options = [...spec.options];
  if (spec.domain === "number") Object.assign(attributes, { min: spec.native_min_value, max: spec.native_max_value, step: spec.step, mode: spec.mode });
  return { entity_id: entityId("alpha", key), entity_category: "entity_category" in spec ? (spec.entity_category ?? null) : null, attributes };
}

const stateOf = async (entity: string): Promise<HaState | undefined> => (await ha.states()).find(state => state.entity_id === entity);

describe.skipIf(CHECKOUT === "")(`drones through the synapse integration of ${CHECKOUT || "SYNAPSE_EXTENSION_DIR"}`, () => {
  beforeAll(async () => {
    ha = await startHomeAssistant({ synapseDir: CHECKOUT });
  }, 900_000);

  afterAll(async () => {
    await Promise.all([...drones.values()].map(running => running.stop()));
    await ha?.remove();
    await Promise.all(repos.map(repo => repo.remove()));
  });

  it("a waiting drone answers the config flow; picked, HA adds it and it registers", async () => {
    const alpha = await drone("alpha");
    const form = await flow("flow", { handler: "synapse", show_advanced_options: false });
    expect(form).toMatchObject({ type: "form", step_id: "user" });
    expect(form.data_schema?.[0]?.options).toEqual([["backup_drone", "Backup drone alpha"]]);
    const done = await flow(`flow/${form.flow_id}`, { name: "backup_drone" });
    expect(done).toMatchObject({ type: "create_entry", title: "Backup drone alpha" });
    await alpha.process.waitForOutput(/application confirmed registration/, 60_000);
    expect(ha.version).toBe(ha.venv.haVersion);
  });

  it("its device and every entity exist with the domain, device class, unit, state class, category, options and icon it declares", async () => {
    const devices = await ha.deviceRegistry();
    const device = devices.find(entry => entry.identifiers.some(([domain, id]) => domain === "synapse" && id === droneDeviceId("alpha")));
    expect(device).toMatchObject({ name: "alpha", manufacturer: "backup-coordinator", model: "drone" });
    const registry = (await ha.entityRegistry()).filter(entry => entry.platform === "synapse" && entry.device_id === device?.id);
    const states = await ha.states();
    const keys = droneEntityKeys(false);
    expect(registry.map(entry => entry.unique_id).sort()).toEqual(keys.map(key => entityUniqueId("alpha", key)).sort());
    for (const key of keys) {
      const spec = ENTITY_SPECS[key];
      const expected = declared(key, spec);
      const entry = registry.find(item => item.unique_id === entityUniqueId("alpha", key));
      expect(entry?.entity_id, key).toBe(expected.entity_id);
      expect(entry?.entity_category ?? null, `${key} entity_category`).toBe(expected.entity_category);
      const state = states.find(item => item.entity_id === expected.entity_id);
      expect(state?.state, `${key} state`).not.toBe("unavailable");
      expect(state?.attributes, key).toMatchObject(expected.attributes);
    }
  });

  it.fails("finding 5: HA honours a text entity's pattern and length (text.py reads only native_value)", async () => {
    const spec = ENTITY_SPECS.keep_within;
    expect((await stateOf(entityId("alpha", "keep_within")))?.attributes).toMatchObject({ pattern: spec.pattern, min: spec.native_min, max: spec.native_max });
  });

  it("Create Backup pressed through HA's button.press runs borg, and the result comes back as an event", async () => {
    const button = entityId("alpha", "create_backup");
    await ha.callService("button", "press", { entity_id: button });
    const result = await ha.waitFor(
      () => droneEvents(ha, EVENT_TYPES.result, "alpha").find(({ data }) => data.operation === "create"),
      120_000,
      "the create result",
    );
    expect(result.data).toMatchObject({ outcome: "success", trigger: "button" });
    expect((await repos[0]?.client.list())?.value.archives.map(archive => archive.name)).toContain(result.data.archive?.name);
    await ha.waitFor(async () => ((await stateOf(entityId("alpha", "last_result")))?.state === "success" ? true : undefined), 30_000, "Last Result success");
  });

  it("numbers and selects set through HA's services reach the drone; values HA's own checks refuse never do", async () => {
    const keepDaily = entityId("alpha", "keep_daily");
    await ha.callService("number", "set_value", { entity_id: keepDaily, value: 3 });
    await ha.waitFor(async () => ((await stateOf(keepDaily))?.state === "3" ? true : undefined), 30_000, "Keep Daily 3");
    await drones.get("alpha")?.waitForOutput(/alpha keep_daily set to 3 from Home Assistant/, 10_000);
    await expect(ha.callService("number", "set_value", { entity_id: keepDaily, value: 20_000 })).rejects.toBeInstanceOf(HaCommandError);

    const mode = entityId("alpha", "application_mode");
    await ha.callService("select", "select_option", { entity_id: mode, option: "standalone" });
    await ha.waitFor(async () => ((await stateOf(mode))?.state === "standalone" ? true : undefined), 30_000, "Application Mode standalone");
    await expect(ha.callService("select", "select_option", { entity_id: mode, option: "sometimes" })).rejects.toBeInstanceOf(HaCommandError);
    expect((await stateOf(mode))?.state).toBe("standalone");
  });

  it.fails("finding 3: two drones waiting both show in the config flow's picker (it is keyed by app name)", async () => {
    await Promise.all([drone("beta"), drone("gamma")]);
    const form = await flow("flow", { handler: "synapse", show_advanced_options: false });
    const options = form.data_schema?.[0]?.options ?? [];
    // abandon the flow as a person closing the dialog does
    await fetch(`${ha.url}/api/config/config_entries/flow/${form.flow_id}`, { method: "DELETE", headers: { authorization: `Bearer ${ha.adminToken}` } });
    expect(options.map(([, title]) => title).sort()).toEqual(["Backup drone beta", "Backup drone gamma"]);
  });

  it("finding 1, the integration's side: a connection that dies without going_offline stays registered; the drone's new one is refused and asked to register again, in vain, until the heartbeat timeout", async () => {
    const alpha = drones.get("alpha");
    if (!alpha) throw new Error("no drone alpha");
    const logFrom = (await ha.log()).length;
    const outputFrom = alpha.output().length;
    const logged = async (text: string) => ((await ha.log()).slice(logFrom).some(entry => entry.text.includes(text)) ? true : undefined);
    // the network goes, not the drone: no close frame, no going_offline
    expect(ha.gate.cut()).toBeGreaterThan(0);
    await ha.waitFor(() => logged("Registration failed: app 'backup-drone-alpha' is already connected"), 30_000, "the refused registration");
    await ha.waitFor(() => (alpha.output().slice(outputFrom).includes("re-registration requested, resending registration") ? true : undefined), 30_000, "a heartbeat asked to register again");
    await ha.waitFor(() => logged("App 'backup_drone' heartbeat timeout - marking offline"), 60_000, "the heartbeat timeout");
    expect((await stateOf("binary_sensor.backup_drone_alpha_online"))?.state).toBe("off");
    expect((await stateOf(entityId("alpha", "application_state")))?.state).toBe("unavailable");
  });

  it.fails("finding 1: after that, a press of Update Stats in HA still reaches the drone", async () => {
    const before = droneEvents(ha, EVENT_TYPES.result, "alpha").length;
    // HA answers the call as a success: the integration drops the press for a connection it lost
    await ha.callService("button", "press", { entity_id: entityId("alpha", "update_stats") });
    await ha.waitFor(
      () => droneEvents(ha, EVENT_TYPES.result, "alpha").slice(before).find(({ data }) => data.operation === "stats"),
      20_000,
      "the stats result",
    );
  });

  it("HA's log holds no ERROR line but finding 4's: one per entity with a category, and its traceback", async () => {
    // HA logs every service call its validation refuses as an ERROR: the two this test made on purpose
    const provoked = [/^\[\d+\] Value 20000\.0 for number\.alpha_keep_daily is outside valid range 0 - 10000$/, /^\[\d+\] Option sometimes is not valid for entity select\.alpha_application_mode/];
    const errors = (await ha.errors()).filter(entry => !provoked.some(pattern => pattern.test(entry.text)));
    const finding4 = (text: string) => /^Error processing entity backup_drone_\w+: entity_category must be a valid EntityCategory instance, got (config|diagnostic)$/.test(text) || text.startsWith("Full traceback: Traceback");
    expect(errors.filter(entry => !(entry.logger === "custom_components.synapse.synapse.bridge" && finding4(entry.text.split("\n")[0] ?? ""))).map(formatEntry)).toEqual([]);
  });

  it.fails("finding 4: HA's log holds no ERROR line from the integration (it passes entity_category as a string)", async () => {
    expect((await ha.errors()).filter(entry => entry.logger.startsWith("custom_components.synapse")).map(formatEntry)).toEqual([]);
  });
});
