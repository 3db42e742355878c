/**
 * The emulated integration's bridges (synapse/bridge.py SynapseBridge, one per configured
 * app): the app's connections, its registration and configuration updates (devices,
 * entities, services, the hash), the heartbeat that keeps it online, and its online sensor
 * (health.py).
 */
import { z } from "zod";

import { CommandError, type WsCommand, type WsConnection } from "../commands.mjs";
import { type DeviceInput, type EntityRender } from "../core.mjs";
import { asRecord, pythonJsonLength } from "../model.mjs";
import { type AppCommands } from "./commands.mjs";
import { type Entities } from "./entities.mjs";
import {
  base,
  type Bridge,
  ENTITY_DOMAINS,
  ERR,
  liveKey,
  type StoredApp,
  type SynapseContext,
  type SynapseEntity,
  text,
  uniqueIdField,
} from "./shared.mjs";

const entityLists = Object.fromEntries([...ENTITY_DOMAINS, "service"].map(domain => [domain, z.array(z.unknown()).optional()])) as Record<
  (typeof ENTITY_DOMAINS)[number] | "service",
  z.ZodOptional<z.ZodArray<z.ZodUnknown>>
>;
const appMetadataSchema = z.strictObject({
  app: z.string().min(1).max(100),
  title: z.string().min(1).max(200),
  hash: z.string().min(1).max(64),
  device: z.record(z.string(), z.unknown()),
  secondary_devices: z.array(z.unknown()),
  hostname: z.string().min(1).max(255),
  username: z.string().min(1).max(100),
  cleanup: z.enum(["delete", "abandon"]).optional(),
  ...entityLists,
});
type AppMetadata = z.infer<typeof appMetadataSchema>;

const schemas = {
  register: z.strictObject({ ...base, type: z.literal("synapse/application_online_ready"), unique_id: uniqueIdField, app_metadata: appMetadataSchema }),
  heartbeat: z.strictObject({ ...base, type: z.literal("synapse/heartbeat"), hash: z.string().min(1).max(64), unique_id: uniqueIdField.optional() }),
  update: z.strictObject({ ...base, type: z.literal("synapse/update_configuration"), unique_id: uniqueIdField, app_metadata: z.record(z.string(), z.unknown()) }),
  goingOffline: z.strictObject({ ...base, type: z.literal("synapse/going_offline") }),
  health: z.strictObject({ ...base, type: z.literal("synapse/get_health"), unique_id: uniqueIdField.optional() }),
} as const;

