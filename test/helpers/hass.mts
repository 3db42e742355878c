/**
 * A drone booted with Home Assistant: LIB_DRONE with hass, synapse and the mock assistant
 * (Home Assistant in memory, test/fixtures/hass/fixtures.json), every outgoing websocket
 * message and every log line captured, and synapse commands injected as HA would send them.
 */
import { join } from "node:path";

import { type TServiceParams } from "@digital-alchemy/core";
import { LIB_HASS } from "@digital-alchemy/hass";
import { LIB_SYNAPSE } from "@digital-alchemy/synapse";
import { expect } from "vitest";

import { LIB_DRONE } from "../../apps/drone/drone.module.mjs";
import { type DroneEngine } from "../../apps/drone/core/engine.mjs";
import { DRONE_ENTITIES, type DroneEntityKey, entityUniqueId, type Operation, type ResultEvent } from "../../libs/protocol/index.mjs";
import { TEST_PASSPHRASE } from "./borg.mjs";
import { bootWithMockAssistant, type SocketMessage, TEST_HASS_TOKEN } from "./runner.mjs";
import { waitFor } from "./wait.mjs";

/** The mock assistant's Home Assistant. */
export const HASS_FIXTURES_FILE = join(import.meta.dirname, "..", "fixtures", "hass", "fixtures.json");

/** Synapse's app id in these tests. */
export const TEST_APP_UNIQUE_ID = "backup-drone-test-app";

/** A `fire_event` message. */
export interface FiredEvent {
  event_type: string;
  event_data: Record<string, unknown>;
}

/** The registration synapse sends (`synapse/application_online_ready`). */
export interface Registration {
  unique_id: string;
  app_metadata: Record<string, unknown> & {
    secondary_devices: Record<string, unknown>[];
  };
}

/** A drone with Home Assistant, and what it sent. */
export interface HassDrone {
  params: TServiceParams;
  engine: DroneEngine;
  /** Every outgoing websocket message, in order. */
  sent: SocketMessage[];
  /** Every log line, rendered as text. */
  logs: string[];
  press(key: DroneEntityKey): Promise<void>;
  setValue(key: DroneEntityKey, value: unknown): Promise<void>;
  selectOption(key: DroneEntityKey, option: unknown): Promise<void>;
  /** The `fire_event` messages (of one type). */
  fired(type?: string): FiredEvent[];
  /** The `data` of every `synapse/patch_entity` for one entity. */
  patches(key: DroneEntityKey): Record<string, unknown>[];
  /** The last registration. */
  registration(): Registration | undefined;
  /** The entity as registered (its fields, by domain array), or undefined. */
  registered(key: DroneEntityKey): Record<string, unknown> | undefined;
  /** What HA was last told a field of an entity is: the last patch, else the registration. */
  published(key: DroneEntityKey, field?: string): unknown;
  /** Wait for the first `backup_drone_result` of `operation` (fired at any time since boot). */
  firstResult(operation: Operation, timeoutMs?: number): Promise<ResultEvent>;
  /** Run `action`, then wait for the next `backup_drone_result` of `operation`. */
  nextResult(operation: Operation, action: () => Promise<void>, timeoutMs?: number): Promise<ResultEvent>;
  teardown(): Promise<void>;
}

/**
 * Boot LIB_DRONE with LIB_HASS, LIB_SYNAPSE (unless `synapse: false`) and the mock assistant.
 * Synapse's install and registration checks are replaced, so it registers and patches as
 * with a Home Assistant that has the integration.
 */
export async function bootHassDrone(
  config: Record<string, unknown>,
  options: { synapse?: boolean; databaseUrl?: string; hass?: Record<string, unknown>; synapseConfig?: Record<string, unknown> } = {},
): Promise<HassDrone> {
  const withSynapse = options.synapse ?? true;
  const { params, sent, logs, teardown } = await bootWithMockAssistant({
    target: LIB_DRONE,
    libraries: withSynapse ? [LIB_HASS, LIB_SYNAPSE] : [LIB_HASS],
    fixturesFile: HASS_FIXTURES_FILE,
    module: { drone: config },
    synapse: withSynapse ? { databaseUrl: options.databaseUrl ?? ":memory:", uniqueId: TEST_APP_UNIQUE_ID, config: options.synapseConfig } : false,
    hass: options.hass,
    logLevel: "trace",
  });

  const droneId = params.drone.engine.config.droneId;
  const inject = (type: string, key: DroneEntityKey, extra: Record<string, unknown> = {}) =>
    params.hass.socket.onMessage({ type, event: { unique_id: entityUniqueId(droneId, key), ...extra } });
  const fired = (type?: string) =>
    sent
      .filter(message => message.type === "fire_event" && (type === undefined || message.event_type === type))
      .map(message => ({ event_type: String(message.event_type), event_data: message.event_data as Record<string, unknown> }));
  const results = () => fired("backup_drone_result").map(event => event.event_data as unknown as ResultEvent);

  const registration = () =>
    sent.filter(message => message.type === "synapse/application_online_ready").at(-1) as Registration | undefined;
  const registered = (key: DroneEntityKey) => {
    const list = registration()?.app_metadata[DRONE_ENTITIES[key].domain];
    if (!Array.isArray(list)) return undefined;
    return (list as Record<string, unknown>[]).find(entity => entity.unique_id === entityUniqueId(droneId, key));
  };
  const patches = (key: DroneEntityKey) =>
    sent
      .filter(message => message.type === "synapse/patch_entity" && message.unique_id === entityUniqueId(droneId, key))
      .map(message => message.data as Record<string, unknown>);

  return {
    params,
    engine: params.drone.engine.engine,
    sent,
    logs,
    press: key => inject("synapse/press", key),
    setValue: (key, value) => inject("synapse/set_value", key, { value }),
    selectOption: (key, option) => inject("synapse/select_option", key, { option }),
    fired,
    patches,
    registration,
    registered,
    published: (key, field = "state") => {
      const last = patches(key).at(-1);
      return last ? last[field] : registered(key)?.[field];
    },
    firstResult: (operation, timeoutMs = 60_000) =>
      waitFor(() => results().find(result => result.operation === operation), `the ${operation} result event`, timeoutMs),
    nextResult: async (operation, action, timeoutMs = 60_000) => {
      const before = results().length;
      await action();
      return await waitFor(
        () => results().slice(before).find(result => result.operation === operation),
        `the ${operation} result event`,
        timeoutMs,
      );
    },
    teardown,
  };
}

/** Tear a drone down, then check the canaries: no secret in any log line, event, registration or patch. */
export async function teardownCheckingSecrets(drone: HassDrone): Promise<void> {
  await drone.teardown();
  for (const secret of [TEST_PASSPHRASE, TEST_HASS_TOKEN]) {
    expect(drone.logs.filter(line => line.includes(secret))).toEqual([]);
    expect(drone.sent.filter(message => JSON.stringify(message).includes(secret))).toEqual([]);
  }
}
