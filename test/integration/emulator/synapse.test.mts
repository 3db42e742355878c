/**
 * The loopback Home Assistant's synapse integration and recorder at the protocol level, with
 * bare websocket clients playing synapse applications: the behaviours of the real
 * integration (synapse-extension 25.10.19-beta.5) and of HA that our apps had to be changed
 * for. Each test names the source it follows; docs/internals.md lists them.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { type HaEmulator, startEmulator } from "../../emulator/index.mjs";
import { authenticatedClient, type RawClient, type RawMessage } from "../../emulator/raw-client.mjs";

const TOKEN = "emulator-synapse-token-7e21";

let ha: HaEmulator;
const haLog: string[] = [];
const clients: RawClient[] = [];

beforeEach(async () => {
  haLog.length = 0;
  ha = await startEmulator({ token: TOKEN, autoAdopt: false, log: line => void haLog.push(line) });
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map(client => client.close()));
  await ha.stop();
});

/** A bare synapse application: answers discovery with its identity, counts its own message ids. */
async function fakeApp(identity: { app: string; title: string; unique_id: string }) {
  const client = await authenticatedClient(ha.url, TOKEN);
  clients.push(client);
  let id = 0;
  const request = async (message: Record<string, unknown>): Promise<RawMessage> => {
    id += 1;
    const sent = id;
    client.send({ id: sent, ...message });
    return await client.next(reply => reply.type === "result" && reply.id === sent, `the result of ${String(message.type)}`);
  };
  client.socket.on("message", data => {
    const text = Buffer.isBuffer(data) ? data.toString("utf8") : "";
    if (!text.includes('"synapse/discovery"')) return;
    id += 1;
    client.send({ id, type: "fire_event", event_type: "synapse/identify", event_data: identity });
  });
  await request({ type: "subscribe_events", event_type: "synapse/discovery" });
  return { client, request, identity };
}

/** The registration synapse sends (websocket.service.mjs `sendRegistration`), with these entities. */
const registration = (uniqueId: string, entities: Record<string, unknown[]>, hash = "hash-1") => ({
  type: "synapse/application_online_ready",
  unique_id: uniqueId,
  app_metadata: {
    app: "test_app",
    title: "Test app",
    hash,
    device: { name: "Test app device" },
    secondary_devices: [],
    hostname: "host",
    username: "user",
    ...entities,
  },
});

/** Add an app through the config flow and register it. */
async function registeredApp(entities: Record<string, unknown[]>) {
  const app = await fakeApp({ app: "test_app", title: "Test app", unique_id: "test-app-1" });
  const flow = await ha.configFlow();
  expect(flow.pick("test_app")).toBe("test-app-1");
  const answer = await app.request(registration("test-app-1", entities));
  expect(answer.result).toMatchObject({ success: true, registered: true });
  return app;
}

describe("the synapse integration's config flow (config_flow.py async_step_user)", () => {
  it("lists waiting apps keyed by their app name: two apps of one name show as one entry, and picking it adds the first", async () => {
    await fakeApp({ app: "backup_drone", title: "Backup drone a", unique_id: "drone-a" });
    await fakeApp({ app: "backup_drone", title: "Backup drone b", unique_id: "drone-b" });
    const flow = await ha.configFlow();
    // one entry, with the title of the app that answered last
    expect(Object.keys(flow.choices)).toEqual(["backup_drone"]);
    const shown = flow.choices.backup_drone;
    // the person picks it, and gets the app that answered first: not the one the title named
    const added = flow.pick("backup_drone");
    expect(added).toBe(shown === "Backup drone a" ? "drone-b" : "drone-a");
    expect(ha.applications().map(app => app.unique_id)).toEqual([added]);
    // the next flow shows the other one (a configured unique id is left out)
    expect((await ha.configFlow()).choices).toEqual({ backup_drone: shown });
  });

  it("apps with their own names are each listed with their own title, and each pick adds that app", async () => {
    await fakeApp({ app: "backup_drone_a", title: "Backup drone a", unique_id: "drone-a" });
    await fakeApp({ app: "backup_drone_b", title: "Backup drone b", unique_id: "drone-b" });
    const flow = await ha.configFlow();
    expect(flow.choices).toEqual({ backup_drone_a: "Backup drone a", backup_drone_b: "Backup drone b" });
    expect(flow.pick("backup_drone_b")).toBe("drone-b");
    expect(ha.applications()).toEqual([expect.objectContaining({ unique_id: "drone-b", name: "Backup drone b", app: "backup_drone_b" })]);
    expect(() => flow.pick("backup_drone_c")).toThrow(/not one of the choices/);
  });
});