/** The bridges of the configured apps. */
export function createBridges(ctx: SynapseContext, app: AppCommands, entities: Pick<Entities, "refreshEntities">) {
  const { core, options, log, stored, bridges, later, cancel, unsettled, bridgeForConnection, rateLimited, tooLarge } = ctx;
  const { requestReRegistration, bridgeNotFound, processServices } = app;
  const { refreshEntities } = entities;

  function newBridge(app: StoredApp): Bridge {
    return {
      stored: app,
      metadataUniqueId: app.data.unique_id,
      connections: new Map(),
      connectionTimestamps: new Map(),
      connectionTimeouts: new Map(),
      heartbeatTimer: undefined,
      lastHeartbeat: null,
      online: false,
      primaryDevice: null,
      viaPrimaryDevice: new Map(),
      registrationDevice: null,
      registrationSecondaryDevices: [],
      currentEntities: new Map(),
      currentDevices: new Set(),
      currentServices: new Set(),
      serviceRegistry: new Map(),
      cleanupMode: "delete",
      currentConfiguration: {},
      generatedEntities: new Set(),
      live: new Map(),
    };
  }


  const fireHealth = () => core.fire("synapse/health");

  function resetHeartbeatTimer(bridge: Bridge) {
    cancel(bridge.heartbeatTimer);
    bridge.heartbeatTimer = later(options.offlineAfterMs, () => {
      bridge.heartbeatTimer = undefined;
      if (bridge.connections.size === 0) return;
      log(`synapse: app '${bridge.stored.data.app}' heartbeat timeout - marking offline`);
      bridge.online = false;
      fireHealth();
    });
  }

  /** bridge.py CONNECTION_TIMEOUT (60 s, twice the heartbeat timeout): armed when a heartbeat restores contact. */
  function setupConnectionTimeout(bridge: Bridge, uniqueId: string) {
    cancel(bridge.connectionTimeouts.get(uniqueId));
    bridge.connectionTimeouts.set(
      uniqueId,
      later(options.offlineAfterMs * 2, () => {
        bridge.connectionTimeouts.delete(uniqueId);
        if (!bridge.connections.has(uniqueId)) return;
        log(`synapse: connection timeout for app '${uniqueId}'`);
        unregisterConnection(bridge, uniqueId);
        fireHealth();
      }),
    );
  }

  function registerConnection(bridge: Bridge, uniqueId: string, connection: WsConnection) {
    bridge.connections.set(uniqueId, connection);
    bridge.connectionTimestamps.set(uniqueId, Date.now());
    setupConnectionTimeout(bridge, uniqueId);
    resetHeartbeatTimer(bridge);
    const wasOffline = !bridge.online;
    bridge.online = true;
    if (wasOffline) fireHealth();
  }

  function unregisterConnection(bridge: Bridge, uniqueId: string) {
    bridge.connections.delete(uniqueId);
    bridge.connectionTimestamps.delete(uniqueId);
    cancel(bridge.connectionTimeouts.get(uniqueId));
    bridge.connectionTimeouts.delete(uniqueId);
    if (bridge.connections.size > 0) return;
    cancel(bridge.heartbeatTimer);
    bridge.heartbeatTimer = undefined;
    const wasOnline = bridge.online;
    bridge.online = false;
    if (wasOnline) fireHealth();
  }

  /** health.py: the `<app unique id>-online` binary sensor, added when the config entry is set up. */
  function addHealthSensor(bridge: Bridge) {
    const uniqueId = `${bridge.stored.data.unique_id}-online`;
    const name = `${bridge.stored.data.title} Online`;
    const render = (): EntityRender => ({
      state: bridge.online ? "on" : "off",
      stateAttributes: { application_unique_id: bridge.stored.data.unique_id },
      icon: bridge.online ? "mdi:server" : "mdi:server-outline",
      friendlyName: name,
    });
    // device_info is the primary device, which does not exist yet at setup: no device
    const entry = core.getOrCreateEntityEntry({
      domain: "binary_sensor",
      platform: "synapse",
      uniqueId,
      configEntryId: bridge.stored.entryId,
      suggestedObjectId: name,
      deviceId: null,
      originalName: name,
      originalIcon: render().icon ?? null,
      entityCategory: "diagnostic",
    });
    bridge.generatedEntities.add(uniqueId);
    const entity: SynapseEntity = {
      entityId: entry.entity_id,
      domain: "binary_sensor",
      platform: "synapse",
      uniqueId,
      bridge,
      data: {},
      available: () => true,
      render,
      act: () => undefined,
    };
    bridge.live.set(liveKey("binary_sensor", uniqueId), entity);
    core.addEntity(entity);
  }


  function formatDeviceInfo(bridge: Bridge, device: Record<string, unknown> | null): DeviceInput {
    const uniqueId = text(device?.unique_id) ?? bridge.metadataUniqueId;
    return {
      identifiers: [["synapse", uniqueId]],
      name: text(device?.name),
      manufacturer: text(device?.manufacturer ?? device?.default_manufacturer),
      model: text(device?.model ?? device?.default_model),
      hw_version: text(device?.hw_version),
      sw_version: text(device?.sw_version),
      serial_number: text(device?.serial_number),
      suggested_area: text(device?.suggested_area),
      configuration_url: text(device?.configuration_url),
    };
  }

  /** bridge.py `_refresh_devices`: the primary device (the app), each secondary device, orphans removed. */
  function refreshDevices(bridge: Bridge) {
    const seen = new Set<string>();
    const primary = bridge.registrationDevice
      ? { ...formatDeviceInfo(bridge, bridge.registrationDevice), identifiers: [["synapse", bridge.metadataUniqueId]] as [string, string][] }
      : { identifiers: [["synapse", bridge.metadataUniqueId]] as [string, string][], name: bridge.stored.data.app, manufacturer: "Synapse", model: "Synapse App" };
    seen.add(bridge.metadataUniqueId);
    core.getOrCreateDevice(bridge.stored.entryId, primary);
    bridge.primaryDevice = primary;
    for (const device of bridge.registrationSecondaryDevices) {
      const uniqueId = text(device.unique_id);
      if (!uniqueId) continue;
      seen.add(uniqueId);
      const info = formatDeviceInfo(bridge, device);
      core.getOrCreateDevice(bridge.stored.entryId, info);
      bridge.viaPrimaryDevice.set(uniqueId, info);
    }
    for (const orphan of bridge.currentDevices) {
      if (seen.has(orphan)) continue;
      const device = core.findDevice(["synapse", orphan]);
      if (device) core.removeDevice(device.id);
    }
    bridge.currentDevices = seen;
  }

  /** bridge.py `_process_app_metadata`: devices, entities, services, the hash; then `synapse/register`. */
  function processAppMetadata(bridge: Bridge, uniqueId: string, metadata: Record<string, unknown>) {
    const entityConfig: Record<string, unknown> = {};
    for (const domain of ENTITY_DOMAINS) if (domain in metadata) entityConfig[domain] = metadata[domain];
    const serviceConfig = "service" in metadata ? { service: metadata.service } : {};
    bridge.currentConfiguration = { ...entityConfig, ...serviceConfig };
    bridge.registrationDevice = asRecord(metadata.device) ?? null;
    bridge.registrationSecondaryDevices = Array.isArray(metadata.secondary_devices)
      ? metadata.secondary_devices.map(device => asRecord(device)).filter((device): device is Record<string, unknown> => device !== undefined)
      : [];
    if (Object.keys(entityConfig).length > 0) {
      bridge.currentConfiguration = entityConfig;
      refreshDevices(bridge);
      refreshEntities(bridge, entityConfig);
    }
    if ("service" in metadata) processServices(bridge, Array.isArray(metadata.service) ? metadata.service : []);
    else if (bridge.currentServices.size > 0) processServices(bridge, []);
    const hash = typeof metadata.hash === "string" ? metadata.hash : "";
    if (hash) bridge.stored.hashes[uniqueId] = hash;
    core.fire("synapse/register", { unique_id: uniqueId, entity_config: entityConfig });
  }

  /** bridge.py `handle_registration`. */
  function handleRegistration(bridge: Bridge, uniqueId: string, metadata: AppMetadata): Record<string, unknown> {
    if (bridge.connections.has(uniqueId)) {
      log(`synapse: registration failed: app '${uniqueId}' is already connected`);
      return { success: false, error_code: ERR.ALREADY_CONNECTED, message: `Unique ID ${uniqueId} is already connected`, unique_id: uniqueId };
    }
    if (![...stored.values()].some(app => app.data.unique_id === uniqueId)) {
      return { success: false, error_code: ERR.NOT_REGISTERED, message: `App with unique_id ${uniqueId} is not registered`, unique_id: uniqueId };
    }
    const lastKnown = bridge.stored.hashes[uniqueId] ?? "";
    const current = metadata.hash;
    const hashChanged = lastKnown !== "" && current !== "" && lastKnown !== current;
    // the app's connection is not registered yet: this request goes nowhere (the integration logs a warning)
    if (hashChanged && !requestReRegistration(bridge, uniqueId)) log(`synapse: failed to send re-registration request during registration for app '${uniqueId}'`);
    bridge.cleanupMode = metadata.cleanup ?? "delete";
    processAppMetadata(bridge, uniqueId, metadata);
    return {
      success: true,
      registered: true,
      last_known_hash: lastKnown,
      current_hash: current,
      hash_changed: hashChanged,
      configuration_requested: hashChanged,
      message: `Registration successful${hashChanged ? " - configuration sync requested" : ""}`,
      unique_id: uniqueId,
    };
  }

  const handlers: Record<string, WsCommand> = {
    "synapse/application_online_ready": {
      schema: schemas.register,
      handle(connection, message, reply) {
        const msg = schemas.register.parse(message);
        if (rateLimited(connection, "register", 10)) throw new CommandError(ERR.RATE_LIMIT_EXCEEDED, "Too many registration attempts. Please wait before retrying.");
        const size = tooLarge(msg, 50_000);
        if (size) throw new CommandError(ERR.MESSAGE_TOO_LARGE, size);
        const bridge = bridges.get(msg.unique_id);
        if (!bridge) {
          log(`synapse: no bridge found for unique_id: ${msg.unique_id}`);
          reply.result({
            success: false,
            error_code: ERR.BRIDGE_NOT_FOUND,
            message: `No bridge found for unique_id: ${msg.unique_id} - app must be configured via the integration config flow first`,
            unique_id: msg.unique_id,
          });
          return;
        }
        const result = handleRegistration(bridge, msg.unique_id, msg.app_metadata);
        if (result.success === true) {
          bridge.stored.everRegistered = true;
          registerConnection(bridge, msg.unique_id, connection);
          cancel(bridge.connectionTimeouts.get(msg.unique_id));
          bridge.connectionTimeouts.delete(msg.unique_id);
          unsettled.delete(connection);
          log(`synapse: app '${msg.app_metadata.app}' (${msg.unique_id}) registered (${pythonJsonLength(msg)} of 50000 bytes)`);
        }
        reply.result(result);
      },
    },
    "synapse/heartbeat": {
      schema: schemas.heartbeat,
      handle(connection, message, reply) {
        const msg = schemas.heartbeat.parse(message);
        if (rateLimited(connection, "heartbeat", 120)) throw new CommandError(ERR.RATE_LIMIT_EXCEEDED, "Too many heartbeat messages. Please reduce frequency.");
        const found = bridgeForConnection(connection);
        if (!found) return bridgeNotFound(connection, reply, "heartbeat", msg.unique_id);
        const [bridge, uniqueId] = found;
        bridge.lastHeartbeat = Date.now() / 1000;
        resetHeartbeatTimer(bridge);
        const wasOffline = !bridge.online;
        bridge.online = true;
        if (wasOffline) {
          log(`synapse: app '${bridge.stored.data.app}' restored contact via heartbeat`);
          bridge.connections.set(uniqueId, connection);
          bridge.connectionTimestamps.set(uniqueId, Date.now());
          setupConnectionTimeout(bridge, uniqueId);
          fireHealth();
        }
        const lastKnown = bridge.stored.hashes[uniqueId] ?? "";
        if (lastKnown && msg.hash !== lastKnown) {
          const sent = requestReRegistration(bridge, uniqueId);
          reply.result({
            success: sent,
            heartbeat_received: true,
            hash_drift_detected: true,
            re_registration_requested: sent,
            message: sent ? "Hash drift detected - re-registration requested" : "Hash drift detected but failed to send re-registration request",
            last_known_hash: lastKnown,
            current_hash: msg.hash,
          });
          return;
        }
        reply.result({ success: true, heartbeat_received: true, hash_drift_detected: false, re_registration_requested: false, message: "Heartbeat received - hash unchanged" });
      },
    },
    "synapse/update_configuration": {
      schema: schemas.update,
      handle(connection, message, reply) {
        const msg = schemas.update.parse(message);
        if (rateLimited(connection, "update_configuration", 5)) throw new CommandError(ERR.RATE_LIMIT_EXCEEDED, "Too many configuration updates. Please wait before retrying.");
        const size = tooLarge(msg, 1_000_000);
        if (size) throw new CommandError(ERR.CONFIGURATION_TOO_LARGE, size);
        const found = bridgeForConnection(connection);
        if (!found) return bridgeNotFound(connection, reply, "configuration update", msg.unique_id);
        processAppMetadata(found[0], msg.unique_id, msg.app_metadata);
        reply.result({ success: true, configuration_updated: true, message: "Configuration update with metadata completed successfully" });
      },
    },
    "synapse/going_offline": {
      schema: schemas.goingOffline,
      handle(connection, _message, reply) {
        const found = bridgeForConnection(connection);
        if (!found) return bridgeNotFound(connection, reply, "going offline message");
        const [bridge, uniqueId] = found;
        log(`synapse: app '${uniqueId}' going offline gracefully`);
        bridge.online = false;
        unregisterConnection(bridge, uniqueId);
        cancel(bridge.heartbeatTimer);
        bridge.heartbeatTimer = undefined;
        fireHealth();
        reply.result({ success: true, offline: true, message: "App marked as offline - graceful shutdown complete", unique_id: uniqueId });
      },
    },
    "synapse/get_health": {
      schema: schemas.health,
      handle(connection, message, reply) {
        const msg = schemas.health.parse(message);
        const found = bridgeForConnection(connection);
        if (!found) return bridgeNotFound(connection, reply, "health check", msg.unique_id);
        const [bridge] = found;
        const healthOf = (uniqueId: string) =>
          bridge.connections.has(uniqueId)
            ? {
                connected: true,
                uptime_seconds: Math.floor((Date.now() - (bridge.connectionTimestamps.get(uniqueId) ?? Date.now())) / 1000),
                online: bridge.online,
                last_heartbeat: bridge.lastHeartbeat,
              }
            : { connected: false, error: "Connection not found" };
        if (msg.unique_id) reply.result({ success: true, health: healthOf(msg.unique_id), unique_id: msg.unique_id });
        else {
          const all = Object.fromEntries([...bridge.connections.keys()].map(uniqueId => [uniqueId, healthOf(uniqueId)]));
          reply.result({ success: true, health: all, total_connections: Object.keys(all).length });
        }
      },
    },
  };

  return { newBridge, addHealthSensor, unregisterConnection, handlers };
}

/** The bridges of the configured apps. */
export type Bridges = ReturnType<typeof createBridges>;
