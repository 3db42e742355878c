/**
 * The synapse integration (the Home Assistant custom component of
 * Digital-Alchemy-TS/synapse-extension), as its sources behave: the config flow's discovery
 * (`synapse/discovery` → `synapse/identify`), one bridge per configured app
 * (synapse/bridge.py), the websocket commands (websocket.py), the entity platforms
 * (button.py, number.py, select.py, text.py, sensor.py, binary_sensor.py, switch.py,
 * synapse/base_entity.py) and the online sensor (health.py).
 */
import { z } from "zod";

import { CommandError, type Reply, type WsCommand, type WsConnection } from "./commands.mjs";
import { type DeviceInput, type EntityRender, type HassCore, humanizeIssues, type LiveEntity } from "./core.mjs";
import { asRecord, type FiredEvent, newContext, pythonJsonLength, slugify } from "./model.mjs";

/** synapse/const.py PLATFORMS: the domains whose entities the integration creates. */
const PLATFORMS = ["binary_sensor", "button", "date", "datetime", "lock", "number", "scene", "select", "sensor", "switch", "text", "time"] as const;
/** synapse/const.py ENTITY_DOMAINS: the domains a registration may carry. */
const ENTITY_DOMAINS = ["sensor", "switch", "binary_sensor", "button", "climate", "lock", "number", "select", "text", "date", "time", "datetime", "scene"] as const;

/** Error codes of synapse/const.py SynapseErrorCodes. */
const ERR = {
  ALREADY_CONNECTED: "already_connected",
  NOT_REGISTERED: "not_registered",
  BRIDGE_NOT_FOUND: "bridge_not_found",
  REGISTRATION_FAILED: "registration_failed",
  INVALID_MESSAGE_FORMAT: "invalid_message_format",
  MESSAGE_TOO_LARGE: "message_too_large",
  RATE_LIMIT_EXCEEDED: "rate_limit_exceeded",
  CONFIGURATION_TOO_LARGE: "configuration_too_large",
  ENTITY_VALIDATION_FAILED: "entity_validation_failed",
} as const;

/** What the integration's config flow stores for an app (`synapse/identify` data) and its persisted hashes. */
interface StoredApp {
  entryId: string;
  data: { app: string; title: string; unique_id: string };
  hashes: Record<string, string>;
  /** Whether the app ever registered since it was added (emulator bookkeeping, see `discoveryRound`). */
  everRegistered: boolean;
}

/** A live synapse entity (SynapseBaseEntity and its domain class, or the health sensor). */
interface SynapseEntity extends LiveEntity {
  readonly uniqueId: string;
  readonly bridge: Bridge;
  /** The entity's data dict: the registration's copy, merged with every patch since. */
  readonly data: Record<string, unknown>;
}

/** A bridge (synapse/bridge.py SynapseBridge): one per configured app, rebuilt at every HA start. */
interface Bridge {
  readonly stored: StoredApp;
  readonly metadataUniqueId: string;
  connections: Map<string, WsConnection>;
  connectionTimestamps: Map<string, number>;
  connectionTimeouts: Map<string, NodeJS.Timeout>;
  heartbeatTimer: NodeJS.Timeout | undefined;
  lastHeartbeat: number | null;
  online: boolean;
  primaryDevice: DeviceInput | null;
  viaPrimaryDevice: Map<string, DeviceInput>;
  registrationDevice: Record<string, unknown> | null;
  registrationSecondaryDevices: Record<string, unknown>[];
  currentEntities: Map<string, Set<string>>;
  currentDevices: Set<string>;
  currentServices: Set<string>;
  serviceRegistry: Map<string, { name: string; domain: string }>;
  cleanupMode: string;
  currentConfiguration: Record<string, unknown>;
  generatedEntities: Set<string>;
  /** The platform's entity objects, by `domain:unique_id`. */
  live: Map<string, SynapseEntity>;
}

/** Options of the integration. */
export interface SynapseOptions {
  /** Heartbeat timeout (APP_OFFLINE_DELAY, 30 s). */
  offlineAfterMs: number;
  /** Run the config flow for every app that answers discovery, as a person adding it would. */
  autoAdopt: boolean;
  /** Forget an app's connection when its socket closes (the integration does not: see docs/internals.md). */
  dropClosedAppConnections: boolean;
  log: (line: string) => void;
}

// ------------------------------------------------------------------ message schemas (websocket.py)

