/**
 * The loopback Home Assistant at the protocol level, with a bare websocket client and
 * fetch: what HA's websocket and REST APIs answer, as the DA client relies on it.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";

import { type HaEmulator, startEmulator } from "../../emulator/index.mjs";
import { authenticatedClient, type RawClient, rawClient } from "../../emulator/raw-client.mjs";

const TOKEN = "emulator-protocol-token-3f9a";

let ha: HaEmulator;
const clients: RawClient[] = [];
const track = (client: RawClient) => {
  clients.push(client);
  return client;
};

beforeEach(async () => {
  ha = await startEmulator({ token: TOKEN, autoAdopt: false, haVersion: "2025.11.3" });
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map(client => client.close()));
  await ha.stop();
});

const result = (id: number) => (message: { type: string; id?: unknown }) => message.type === "result" && message.id === id;

describe("loopback Home Assistant: websocket API", () => {
  it("asks for auth with its version; a wrong token gets auth_invalid and the socket is closed", async () => {
    const client = track(await rawClient(ha.url));
    const hello = await client.next(message => message.type === "auth_required", "auth_required");
    expect(hello).toEqual({ type: "auth_required", ha_version: "2025.11.3" });
    client.send({ type: "auth", access_token: "not-the-token" });
    const answer = await client.next(message => message.type === "auth_invalid", "auth_invalid");
    expect(answer.message).toBe("Invalid access token or password");
    expect(await client.closed).toBeGreaterThan(0);
    expect(ha.connections()).toBe(0);
  });

  it("a malformed auth message is answered with auth_invalid naming the problem", async () => {
    const client = track(await rawClient(ha.url));
    await client.next(message => message.type === "auth_required", "auth_required");
    client.send({ type: "auth", access_token: TOKEN, extra: 1 });
    const answer = await client.next(message => message.type === "auth_invalid", "auth_invalid");
    expect(String(answer.message)).toMatch(/^Auth message incorrectly formatted: extra keys not allowed/);
    await client.closed;
  });

  it("auth_ok with the version, ping/pong, and counts the connection", async () => {
    const client = track(await authenticatedClient(ha.url, TOKEN));
    expect(client.messages.at(-1)).toEqual({ type: "auth_ok", ha_version: "2025.11.3" });
    expect(ha.connections()).toBe(1);
    client.send({ id: 1, type: "ping" });
    expect(await client.next(message => message.type === "pong", "pong")).toEqual({ id: 1, type: "pong" });
  });

  it("delivers fire_event to subscribers of that type and of all events, not to others; unsubscribe stops it", async () => {
    const listener = track(await authenticatedClient(ha.url, TOKEN));
    listener.send({ id: 1, type: "subscribe_events", event_type: "emulator_test" });
    listener.send({ id: 2, type: "subscribe_events" });
    listener.send({ id: 3, type: "subscribe_events", event_type: "something_else" });
    await listener.next(result(3), "the third subscription");
    const sender = track(await authenticatedClient(ha.url, TOKEN));
    sender.send({ id: 1, type: "fire_event", event_type: "emulator_test", event_data: { answer: 42 } });
    const fired = await sender.next(result(1), "fire_event's result");
    expect(fired).toMatchObject({ success: true, result: { context: { user_id: expect.any(String) as unknown } } });

    const typed = await listener.next(message => message.type === "event" && message.id === 1, "the typed subscription's event");
    const all = await listener.next(message => message.type === "event" && message.id === 2, "the all-events subscription's event");
    for (const message of [typed, all]) {
      // as HA 2025.4: websocket fire_event keeps the bus's default origin, LOCAL (REST's POST /api/events says REMOTE)
      expect(message.event).toMatchObject({ event_type: "emulator_test", data: { answer: 42 }, origin: "LOCAL" });
    }
    expect(listener.messages.some(message => message.type === "event" && message.id === 3)).toBe(false);
    expect(ha.events().some(event => event.event_type === "emulator_test" && event.data.answer === 42)).toBe(true);

    listener.send({ id: 4, type: "unsubscribe_events", subscription: 1 });
    await listener.next(result(4), "unsubscribe's result");
    sender.send({ id: 2, type: "fire_event", event_type: "emulator_test", event_data: { answer: 43 } });
    await listener.next(message => message.type === "event" && message.id === 2 && (message.event as { data: { answer: number } }).data.answer === 43, "the second event");
    const typedAnswers = listener.messages.filter(message => message.type === "event" && message.id === 1);
    expect(typedAnswers).toHaveLength(1);
  });

  it("answers unknown commands, malformed messages, reused ids and bad fields as HA does", async () => {
    const client = track(await authenticatedClient(ha.url, TOKEN));
    client.send({ id: 1, type: "frobnicate" });
    expect(await client.next(result(1), "unknown command's result")).toEqual({
      id: 1,
      type: "result",
      success: false,
      error: { code: "unknown_command", message: "Unknown command." },
    });
    client.send({ type: "get_states" });
    expect(await client.next(message => message.type === "result" && message.id === 0, "the invalid message's result")).toMatchObject({
      success: false,
      error: { code: "invalid_format", message: "Message incorrectly formatted." },
    });
    client.send({ id: 1, type: "ping" });
    expect(await client.next(message => message.type === "result" && message.id === 1 && message !== client.messages[2], "the reused id's result")).toMatchObject({
      error: { code: "id_reuse" },
    });
    client.send({ id: 2, type: "subscribe_events", event_type: 5 });
    const bad = await client.next(result(2), "the bad field's result");
    expect(bad).toMatchObject({ success: false, error: { code: "invalid_format" } });
    expect(String((bad.error as { message: string }).message)).toContain("data['event_type']");
    client.send({ id: 3, type: "call_service", domain: "button", service: "explode", service_data: {} });
    expect(await client.next(result(3), "the unknown service's result")).toMatchObject({ success: false, error: { code: "not_found" } });
    // still connected and answering
    client.send({ id: 4, type: "get_states" });
    const states = await client.next(result(4), "get_states");
    expect(states.success).toBe(true);
    expect((states.result as { entity_id: string }[]).map(state => state.entity_id)).toContain("zone.home");
  });

  it("answers the registry and config calls the DA client makes when it connects", async () => {
    const client = track(await authenticatedClient(ha.url, TOKEN));
    const calls = [
      "config/entity_registry/list",
      "config/device_registry/list",
      "config/area_registry/list",
      "config/floor_registry/list",
      "config/label_registry/list",
      "zone/list",
      "config_entries/get",
      "get_config",
      "get_services",
    ];
    calls.forEach((type, index) => client.send({ id: index + 1, type }));
    const answers = await Promise.all(calls.map((type, index) => client.next(result(index + 1), type)));
    for (const answer of answers) expect(answer.success, JSON.stringify(answer)).toBe(true);
    expect((answers[7]?.result as { components: string[] }).components).toContain("synapse");
    expect(Object.keys(answers[8]?.result as object)).toEqual(expect.arrayContaining(["button", "number", "select", "text"]));
  });
});

describe("loopback Home Assistant: REST API", () => {
  it("refuses requests without the token with 401, and answers with it", async () => {
    const bare = await fetch(`${ha.url}/api/states`);
    expect(bare.status).toBe(401);
    expect(await bare.text()).toBe("401: Unauthorized");
    const wrong = await fetch(`${ha.url}/api/`, { headers: { Authorization: "Bearer wrong" } });
    expect(wrong.status).toBe(401);

    const headers = { Authorization: `Bearer ${TOKEN}` };
    expect(await (await fetch(`${ha.url}/api/`, { headers })).json()).toEqual({ message: "API running." });
    const states = (await (await fetch(`${ha.url}/api/states`, { headers })).json()) as { entity_id: string }[];
    expect(states.length).toBeGreaterThan(0);
    const services = (await (await fetch(`${ha.url}/api/services`, { headers })).json()) as { domain: string }[];
    expect(services.map(entry => entry.domain)).toContain("button");
    const fired = await fetch(`${ha.url}/api/events/emulator_rest`, { method: "POST", headers, body: JSON.stringify({ via: "rest" }) });
    expect(await fired.json()).toEqual({ message: "Event emulator_rest fired." });
    expect(ha.events().find(event => event.event_type === "emulator_rest")).toMatchObject({ data: { via: "rest" }, origin: "REMOTE" });
    const missing = await fetch(`${ha.url}/api/states/sensor.nothing`, { headers });
    expect(missing.status).toBe(404);
  });
});

describe("loopback Home Assistant: as a process", () => {
  it("prints its url as one JSON line, answers there, and exits 0 on SIGTERM", async () => {
    const root = join(import.meta.dirname, "..", "..", "..");
    const child = spawn(process.execPath, ["--import", "tsx", join(root, "test", "emulator", "main.mts"), "--port", "0"], {
      cwd: root,
      env: { ...process.env, EMULATOR_TOKEN: TOKEN },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const exited = new Promise<number | null>(resolve => child.once("exit", code => resolve(code)));
    const first = await createInterface({ input: child.stdout })[Symbol.asyncIterator]().next();
    const { url } = z.object({ url: z.url(), port: z.number() }).parse(JSON.parse(String(first.value)));
    const answer = await fetch(`${url}/api/`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(await answer.json()).toEqual({ message: "API running." });
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});