describe("the synapse bridge (bridge.py)", () => {
  it("entity_category: a registration carrying one logs an error per entity (_process_entity_domain → async_update_entity), the platform still sets it; without one, name and icon are written", async () => {
    await registeredApp({
      sensor: [
        { unique_id: "categorised", name: "Categorised", icon: "mdi:tag", entity_category: "diagnostic", state: 1 },
        { unique_id: "plain", name: "Plain", icon: "mdi:circle", state: 2 },
      ],
    });
    await ha.waitFor(() => ha.state(ha.entityIdFor("plain") ?? ""), 5_000, "the entities");
    const errors = haLog.filter(line => line.includes("ERROR"));
    expect(errors).toEqual([
      "synapse: ERROR Error processing entity categorised: entity_category must be a valid EntityCategory instance, got diagnostic",
      "synapse: ERROR Full traceback: ValueError raised in homeassistant/helpers/entity_registry.py _validate_item",
    ]);
    const registry = ha.entityRegistry();
    // the failed update wrote nothing; the platform's own async_get_or_create set the category (base_entity.py entity_category)
    expect(registry.find(entry => entry.unique_id === "categorised")).toMatchObject({ entity_category: "diagnostic", name: null, icon: null });
    expect(registry.find(entry => entry.unique_id === "plain")).toMatchObject({ entity_category: null, name: "Plain", icon: "mdi:circle" });
  });

  it("a second application_online_ready on the registered connection is refused (already_connected); update_configuration adds the new entity and takes the new hash", async () => {
    const app = await registeredApp({ binary_sensor: [{ unique_id: "first", name: "First", is_on: false }] });
    await ha.waitFor(() => ha.entityIdFor("first"), 5_000, "the first entity");

    const entities = { binary_sensor: [{ unique_id: "first", name: "First", is_on: false }, { unique_id: "second", name: "Second", is_on: true }] };
    const again = await app.request(registration("test-app-1", entities, "hash-2"));
    expect(again.result).toMatchObject({ success: false, error_code: "already_connected" });
    // its hash is not the stored one: every heartbeat asks for a registration, which is refused again
    const drift = await app.request({ type: "synapse/heartbeat", hash: "hash-2", unique_id: "test-app-1" });
    expect(drift.result).toMatchObject({ hash_drift_detected: true, re_registration_requested: true });

    const { type: _type, ...update } = registration("test-app-1", entities, "hash-2");
    const updated = await app.request({ ...update, type: "synapse/update_configuration" });
    expect(updated.result).toEqual({ success: true, configuration_updated: true, message: "Configuration update with metadata completed successfully" });
    const second = await ha.waitFor(() => ha.entityIdFor("second"), 5_000, "the new entity");
    await ha.waitFor(() => (ha.state(second)?.state === "on" ? true : undefined), 5_000, "the new entity's state");
    const steady = await app.request({ type: "synapse/heartbeat", hash: "hash-2", unique_id: "test-app-1" });
    expect(steady.result).toMatchObject({ success: true, hash_drift_detected: false });
    // the platforms re-add every entity of the configuration: HA logs each existing one (entity_platform.py)
    expect(haLog.some(line => line.includes("does not generate unique IDs. ID first already exists"))).toBe(true);
  });

  it("a patch that changes an entity's capabilities (a select's options) updates its registry entry: entity_registry_updated (entity.py _async_write_ha_state); the same options again do not", async () => {
    const app = await registeredApp({ select: [{ unique_id: "choice", name: "Choice", options: ["latest"], current_option: "latest" }] });
    const entityId = await ha.waitFor(() => ha.entityIdFor("choice"), 5_000, "the select");
    await ha.waitFor(() => ha.state(entityId), 5_000, "its state");
    const registryUpdates = () =>
      ha.events().filter(event => event.event_type === "entity_registry_updated" && event.data.entity_id === entityId && event.data.action === "update");
    const before = registryUpdates().length;

    const patch = async (options: string[]) => {
      const answer = await app.request({ type: "synapse/patch_entity", unique_id: "choice", data: { options, current_option: "latest" } });
      expect(answer.result).toMatchObject({ success: true });
      await ha.waitFor(() => ((ha.state(entityId)?.attributes.options as string[]).join() === options.join() ? true : undefined), 5_000, "the options shown");
    };
    await patch(["latest", "a@1"]);
    expect(registryUpdates()).toHaveLength(before + 1);
    expect(registryUpdates().at(-1)?.data.changes).toEqual({ capabilities: { options: ["latest"] } });
    expect(ha.entityRegistry().find(entry => entry.entity_id === entityId)).toBeDefined();

    await app.request({ type: "synapse/patch_entity", unique_id: "choice", data: { options: ["latest", "a@1"], current_option: "a@1" } });
    await ha.waitFor(() => (ha.state(entityId)?.state === "a@1" ? true : undefined), 5_000, "the new option");
    expect(registryUpdates()).toHaveLength(before + 1);
  });
});