const base = { id: z.number().int().positive() };
const uniqueIdField = z.string().min(1).max(255);
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
  patch: z.strictObject({ ...base, type: z.literal("synapse/patch_entity"), unique_id: uniqueIdField, data: z.record(z.string(), z.unknown()) }),
  update: z.strictObject({ ...base, type: z.literal("synapse/update_configuration"), unique_id: uniqueIdField, app_metadata: z.record(z.string(), z.unknown()) }),
  goingOffline: z.strictObject({ ...base, type: z.literal("synapse/going_offline") }),
  health: z.strictObject({ ...base, type: z.literal("synapse/get_health"), unique_id: uniqueIdField.optional() }),
  abandoned: z.strictObject({ ...base, type: z.literal("synapse/abandoned_entities") }),
  serviceResponse: z.strictObject({
    ...base,
    type: z.literal("synapse/service_call_response"),
    call_id: z.string(),
    success: z.boolean(),
    result: z.record(z.string(), z.unknown()).optional(),
    error: z.string().optional(),
  }),
} as const;

/** The `synapse/identify` data an app fires in answer to discovery. */
const identifySchema = z.object({ app: z.string(), title: z.string(), unique_id: z.string().min(1) });
type IdentifyReply = z.infer<typeof identifySchema>;

/** The synapse config flow's form, as a person sees it in Settings → Add integration. */
export interface ConfigFlow {
  /** What the form lists: `{app name: title}` (config_flow.py `app_choices`). */
  readonly choices: Record<string, string>;
  /** Submit the form with this app name; the unique id of the app it added, or undefined when it was configured meanwhile. */
  pick(appName: string): string | undefined;
}

function text(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}

