/**
 * The loopback Home Assistant with a user who is not an administrator, at the protocol
 * level: what HA 2025.4 answers and logs (websocket_api/commands.py `handle_fire_event` under
 * decorators.py `require_admin`, `handle_subscribe_events` with
 * auth/permissions/events.py SUBSCRIBE_ALLOWLIST, connection.py `async_handle_exception`,
 * components/auth `websocket_current_user`, api/__init__.py `APIEventView.post`).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { type HaEmulator, startEmulator } from "../../emulator/index.mjs";
import { authenticatedClient, type RawClient, type RawMessage } from "../../emulator/raw-client.mjs";

const TOKEN = "emulator-users-owner-token-2d7f";
const USER_TOKEN = "emulator-users-member-token-8a13";

let ha: HaEmulator;
const haLog: string[] = [];
const clients: RawClient[] = [];

beforeEach(async () => {
  haLog.length = 0;
  ha = await startEmulator({ token: TOKEN, userToken: USER_TOKEN, autoAdopt: false, log: line => void haLog.push(line) });
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map(client => client.close()));
  await ha.stop();
});

async function connect(token: string) {
  const client = await authenticatedClient(ha.url, token);
  clients.push(client);
  let id = 0;
  const request = async (message: Record<string, unknown>): Promise<RawMessage> => {
    id += 1;
    const sent = id;
    client.send({ id: sent, ...message });
    return await client.next(reply => reply.type === "result" && reply.id === sent, `the result of ${String(message.type)}`);
  };
  return { client, request };
}

const UNAUTHORIZED = { success: false, error: { code: "unauthorized", message: "Unauthorized" } };

describe("a user who is not an administrator", () => {
  it("auth/current_user names the user and says it is not an administrator; the owner's says it is", async () => {
    const member = await connect(USER_TOKEN);
    expect((await member.request({ type: "auth/current_user" })).result).toMatchObject({ name: "Member", is_owner: false, is_admin: false });
    const owner = await connect(TOKEN);
    expect((await owner.request({ type: "auth/current_user" })).result).toMatchObject({ name: "Owner", is_owner: true, is_admin: true });
  });

  it("fire_event is refused with unauthorized, nothing reaches the bus, and HA logs the refusal as an ERROR", async () => {
    const member = await connect(USER_TOKEN);
    const answer = await member.request({ type: "fire_event", event_type: "backup_drone_status", event_data: { x: 1 } });
    expect(answer).toMatchObject(UNAUTHORIZED);
    expect(ha.events().filter(event => event.event_type === "backup_drone_status")).toEqual([]);
    expect(haLog).toEqual(["websocket: ERROR Error handling message: Unauthorized (unauthorized) Member"]);
  });

  it("subscribing to all events or to a type outside HA's allow-list is refused (two ERROR lines each); state_changed and registry updates are allowed", async () => {
    const member = await connect(USER_TOKEN);
    expect(await member.request({ type: "subscribe_events" })).toMatchObject(UNAUTHORIZED);
    expect(await member.request({ type: "subscribe_events", event_type: "backup_drone_result" })).toMatchObject(UNAUTHORIZED);
    expect(haLog).toEqual([
      "websocket: ERROR Refusing to allow Member to subscribe to event *",
      "websocket: ERROR Error handling message: Unauthorized (unauthorized) Member",
      "websocket: ERROR Refusing to allow Member to subscribe to event backup_drone_result",
      "websocket: ERROR Error handling message: Unauthorized (unauthorized) Member",
    ]);
    expect(await member.request({ type: "subscribe_events", event_type: "state_changed" })).toMatchObject({ success: true });
    expect(await member.request({ type: "subscribe_events", event_type: "entity_registry_updated" })).toMatchObject({ success: true });
  });

  it("may still call services and read states", async () => {
    const member = await connect(USER_TOKEN);
    expect(await member.request({ type: "call_service", domain: "persistent_notification", service: "create", service_data: { message: "hi" } })).toMatchObject({ success: true });
    expect(await member.request({ type: "get_states" })).toMatchObject({ success: true });
    expect(ha.notifications().map(notification => notification.message)).toEqual(["hi"]);
  });

  it("REST: posting an event or a state answers 401; reading states works", async () => {
    const headers = { Authorization: `Bearer ${USER_TOKEN}`, "Content-Type": "application/json" };
    expect((await fetch(`${ha.url}/api/events/backup_drone_status`, { method: "POST", headers, body: "{}" })).status).toBe(401);
    expect((await fetch(`${ha.url}/api/states/sensor.x`, { method: "POST", headers, body: JSON.stringify({ state: "1" }) })).status).toBe(401);
    expect((await fetch(`${ha.url}/api/states`, { headers })).status).toBe(200);
    expect(ha.events().filter(event => event.event_type === "backup_drone_status")).toEqual([]);
    expect(ha.state("sensor.x")).toBeUndefined();
  });
});