describe("service calls as HA answers them (websocket_api/commands.py handle_call_service, helpers/service.py)", () => {
  it("a value or option HA's validation refuses: service_validation_error with HA's text, and the text logged as an ERROR; nothing reaches the app", async () => {
    const app = await registeredApp({
      number: [{ unique_id: "knob", name: "Knob", native_value: 5, native_min_value: 0, native_max_value: 10000 }],
      select: [{ unique_id: "mode", name: "Mode", options: ["auto", "manual"], current_option: "auto" }],
    });
    const knob = await ha.waitFor(() => ha.entityIdFor("knob"), 5_000, "the number");
    const mode = await ha.waitFor(() => ha.entityIdFor("mode"), 5_000, "the select");
    await ha.waitFor(() => ha.state(mode), 5_000, "the select's state");
    const toApp = () => app.client.messages.filter(message => message.type === "synapse/set_value" || message.type === "synapse/select_option");

    const number = await app.request({ type: "call_service", domain: "number", service: "set_value", service_data: { entity_id: knob, value: 20000 } });
    expect(number).toMatchObject({ success: false, error: { code: "service_validation_error", message: `Validation error: Value 20000.0 for ${knob} is outside valid range 0 - 10000` } });
    const select = await app.request({ type: "call_service", domain: "select", service: "select_option", service_data: { entity_id: mode, option: "sometimes" } });
    expect(select).toMatchObject({
      success: false,
      error: { code: "service_validation_error", message: `Validation error: Option sometimes is not valid for entity ${mode}, valid options are: auto, manual` },
    });
    expect(haLog.filter(line => line.includes("ERROR"))).toEqual([
      `websocket: ERROR Value 20000.0 for ${knob} is outside valid range 0 - 10000`,
      `websocket: ERROR Option sometimes is not valid for entity ${mode}, valid options are: auto, manual`,
    ]);
    expect(toApp()).toEqual([]);
  });

  it("a press of an entity that does not exist succeeds with a WARNING naming it; a service that does not exist is not_found", async () => {
    const app = await fakeApp({ app: "test_app", title: "Test app", unique_id: "test-app-1" });
    const press = await app.request({ type: "call_service", domain: "button", service: "press", service_data: { entity_id: ["button.nope_b", "button.nope_a"] } });
    expect(press).toMatchObject({ success: true });
    expect(haLog).toContain("WARNING Referenced entities button.nope_a, button.nope_b are missing or not currently available");
    const missing = await app.request({ type: "call_service", domain: "button", service: "presss", service_data: { entity_id: "button.nope_a" } });
    expect(missing).toMatchObject({ success: false, error: { code: "not_found", message: "Service button.presss not found." } });
    expect(haLog.filter(line => line.includes("ERROR"))).toEqual([]);
  });
});