/** Create the integration on a core; `start` sets it up, as HA does at every start. */
export function createSynapseIntegration(core: HassCore, options: SynapseOptions) {
  const { log } = options;
  const stored = new Map<string, StoredApp>();
  const bridges = new Map<string, Bridge>();
  const rateLimits = new Map<string, { count: number; windowStart: number }>();
  const timers = new Set<NodeJS.Timeout>();
  /** Bumped at every stop: deferred entity work of a stopped HA is dropped. */
  let generation = 0;

  const later = (ms: number, run: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      run();
    }, ms);
    timers.add(timer);
    return timer;
  };
  const cancel = (timer: NodeJS.Timeout | undefined) => {
    if (!timer) return;
    clearTimeout(timer);
    timers.delete(timer);
  };
  /** HA runs entity listeners as scheduled jobs: after the handler that fired the event has answered. */
  const defer = (run: () => void) => {
    const current = generation;
    setImmediate(() => {
      if (current === generation) run();
    });
  };

  // ------------------------------------------------------------------ rate limits, sizes

  /** websocket.py `_check_rate_limit`: true when over the limit for this connection and command. */
  function rateLimited(connection: WsConnection, command: string, maxPerMinute: number): boolean {
    const now = Date.now() / 1000;
    const key = `${connection.id}:${command}`;
    const tracking = rateLimits.get(key) ?? { count: 0, windowStart: now };
    rateLimits.set(key, tracking);
    if (now - tracking.windowStart > 60) {
      tracking.count = 0;
      tracking.windowStart = now;
    }
    if (tracking.count >= maxPerMinute) return true;
    tracking.count += 1;
    return false;
  }

  const tooLarge = (message: unknown, maxSize: number) =>
    pythonJsonLength(message) > maxSize ? `Message size exceeds maximum allowed size of ${maxSize} bytes` : undefined;

  // ------------------------------------------------------------------ bridges

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

  function bridgeForConnection(connection: WsConnection): [Bridge, string] | undefined {
    for (const bridge of bridges.values()) {
      for (const [uniqueId, candidate] of bridge.connections) if (candidate === connection) return [bridge, uniqueId];
    }
    return undefined;
  }

  const fireHealth = () => core.fire("synapse/health");

  function sendToApp(bridge: Bridge, uniqueId: string, message: Record<string, unknown>): boolean {
    const connection = bridge.connections.get(uniqueId);
    if (!connection) {
      log(`synapse: cannot send message to app '${uniqueId}': not connected`);
      return false;
    }
    // HA's send_message to a closed connection is dropped silently: the bridge cannot tell
    connection.send(message);
    return true;
  }

  /** bridge.py `emit_event`: `{type: "synapse/<event>", event: {...}}` to every connection of the app. */
  function emitEvent(bridge: Bridge, eventType: string, data: Record<string, unknown>) {
    if (bridge.connections.size === 0) {
      log("synapse: no WebSocket connections available to emit event");
      return false;
    }
    for (const uniqueId of bridge.connections.keys()) sendToApp(bridge, uniqueId, { type: `synapse/${eventType}`, event: { ...data } });
    return true;
  }

  const reRegistrationMessage = (data: Record<string, unknown>) => ({
    type: "event",
    event: { event_type: "synapse/request_re_registration", data },
  });

  function requestReRegistration(bridge: Bridge, uniqueId: string) {
    return sendToApp(
      bridge,
      uniqueId,
      reRegistrationMessage({ unique_id: uniqueId, message: "Re-registration requested - please resend registration", action: "resend_registration" }),
    );
  }

  /** websocket.py `_handle_bridge_not_found`: ask the app to register again, and say so in the result. */
  function bridgeNotFound(connection: WsConnection, reply: Reply, operation: string, uniqueId?: string) {
    log(`synapse: no bridge found for ${operation} - connection desync detected, requesting re-registration`);
    connection.send(
      reRegistrationMessage({
        message: "Connection desync detected - please re-register",
        action: "resend_registration",
        ...(uniqueId ? { unique_id: uniqueId } : {}),
      }),
    );
    reply.result({
      success: false,
      error_code: ERR.BRIDGE_NOT_FOUND,
      message: `No bridge found for ${operation} - connection may be stale. Re-registration requested.`,
      requires_reregistration: true,
    });
  }

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

  // ------------------------------------------------------------------ entities

  /** How each platform class turns the entity dict into HA's view of it. */
  function renderEntity(domain: string, data: Record<string, unknown>, lastPressed: string | null): EntityRender {
    const common: EntityRender = {
      state: null,
      friendlyName: text(data.name),
      icon: text(data.icon),
      stateAttributes: asRecord(data.attributes) ?? {},
    };
    switch (domain) {
      case "sensor":
        return {
          ...common,
          state: data.state ?? null,
          capabilityAttributes: asRecord(data.capability_attributes) ?? null,
          unitOfMeasurement: text(data.unit_of_measurement),
          deviceClass: text(data.device_class),
          supportedFeatures: typeof data.supported_features === "number" ? data.supported_features : 0,
        };
      case "binary_sensor":
      case "switch":
        return { ...common, state: data.is_on === true ? "on" : "off", deviceClass: text(data.device_class) };
      case "button":
        return { ...common, state: lastPressed, deviceClass: text(data.device_class) };
      case "number":
        return {
          ...common,
          state: typeof data.native_value === "number" ? data.native_value : (data.native_value ?? null),
          capabilityAttributes: {
            min: data.native_min_value ?? 0,
            max: data.native_max_value ?? 100,
            step: data.step ?? 1,
            mode: data.mode ?? "auto",
          },
          unitOfMeasurement: text(data.native_unit_of_measurement),
          deviceClass: text(data.device_class),
        };
      case "select": {
        const choices = Array.isArray(data.options) ? data.options : [];
        const current = data.current_option;
        return { ...common, state: current !== undefined && current !== null && choices.includes(current) ? current : null, capabilityAttributes: { options: choices } };
      }
      case "text": {
        // synapse's text.py leaves min, max, pattern and mode at TextEntity's defaults
        const value = data.native_value;
        if (typeof value === "string" && value.length > 255) throw new Error(`Entity text: value length ${value.length} exceeds the maximum 255`);
        return { ...common, state: value ?? null, capabilityAttributes: { mode: "text", min: 0, max: 255, pattern: null } };
      }
      default:
        return { ...common, state: data.state ?? data.native_value ?? null };
    }
  }

  const liveKey = (domain: string, uniqueId: string) => `${domain}:${uniqueId}`;

  /** base_entity.py `available`: disabled, abandoned (cleanup "abandon"), or the app offline. */
  function entityAvailable(bridge: Bridge, uniqueId: string, data: Record<string, unknown>): boolean {
    if (data.disabled === true) return false;
    if (bridge.cleanupMode === "abandon") {
      const inConfiguration = [...bridge.currentEntities.values()].some(set => set.has(uniqueId));
      if (!inConfiguration) return false;
    }
    return bridge.online;
  }

  function deviceInfoOf(bridge: Bridge, data: Record<string, unknown>): DeviceInput | null {
    const declared = typeof data.device_id === "string" ? data.device_id : "";
    if (declared.length > 0) {
      const device = bridge.viaPrimaryDevice.get(declared);
      if (device) return device;
    }
    return bridge.primaryDevice;
  }

  /** entity_platform `_async_add_entity` for a synapse entity (registry entry completed, then the state). */
  function addPlatformEntity(bridge: Bridge, domain: string, source: Record<string, unknown>) {
    const uniqueId = String(source.unique_id);
    if (bridge.live.has(liveKey(domain, uniqueId))) {
      // the entity object of the first registration stays, with its data (and patches since);
      // HA logs the new one at ERROR level (entity_platform.py `_async_add_entity`)
      log(`synapse: ERROR Platform synapse does not generate unique IDs. ID ${uniqueId} already exists - ignoring ${core.findEntityId(domain, "synapse", uniqueId) ?? ""}`);
      return;
    }
    const data = { ...source };
    const deviceInfo = deviceInfoOf(bridge, data);
    const device = deviceInfo ? core.getOrCreateDevice(bridge.stored.entryId, deviceInfo) : undefined;
    const render = renderEntity(domain, data, null);
    const entry = core.getOrCreateEntityEntry({
      domain,
      platform: "synapse",
      uniqueId,
      configEntryId: bridge.stored.entryId,
      suggestedObjectId: typeof data.suggested_object_id === "string" ? data.suggested_object_id : text(data.name) ?? undefined,
      deviceId: device?.id ?? null,
      originalName: text(data.name),
      originalIcon: text(data.icon),
      entityCategory: data.entity_category === "config" || data.entity_category === "diagnostic" ? data.entity_category : null,
      capabilities: render.capabilityAttributes ?? null,
      originalDeviceClass: render.deviceClass ?? null,
      supportedFeatures: render.supportedFeatures ?? 0,
      unitOfMeasurement: render.unitOfMeasurement ?? null,
      translationKey: text(data.translation_key),
    });
    const owner = core.entities.get(entry.entity_id);
    if (owner) {
      log(`synapse: ERROR Entity id already exists - ignoring: ${entry.entity_id}`);
      return;
    }
    const entity: SynapseEntity = {
      entityId: entry.entity_id,
      domain,
      platform: "synapse",
      uniqueId,
      bridge,
      data,
      lastPressed: domain === "button" ? core.restoredPress(entry.entity_id) : null,
      available: () => entityAvailable(bridge, uniqueId, data),
      render: () => renderEntity(domain, data, entity.lastPressed ?? null),
      act: (action, payload) => void emitEvent(bridge, action, { unique_id: uniqueId, ...payload }),
    };
    bridge.live.set(liveKey(domain, uniqueId), entity);
    core.addEntity(entity);
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

  /** bridge.py `_validate_entity_data`: undefined when valid, else why. */
  function entityProblem(entity: unknown, domain: string): string | undefined {
    const data = asRecord(entity);
    if (!data) return "Entity data must be a dictionary";
    for (const field of ["unique_id", "name"]) {
      if (!(field in data)) return `Missing required field '${field}' in entity data`;
      if (!data[field]) return `Required field '${field}' cannot be empty`;
    }
    const uniqueId = data.unique_id;
    if (typeof uniqueId !== "string") return "unique_id must be a string";
    if (uniqueId.trim().length === 0) return "unique_id cannot be empty or whitespace only";
    for (const char of ["<", ">", "&", '"', "'"]) if (uniqueId.includes(char)) return `unique_id contains invalid character '${char}'`;
    if (typeof data.name !== "string") return "name must be a string";
    if (data.name.trim().length === 0) return "name cannot be empty or whitespace only";
    const optional: Record<string, (value: unknown) => boolean> = {
      suggested_object_id: value => typeof value === "string",
      icon: value => typeof value === "string",
      device_class: value => typeof value === "string",
      entity_category: value => typeof value === "string",
      translation_key: value => typeof value === "string",
      attributes: value => asRecord(value) !== undefined,
      labels: value => Array.isArray(value),
      area_id: value => typeof value === "string",
      device_id: value => typeof value === "string",
    };
    for (const [field, valid] of Object.entries(optional)) {
      if (data[field] !== undefined && data[field] !== null && !valid(data[field])) return `Field '${field}' has the wrong type`;
    }
    if (domain === "sensor") {
      for (const field of ["state_class", "native_unit_of_measurement", "unit_of_measurement"]) {
        if (data[field] !== undefined && data[field] !== null && typeof data[field] !== "string") return `Field '${field}' must be a string`;
      }
    }
    if (domain === "number") {
      for (const field of ["min_value", "max_value", "step"]) {
        if (data[field] !== undefined && data[field] !== null && typeof data[field] !== "number") return `Field '${field}' must be a number`;
      }
    }
    const category = data.entity_category;
    if (category !== undefined && category !== null && category !== "config" && category !== "diagnostic") {
      return `entity_category must be one of ['config', 'diagnostic'], got ${JSON.stringify(category)}`;
    }
    return undefined;
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

  function deviceIdForEntity(bridge: Bridge, data: Record<string, unknown>): string | null {
    const declared = typeof data.device_id === "string" ? data.device_id : "";
    if (declared) {
      const device = core.findDevice(["synapse", declared]);
      if (!device) log(`synapse: Device ${declared} not found in registry for entity ${String(data.unique_id)}`);
      return device?.id ?? null;
    }
    return bridge.primaryDevice ? (core.findDevice(["synapse", bridge.metadataUniqueId])?.id ?? null) : null;
  }

  /** bridge.py `_refresh_entities`: registry entries for every valid entity, orphans removed. */
  function refreshEntities(bridge: Bridge, configuration: Record<string, unknown>) {
    const next = new Map<string, Set<string>>();
    for (const domain of PLATFORMS) {
      const entities = configuration[domain];
      if (!Array.isArray(entities)) continue;
      const ids = new Set<string>();
      next.set(domain, ids);
      for (const entity of entities) {
        const problem = entityProblem(entity, domain);
        const data = asRecord(entity);
        if (problem || !data) {
          log(`synapse: invalid entity data for domain ${domain}: ${problem ?? "not a dictionary"} (skipped)`);
          continue;
        }
        const uniqueId = String(data.unique_id);
        if (ids.has(uniqueId)) {
          log(`synapse: duplicate unique_id '${uniqueId}' found in domain ${domain}, skipping`);
          continue;
        }
        ids.add(uniqueId);
        const entry = core.getOrCreateEntityEntry({
          domain,
          platform: "synapse",
          uniqueId,
          configEntryId: bridge.stored.entryId,
          suggestedObjectId: typeof data.suggested_object_id === "string" ? data.suggested_object_id : undefined,
          deviceId: deviceIdForEntity(bridge, data),
        });
        // `update_data` of `_process_entity_domain`: a truthy entity_category goes to
        // `async_update_entity` as the string it arrived as, and HA's `_validate_item` refuses
        // anything but an EntityCategory: the whole update fails (name and icon included), the
        // bridge logs an error and a traceback, and the entity stays tracked
        const category = data.entity_category;
        if (category) {
          log(
            `synapse: ERROR Error processing entity ${uniqueId}: entity_category must be a valid EntityCategory instance, got ${text(category) ?? ""}`,
          );
          log("synapse: ERROR Full traceback: ValueError raised in homeassistant/helpers/entity_registry.py _validate_item");
          continue;
        }
        core.updateEntityEntry(entry.entity_id, {
          ...(data.name ? { name: text(data.name) } : {}),
          ...(data.icon ? { icon: text(data.icon) } : {}),
        });
      }
    }
    if (bridge.cleanupMode === "delete") {
      for (const [domain, ids] of bridge.currentEntities) {
        for (const uniqueId of ids) {
          if (next.get(domain)?.has(uniqueId)) continue;
          const entityId = core.findEntityId(domain, "synapse", uniqueId);
          if (!entityId) continue;
          bridge.live.delete(liveKey(domain, uniqueId));
          core.removeEntityEntry(entityId);
          log(`synapse: removed orphaned entity ${domain}.${uniqueId}`);
        }
      }
    }
    bridge.currentEntities = next;
  }

  /** bridge.py `_process_services`: register each app service as an HA service that forwards calls. */
  function processServices(bridge: Bridge, definitions: unknown[]) {
    const next = new Set<string>();
    for (const definition of definitions) {
      const service = asRecord(definition);
      const name = text(service?.name);
      const uniqueId = text(service?.unique_id);
      if (!service || !name || !uniqueId) {
        log("synapse: invalid service definition: missing name or unique_id");
        continue;
      }
      const domain = text(service.domain) ?? "synapse";
      const old = bridge.serviceRegistry.get(uniqueId);
      if (old) core.removeService(old.domain, old.name);
      core.registerService(domain, name, {
        schema: z.record(z.string(), z.unknown()),
        description: { name, description: text(service.description) ?? "", fields: asRecord(service.fields) ?? {}, ...(asRecord(service.target) ? { target: asRecord(service.target) } : {}) },
        handler: ({ data }) => {
          const connection = bridge.connections.get(bridge.metadataUniqueId);
          if (!connection) return;
          connection.send({ id: `service_call_${Date.now()}`, type: "synapse/service_call", service_name: name, service_data: data, service_unique_id: uniqueId });
        },
      });
      bridge.serviceRegistry.set(uniqueId, { name, domain });
      next.add(uniqueId);
    }
    for (const orphan of bridge.currentServices) {
      if (next.has(orphan)) continue;
      const old = bridge.serviceRegistry.get(orphan);
      if (old) core.removeService(old.domain, old.name);
      bridge.serviceRegistry.delete(orphan);
    }
    bridge.currentServices = next;
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

  /** The platforms' `synapse/register` listeners: entities not added yet are added now. */
  function addRegisteredEntities(bridge: Bridge) {
    for (const domain of PLATFORMS) {
      const entities = bridge.currentConfiguration[domain];
      if (!Array.isArray(entities)) continue;
      for (const entity of entities) {
        const data = asRecord(entity);
        if (!data || entityProblem(data, domain)) continue;
        addPlatformEntity(bridge, domain, data);
      }
    }
  }

  const allLive = () => [...bridges.values()].flatMap(bridge => [...bridge.live.values()]);

  /** The entities' bus listeners (base_entity.py): update, health and register events. */
  function listenForEntityEvents() {
    core.listen("synapse/update", event => {
      const uniqueId = event.data.unique_id;
      const patch = asRecord(event.data.data);
      defer(() => {
        for (const entity of allLive()) {
          if (entity.uniqueId !== uniqueId) continue;
          if (patch) Object.assign(entity.data, patch);
          core.writeEntityState(entity);
        }
      });
    });
    core.listen("synapse/health", () => defer(() => allLive().forEach(entity => core.writeEntityState(entity))));
    core.listen("synapse/register", event => {
      defer(() => {
        allLive().forEach(entity => core.writeEntityState(entity));
        const bridge = bridges.get(String(event.data.unique_id));
        if (bridge) addRegisteredEntities(bridge);
      });
    });
  }

  // ------------------------------------------------------------------ config flow

  /** `async_setup_entry`: the bridge, the platforms (only the online sensor until the app registers), then `user_config_completed`. */
  function setupEntry(app: StoredApp, announce: boolean) {
    const bridge = newBridge(app);
    bridges.set(app.data.unique_id, bridge);
    addHealthSensor(bridge);
    if (announce) {
      core.fire("synapse/user_config_completed", { unique_id: app.data.unique_id, message: "Bridge is ready - please register via WebSocket" });
    }
  }

  /** Add an app as the config flow does when a person picks it. */
  function adoptApp(data: IdentifyReply) {
    const entry = core.addConfigEntry("synapse", data.title);
    const app: StoredApp = { entryId: entry.entry_id, data: { app: data.app, title: data.title, unique_id: data.unique_id }, hashes: {}, everRegistered: false };
    stored.set(entry.entry_id, app);
    log(`synapse: config flow added app '${data.app}' (${data.unique_id})`);
    setupEntry(app, true);
  }

  let round: Promise<IdentifyReply[]> | undefined;
  /** Ends the running round early (HA stopping): its callers get no apps. */
  let abandonRound: (() => void) | undefined;
  let roundTimer: NodeJS.Timeout | undefined;
  const unsettled = new Map<WsConnection, number>();

  /** config_flow.py `identify_all`: fire `synapse/discovery` and collect `synapse/identify` for a second. */
  function identifyAll(windowMs: number): Promise<IdentifyReply[]> {
    round ??= new Promise<IdentifyReply[]>(resolve => {
      abandonRound = () => resolve([]);
      const replies: FiredEvent[] = [];
      const stop = core.listen("synapse/identify", event => void replies.push(event));
      core.fire("synapse/discovery");
      later(windowMs, () => {
        stop();
        round = undefined;
        abandonRound = undefined;
        const apps: IdentifyReply[] = [];
        for (const reply of replies) {
          const parsed = identifySchema.safeParse(reply.data);
          if (parsed.success) apps.push(parsed.data);
          else log(`synapse: ignored an identify reply: ${humanizeIssues(parsed.error.issues)}`);
        }
        resolve(apps);
      });
    });
    return round;
  }

  const configuredApp = (uniqueId: string) => [...stored.values()].find(app => app.data.unique_id === uniqueId);

  /**
   * config_flow.py `async_step_user`: the form lists the apps not configured yet as a dict
   * keyed by their `app` name (`{app: title}`: of several apps with one name, the form shows
   * one entry, with the title of the last), and picking an entry adds the *first* app of that
   * name (`next(app for app in known_apps if app["app"] == selected)`), unless its unique id
   * has been configured meanwhile (`_abort_if_unique_id_configured`).
   */
  function flowOf(replies: IdentifyReply[]): ConfigFlow {
    const known = replies.filter(app => !configuredApp(app.unique_id));
    const choices: Record<string, string> = {};
    for (const app of known) choices[app.app] = app.title;
    return {
      choices,
      pick(appName) {
        if (!(appName in choices)) throw new Error(`${JSON.stringify(appName)} is not one of the choices ${JSON.stringify(Object.keys(choices))}`);
        const selected = known.find(app => app.app === appName);
        if (!selected || configuredApp(selected.unique_id)) return undefined;
        adoptApp(selected);
        return selected.unique_id;
      },
    };
  }

  /**
   * One pass of the config flow as a person adding every app it shows: discovery, the form,
   * each entry picked once. An app that answers although it is configured but never
   * registered missed `user_config_completed` (it was not ready yet): it is told again.
   */
  async function discoveryRound(windowMs: number): Promise<string[]> {
    const replies = await identifyAll(windowMs);
    const flow = flowOf(replies);
    const adopted: string[] = [];
    for (const appName of Object.keys(flow.choices)) {
      const uniqueId = flow.pick(appName);
      if (uniqueId) adopted.push(uniqueId);
    }
    for (const reply of replies) {
      const existing = configuredApp(reply.unique_id);
      if (existing && !existing.everRegistered && !adopted.includes(existing.data.unique_id)) {
        core.fire("synapse/user_config_completed", { unique_id: existing.data.unique_id, message: "Bridge is ready - please register via WebSocket" });
      }
    }
    scheduleRounds();
    return adopted;
  }

  const MAX_ROUNDS = 5;
  /** Keep discovering while a new connection might be an app that has not answered yet. */
  function scheduleRounds() {
    if (!options.autoAdopt || roundTimer || round) return;
    for (const [connection, rounds] of unsettled) {
      if (!connection.isOpen() || rounds >= MAX_ROUNDS || bridgeForConnection(connection)) unsettled.delete(connection);
    }
    if (unsettled.size === 0) return;
    for (const [connection, rounds] of unsettled) unsettled.set(connection, rounds + 1);
    roundTimer = later(0, () => {
      roundTimer = undefined;
      void discoveryRound(1000);
    });
  }

  // ------------------------------------------------------------------ websocket commands

  const commands: Record<string, WsCommand> = {
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
    "synapse/patch_entity": {
      schema: schemas.patch,
      handle(connection, message, reply) {
        const msg = schemas.patch.parse(message);
        if (rateLimited(connection, "patch_entity", 300)) throw new CommandError(ERR.RATE_LIMIT_EXCEEDED, "Too many entity patches. Please reduce frequency.");
        const size = tooLarge(msg, 10_000);
        if (size) throw new CommandError(ERR.MESSAGE_TOO_LARGE, size);
        const found = bridgeForConnection(connection);
        if (!found) return bridgeNotFound(connection, reply, "entity patch", msg.unique_id);
        const [bridge] = found;
        const domain = [...bridge.currentEntities.entries()].find(([, ids]) => ids.has(msg.unique_id))?.[0];
        if (!domain) {
          reply.result({
            success: false,
            error_code: ERR.ENTITY_VALIDATION_FAILED,
            message: `Entity ${msg.unique_id} not found - entity may not be loaded`,
            entity_unique_id: msg.unique_id,
          });
          return;
        }
        core.fire("synapse/update", { unique_id: msg.unique_id, data: msg.data, timestamp: null });
        reply.result({ success: true, patched: true, message: `Entity patch processed for ${msg.unique_id}`, entity_unique_id: msg.unique_id, domain });
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
    "synapse/abandoned_entities": {
      schema: schemas.abandoned,
      handle(connection, _message, reply) {
        const found = bridgeForConnection(connection);
        if (!found) return bridgeNotFound(connection, reply, "abandoned entities check");
        const [bridge, uniqueId] = found;
        const current = new Set([...bridge.currentEntities.values()].flatMap(ids => [...ids]));
        const owned = core.entityRegistry().filter(entry => entry.platform === "synapse" && entry.config_entry_id === bridge.stored.entryId);
        const abandoned = owned
          .filter(entry => !bridge.generatedEntities.has(entry.unique_id) && !current.has(entry.unique_id))
          .map(entry => ({
            entity_id: entry.entity_id,
            unique_id: entry.unique_id,
            domain: entry.entity_id.split(".")[0],
            name: entry.name ?? entry.original_name,
            disabled: entry.disabled_by !== null,
          }));
        reply.result({
          success: true,
          abandoned_entities: abandoned,
          total_abandoned: abandoned.length,
          total_registry_entities: owned.length,
          generated_entities_count: owned.filter(entry => bridge.generatedEntities.has(entry.unique_id)).length,
          current_configuration_entities: current.size,
          app_unique_id: uniqueId,
          cleanup_mode: bridge.cleanupMode,
        });
      },
    },
    "synapse/service_call_response": {
      schema: schemas.serviceResponse,
      handle(connection, message, reply) {
        const msg = schemas.serviceResponse.parse(message);
        if (!bridgeForConnection(connection)) return bridgeNotFound(connection, reply, "service call response");
        log(`synapse: service call ${msg.call_id} ${msg.success ? "completed" : `failed: ${msg.error ?? ""}`}`);
        reply.result({ success: true, message: "Service call response received" });
      },
    },
  };

  /** The integration's `reload` service: ask the app (or every app) to register again. */
  function registerReloadService() {
    core.registerService("synapse", "reload", {
      schema: z.strictObject({ app: z.string().optional() }),
      description: { name: "Reload", description: "Reload a synapse app (or all of them).", fields: { app: {} } },
      handler: ({ data }) => {
        for (const bridge of bridges.values()) {
          if (data.app !== undefined && bridge.stored.data.app !== data.app) continue;
          const connected = bridge.connections.keys().next();
          if (!connected.done) requestReRegistration(bridge, connected.value);
        }
      },
    });
  }

  return {
    commands,
    /** Set up at HA start: a bridge (offline) and the online sensor per configured app. */
    start() {
      listenForEntityEvents();
      registerReloadService();
      for (const app of stored.values()) setupEntry(app, false);
    },
    /** HA stopping: every bridge and timer goes; configured apps and their hashes stay. */
    stop() {
      generation++;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      bridges.clear();
      rateLimits.clear();
      unsettled.clear();
      abandonRound?.();
      abandonRound = undefined;
      round = undefined;
      roundTimer = undefined;
    },
    /** A new authenticated connection subscribed to every event: it may be an app waiting to be found. */
    connectionSubscribed(connection: WsConnection) {
      if (!options.autoAdopt) return;
      if (!unsettled.has(connection)) unsettled.set(connection, 0);
      scheduleRounds();
    },
    connectionClosed(connection: WsConnection) {
      unsettled.delete(connection);
      if (!options.dropClosedAppConnections) return;
      const found = bridgeForConnection(connection);
      if (found) unregisterConnection(found[0], found[1]);
    },
    /** Run the config flow now, picking every app it shows; resolves with the unique ids of the apps it added. */
    adopt: () => discoveryRound(1000),
    /** Open the config flow's form (discovery, one second of replies) without picking anything. */
    configFlow: async () => flowOf(await identifyAll(1000)),
    applications: () =>
      [...stored.values()].map(app => {
        const bridge = bridges.get(app.data.unique_id);
        return {
          unique_id: app.data.unique_id,
          name: app.data.title,
          app: app.data.app,
          online: bridge?.online ?? false,
          connected: bridge !== undefined && [...bridge.connections.values()].some(connection => connection.isOpen()),
          lastHeartbeat: bridge?.lastHeartbeat ?? null,
        };
      }),
    /** The object id HA gives an app's online sensor (for tests that look it up). */
    onlineSensorObjectId: (title: string) => slugify(`${title} Online`),
    newContext,
  };
}

/** The integration's API. */
export type SynapseIntegration = ReturnType<typeof createSynapseIntegration>;
