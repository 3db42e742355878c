/**
 * A loopback Home Assistant for multi-process tests: HA's websocket and REST APIs and the
 * synapse integration, faithful to their public sources (see docs/internals.md), so that
 * the unmodified DA client libraries connect to it as to a real HA.
 *
 * ```ts
 * const ha = await startEmulator({ token: "t" });
 * // HASS_BASE_URL=ha.url HASS_TOKEN=t backup-drone daemon …
 * await ha.waitFor(() => ha.entityIdFor("backup_drone_nas_create_backup"), 20_000, "the drone's Create Backup button");
 * ```
 */
import { createServer, type Server } from "node:http";
import { type AddressInfo } from "node:net";

import { registerComponents, type Notification } from "./components.mjs";
import { createHassCore, ServiceCallError } from "./core.mjs";
import { type DeviceEntry, type EmulatedUser, type FiredEvent, type HassState, hexId, newContext, type RegistryEntry } from "./model.mjs";
import { createRestApi } from "./rest.mjs";
import { type ConfigFlow, createSynapseIntegration } from "./synapse.mjs";
import { createWebsocketApi } from "./websocket.mjs";

export type { DeviceEntry, FiredEvent, HassState, RegistryEntry } from "./model.mjs";
export type { Notification } from "./components.mjs";
export type { ConfigFlow } from "./synapse.mjs";
export { ServiceCallError } from "./core.mjs";

/** How to start the emulator. */
export interface EmulatorOptions {
  /** The long-lived access token of the owner, an administrator. */
  token: string;
  /**
   * A long-lived access token of a second user, "Member", who is not an administrator (as
   * Settings → People makes one): refused `fire_event`, event subscriptions outside HA's
   * allow-list and REST writes of events and states, like HA. None by default.
   */
  userToken?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Heartbeat timeout of the synapse integration (30000, like APP_OFFLINE_DELAY). */
  offlineAfterMs?: number;
  haVersion?: string;
  /** Receives the emulator's log lines (HA's log, as it would write it; never the token). */
  log?: (line: string) => void;
  /** Run the synapse config flow for every app that answers discovery (default true). */
  autoAdopt?: boolean;
  /** Whether the synapse integration is installed (`synapse` in get_config's components; default true). */
  synapseInstalled?: boolean;
  /**
   * Forget an app's connection when its socket closes. The integration does not (an app that
   * crashed is refused with `already_connected` until HA restarts); default false, faithful.
   */
  dropClosedAppConnections?: boolean;
}

/** A synapse app known to the emulator (a config entry of the integration). */
export interface EmulatedApplication {
  unique_id: string;
  name: string;
  app: string;
  /** The integration's view: registered and heartbeating. */
  online: boolean;
  /** A websocket connection is registered for it and open. */
  connected: boolean;
  /**
   * When its last heartbeat came (unix seconds), or null. synapse heartbeats only once it
   * sees itself registered, and only from then on does it send entity patches.
   */
  lastHeartbeat: number | null;
}