describe("an app whose connection is refused after a cut (websocket.py _handle_bridge_not_found, bridge.py handle_registration)", () => {
  it("its new connection is refused (already_connected); heartbeats and patches get bridge_not_found and a re-registration request carrying the message's unique id: the app's for a heartbeat, the entity's for a patch", async () => {
    await registeredApp({ number: [{ unique_id: "knob", name: "Knob", native_value: 5 }] });
    // the old connection stays in the bridge, as after a cut the integration never noticed
    const again = await fakeApp({ app: "test_app", title: "Test app", unique_id: "test-app-1" });
    const refused = await again.request(registration("test-app-1", { number: [{ unique_id: "knob", name: "Knob", native_value: 5 }] }));
    expect(refused.result).toEqual({ success: false, error_code: "already_connected", message: "Unique ID test-app-1 is already connected", unique_id: "test-app-1" });

    const reRegistrations = () =>
      again.client.messages.filter(message => message.type === "event" && (message.event as { event_type?: unknown }).event_type === "synapse/request_re_registration");
    const notFound = (operation: string) => ({
      success: false,
      error_code: "bridge_not_found",
      message: `No bridge found for ${operation} - connection may be stale. Re-registration requested.`,
      requires_reregistration: true,
    });
    const heartbeat = await again.request({ type: "synapse/heartbeat", hash: "hash-1", unique_id: "test-app-1" });
    expect(heartbeat.result).toEqual(notFound("heartbeat"));
    const patch = await again.request({ type: "synapse/patch_entity", unique_id: "knob", data: { native_value: 6 } });
    expect(patch.result).toEqual(notFound("entity patch"));
    const desync = { message: "Connection desync detected - please re-register", action: "resend_registration" };
    expect(reRegistrations()).toEqual([
      { type: "event", event: { event_type: "synapse/request_re_registration", data: { ...desync, unique_id: "test-app-1" } } },
      { type: "event", event: { event_type: "synapse/request_re_registration", data: { ...desync, unique_id: "knob" } } },
    ]);
    // the refused connection's patch reached nothing
    expect(ha.events().filter(event => event.event_type === "synapse/update")).toEqual([]);
  });
});

describe("the recorder (recorder/db_schema.py)", () => {
  it("keeps an event whose data is over 32 KiB without its data, and says so in the log; a smaller one whole", async () => {
    const client = await authenticatedClient(ha.url, TOKEN);
    clients.push(client);
    client.send({ id: 1, type: "fire_event", event_type: "big_event", event_data: { text: "x".repeat(33_000) } });
    client.send({ id: 2, type: "fire_event", event_type: "small_event", event_data: { text: "x".repeat(30_000) } });
    await client.next(reply => reply.type === "result" && reply.id === 2, "the second fire_event");
    const stored = ha.recordedEvents();
    expect(stored.find(event => event.event_type === "big_event")?.data).toEqual({});
    expect((stored.find(event => event.event_type === "small_event")?.data.text as string).length).toBe(30_000);
    expect(haLog.filter(line => line.includes("exceed maximum size"))).toEqual([
      "recorder: WARNING Event data for big_event exceed maximum size of 32768 bytes. This can cause database performance issues; Event data will not be stored",
    ]);
    // the bus delivered it whole all the same
    expect((ha.events().find(event => event.event_type === "big_event")?.data.text as string).length).toBe(33_000);
  });
});
