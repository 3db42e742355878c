/**
 * synapse patches an entity only while its application is registered in Home Assistant, and
 * never sends a skipped patch later. A value written in the seconds before the registration
 * is confirmed (synapse learns it from HA's device list, refreshed after the integration adds
 * the app), or after an application restart while HA still holds the entity objects of its
 * first registration, would stay unseen. So: watch the registration, and each time it
 * begins, patch every entity with what synapse holds for it (a slice a second). And give new metadata of a
 * registered application (an entity created at run time) through a configuration update.
 */
import { type TServiceParams } from "@digital-alchemy/core";
import { z } from "zod";

import { type Outcome } from "./deadline.mjs";
import { errorText } from "../config/errors.mjs";

/** synapse's per-entity store: what HA is sent at registration and in every patch. */
export interface EntityStorage {
  readonly unique_id: string;
  get(field: string): unknown;
  set(field: string, value: unknown): Promise<void>;
  export(): object;
}

/** An entity synapse created, as both apps write to it. */
export interface SynapseEntity {
  storage: EntityStorage;
}

/** Two entity values are the same when their JSON is: a write of the same value is skipped. */
export const sameValue = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** What the watcher needs of an entity: synapse's store of it. */
export interface PublishedEntity {
  storage: Pick<EntityStorage, "unique_id" | "export">;
}

/** How often the registration is looked at. */
export const REGISTRATION_CHECK_MS = 1_000;

/**
 * Entities patched again per look at the registration: a coordinator with 1,000 drones has as
 * many problem sensors, and @digital-alchemy/hass ends the process when its socket averages
 * more than 500 messages a second over 5 s. A drone (about 30 entities) takes one slice.
 */
export const REPUBLISH_SLICE = 100;

/**
 * Watch synapse's registration; on every start of it, patch all `entities()` again,
 * `slice` of them per look (REPUBLISH_SLICE). Each one's values are read when it is sent; a
 * registration lost on the way stops the rest (the next one starts over). Returns a stop function.
 */
export function republishOnRegistration(options: {
  isRegistered: () => boolean;
  entities: () => Iterable<PublishedEntity>;
  send: (uniqueId: string, data: object) => Promise<void>;
  every: (ms: number, check: () => void) => () => void;
  onError: (message: string) => void;
  slice?: number;
}): () => void {
  const slice = options.slice ?? REPUBLISH_SLICE;
  let registered = false;
  let pending: PublishedEntity[] = [];
  const check = () => {
    const now = options.isRegistered();
    if (now && !registered) pending = [...options.entities()];
    if (!now) pending = [];
    registered = now;
    for (const { storage } of pending.splice(0, slice)) {
      options.send(storage.unique_id, storage.export()).catch((error: unknown) => {
        options.onError(`republishing ${storage.unique_id} failed: ${errorText(error)}`);
      });
    }
  };
  return options.every(REGISTRATION_CHECK_MS, check);
}

/**
 * {@link republishOnRegistration} for an app's synapse entities: registered means the hass
 * socket is up and HA lists the app (and the app is not closing). Call it from onReady.
 */
export function republishSynapseEntities(options: {
  synapse: TServiceParams["synapse"];
  hass: TServiceParams["hass"];
  scheduler: TServiceParams["scheduler"];
  closing: () => boolean;
  entities: () => Iterable<PublishedEntity>;
  warn: (message: string) => void;
}): () => void {
  const { synapse, hass, scheduler } = options;
  return republishOnRegistration({
    isRegistered: () => !options.closing() && hass.socket.connectionState === "connected" && synapse.configure.isRegistered(),
    entities: options.entities,
    send: (uniqueId, data) => synapse.socket.send(uniqueId, data),
    every: (ms, check) => scheduler.setInterval(check, ms),
    onError: options.warn,
  });
}

/**
 * What synapse registers an application with (websocket.service.mjs `sendRegistration`),
 * read at the moment of sending: the same metadata goes out in a configuration update.
 */
export interface ApplicationMetadata {
  app: string;
  title: string;
  cleanup: string;
  hostname: string;
  username: string;
  hash: string;
  device: object;
  secondary_devices: object[];
  service: object[];
  /** synapse's `storage.dump()`: every entity by domain. */
  entities: Record<string, object[]>;
}

/** The `synapse/update_configuration` message (websocket.py `handle_synapse_update_configuration`). */
export interface ConfigurationUpdateMessage {
  type: "synapse/update_configuration";
  unique_id: string;
  app_metadata: Record<string, unknown>;
  [key: string]: unknown;
}

/**
 * The message that gives Home Assistant an application's new metadata while it stays
 * connected. A second `synapse/application_online_ready` on a registered connection is
 * refused (`already_connected`, bridge.py `handle_registration`); `update_configuration`
 * runs the same processing as a registration (bridge.py `_process_app_metadata`: devices,
 * entities, services, the hash). It must carry everything: an entity or a device missing
 * from it is removed from Home Assistant (cleanup `delete`).
 */
export function configurationUpdate(uniqueId: string, metadata: ApplicationMetadata): ConfigurationUpdateMessage {
  const { entities, ...rest } = metadata;
  return { type: "synapse/update_configuration", unique_id: uniqueId, app_metadata: { ...rest, ...entities } };
}

const updateReplySchema = z.looseObject({ success: z.boolean(), error_code: z.string().optional(), message: z.string().optional() });

/** How a configuration update ended: applied, refused for good (register instead), or worth another try. */
export type UpdateOutcome = { kind: "applied" } | { kind: "unregistered"; reason: string } | { kind: "retry"; reason: string };

/** Read the integration's answer to `synapse/update_configuration` (a result whose `success` says it all). */
export function updateOutcome(reply: Outcome<unknown>): UpdateOutcome {
  if (!reply.ok) return { kind: "retry", reason: reply.reason };
  const parsed = updateReplySchema.safeParse(reply.value);
  if (!parsed.success) return { kind: "retry", reason: "Home Assistant answered without a success flag" };
  if (parsed.data.success) return { kind: "applied" };
  const reason = `${parsed.data.error_code ?? "refused"}: ${parsed.data.message ?? "no message"}`;
  // the connection is not the application's: only a registration helps (the synapse client sends it)
  return parsed.data.error_code === "bridge_not_found" ? { kind: "unregistered", reason } : { kind: "retry", reason };
}