/** A running loopback Home Assistant. */
export interface HaEmulator {
  /** "http://127.0.0.1:PORT": what goes into hass BASE_URL. */
  readonly url: string;
  readonly port: number;
  /** Current states. */
  states(): HassState[];
  state(entityId: string): HassState | undefined;
  entityRegistry(): RegistryEntry[];
  deviceRegistry(): DeviceEntry[];
  /** The entity id registered for a unique id (any platform). */
  entityIdFor(uniqueId: string): string | undefined;
  /** Every event on the bus so far, in order (kept across restarts). */
  events(): FiredEvent[];
  /** The events the recorder stored (all but state changes), as it stored them: data over 32 KiB is stored as `{}`. */
  recordedEvents(): FiredEvent[];
  /** Called for every event on the bus; returns the unsubscribe. */
  onEvent(listener: (event: FiredEvent) => void): () => void;
  /** Resolves with the first value `probe` returns that is not undefined; rejects after `timeoutMs` naming `what`. */
  waitFor<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T>;
  /** Call a service as the HA UI does; rejects with a ServiceCallError as HA would answer it. */
  callService(domain: string, service: string, data: Record<string, unknown>): Promise<void>;
  /** Fire an event on the bus (origin LOCAL). */
  fireEvent(eventType: string, data: Record<string, unknown>): void;
  applications(): EmulatedApplication[];
  /** Open authenticated websocket connections. */
  connections(): number;
  /** Persistent notifications shown now. */
  notifications(): Notification[];
  /** Run the synapse config flow now (discovery, one second of replies), picking every app it lists; resolves with the unique ids it added. */
  adopt(): Promise<string[]>;
  /** Open the synapse config flow's form (discovery, one second of replies): what it lists, and a way to pick one. */
  configFlow(): Promise<ConfigFlow>;
  /** Drop every connection and the listening socket, then listen again on the same port; registries stay. */
  restart(options?: { downMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

/** HA integrations loaded in the emulated instance (get_config's `components`). */
const BASE_COMPONENTS = [
  "api",
  "auth",
  "binary_sensor",
  "button",
  "config",
  "device_automation",
  "frontend",
  "homeassistant",
  "http",
  "number",
  "persistent_notification",
  "recorder",
  "select",
  "sensor",
  "sun",
  "switch",
  "text",
  "websocket_api",
  "zone",
];

const listen = (server: Server, port: number) =>
  new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });

const closeServer = (server: Server) =>
  new Promise<void>(resolve => {
    server.close(() => resolve());
    server.closeAllConnections();
  });

/** Start a loopback Home Assistant. */
export async function startEmulator(options: EmulatorOptions): Promise<HaEmulator> {
  if (options.token.length === 0) throw new Error("startEmulator: token must not be empty");
  if (options.userToken !== undefined && (options.userToken.length === 0 || options.userToken === options.token)) {
    throw new Error("startEmulator: userToken must be non-empty and differ from token");
  }
  const log = options.log ?? (() => undefined);
  const haVersion = options.haVersion ?? "2025.11.3";
  const synapseInstalled = options.synapseInstalled ?? true;
  const owner: EmulatedUser = { id: hexId(), name: "Owner", isOwner: true, isAdmin: true, token: options.token };
  const users: EmulatedUser[] = [owner];
  if (options.userToken !== undefined) users.push({ id: hexId(), name: "Member", isOwner: false, isAdmin: false, token: options.userToken });

  const core = createHassCore({ haVersion, log, components: () => [...BASE_COMPONENTS, ...(synapseInstalled ? ["synapse"] : [])] });
  const components = registerComponents(core);
  const synapse = createSynapseIntegration(core, {
    offlineAfterMs: options.offlineAfterMs ?? 30_000,
    autoAdopt: options.autoAdopt ?? true,
    dropClosedAppConnections: options.dropClosedAppConnections ?? false,
    log,
  });
  const websocket = createWebsocketApi({ core, synapse, users, haVersion, log });
  const rest = createRestApi({ core, users, log });

  const newServer = () => {
    const server = createServer(rest);
    server.on("upgrade", (request, socket, head) => {
      if (new URL(request.url ?? "/", "http://localhost").pathname !== "/api/websocket") {
        socket.end("HTTP/1.1 404 Not Found\r\n\r\n");
        return;
      }
      websocket.upgrade(request, socket, head);
    });
    return server;
  };

  core.start(() => synapse.start());
  let server = newServer();
  const port = await listen(server, options.port ?? 0);
  let running = true;

  async function shutdown() {
    // HA fires its stop events while clients are still connected, then closes them
    core.shutdown();
    synapse.stop();
    components.clearNotifications();
    await websocket.closeAll();
    await closeServer(server);
  }

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    states: () => core.states(),
    state: entityId => core.state(entityId),
    entityRegistry: () => core.entityRegistry(),
    deviceRegistry: () => core.deviceRegistry(),
    entityIdFor: uniqueId => core.entityRegistry().find(entry => entry.unique_id === uniqueId)?.entity_id,
    events: () => core.events(),
    recordedEvents: () => core.recordedEvents(),
    onEvent: listener => core.onEvent(listener),
    waitFor<T>(probe: () => T | undefined, timeoutMs: number, what: string) {
      return new Promise<T>((resolve, reject) => {
        let done = false;
        const finish = (outcome: () => void) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          clearInterval(poll);
          stopListening();
          outcome();
        };
        const check = () => {
          try {
            const value = probe();
            if (value !== undefined) finish(() => resolve(value));
          } catch (error) {
            finish(() => reject(error instanceof Error ? error : new Error(String(error))));
          }
        };
        // every bus event may be the one; the poll catches what is not an event (connections, timers)
        const stopListening = core.onEvent(() => check());
        const poll = setInterval(check, 25);
        const timer = setTimeout(() => finish(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`))), timeoutMs);
        check();
      });
    },
    callService: (domain, service, data) =>
      new Promise<void>((resolve, reject) => {
        try {
          core.callService(domain, service, data, newContext(owner.id));
          resolve();
        } catch (error) {
          reject(error instanceof ServiceCallError || error instanceof Error ? error : new Error(String(error)));
        }
      }),
    fireEvent: (eventType, data) => void core.fire(eventType, data),
    applications: () => synapse.applications(),
    connections: () => websocket.count(),
    notifications: () => components.notifications(),
    adopt: () => synapse.adopt(),
    configFlow: () => synapse.configFlow(),
    async restart(restartOptions = {}) {
      if (!running) throw new Error("restart: the emulator is stopped");
      await shutdown();
      if (restartOptions.downMs) await new Promise(resolve => setTimeout(resolve, restartOptions.downMs));
      core.start(() => synapse.start());
      server = newServer();
      await listen(server, port);
      log(`restarted on port ${port}`);
    },
    async stop() {
      if (!running) return;
      running = false;
      await shutdown();
    },
  };
}
