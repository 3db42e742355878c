/**
 * What the emulated synapse integration's parts share: the constants of synapse/const.py,
 * the bridge and entity records, and one context (the configured apps, their bridges, the
 * timers that go when HA stops, the per-connection rate limits of websocket.py).
 */
import { z } from "zod";

import { type WsConnection } from "../commands.mjs";
import { type DeviceInput, type HassCore, type LiveEntity } from "../core.mjs";
import { pythonJsonLength } from "../model.mjs";

/** synapse/const.py PLATFORMS: the domains whose entities the integration creates. */
export const PLATFORMS = ["binary_sensor", "button", "date", "datetime", "lock", "number", "scene", "select", "sensor", "switch", "text", "time"] as const;
/** synapse/const.py ENTITY_DOMAINS: the domains a registration may carry. */
export const ENTITY_DOMAINS = ["sensor", "switch", "binary_sensor", "button", "climate", "lock", "number", "select", "text", "date", "time", "datetime", "scene"] as const;

/** Error codes of synapse/const.py SynapseErrorCodes. */
export const ERR = {
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
export interface StoredApp {
  entryId: string;
  data: { app: string; title: string; unique_id: string };
  hashes: Record<string, string>;
  /** Whether the app ever registered since it was added (emulator bookkeeping, see `discoveryRound`). */
  everRegistered: boolean;
}

/** A live synapse entity (SynapseBaseEntity and its domain class, or the health sensor). */
export interface SynapseEntity extends LiveEntity {
  readonly uniqueId: string;
  readonly bridge: Bridge;
  /** The entity's data dict: the registration's copy, merged with every patch since. */
  readonly data: Record<string, unknown>;
}

/** A bridge (synapse/bridge.py SynapseBridge): one per configured app, rebuilt at every HA start. */
export interface Bridge {
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


/** Fields every websocket command has (websocket.py schemas). */
export const base = { id: z.number().int().positive() };
/** An app's or entity's unique id in a command. */
export const uniqueIdField = z.string().min(1).max(255);

/** A value as Python's `str()` would show it in HA (null for none). */
export function text(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}

/** The key of a live entity in a bridge: `domain:unique_id`. */
export const liveKey = (domain: string, uniqueId: string) => `${domain}:${uniqueId}`;

/** What the integration's parts share. */
export interface SynapseContext {
  readonly core: HassCore;
  readonly options: SynapseOptions;
  log: (line: string) => void;
  /** What the config flow stored, by config entry id (kept across HA restarts). */
  readonly stored: Map<string, StoredApp>;
  /** One bridge per configured app, by the app's unique id (rebuilt at every start). */
  readonly bridges: Map<string, Bridge>;
  /** Connections that may be apps not yet found, with the discovery rounds tried for each. */
  readonly unsettled: Map<WsConnection, number>;
  /** A timer that HA's stop clears. */
  later: (ms: number, run: () => void) => NodeJS.Timeout;
  cancel: (timer: NodeJS.Timeout | undefined) => void;
  /** HA runs entity listeners as scheduled jobs: after the handler that fired the event has answered. */
  defer: (run: () => void) => void;
  /** The bridge holding this very connection, and the app unique id it holds it for (websocket.py `get_bridge_for_connection`). */
  bridgeForConnection: (connection: WsConnection) => [Bridge, string] | undefined;
  /** websocket.py `_check_rate_limit`: true when over the limit for this connection and command. */
  rateLimited: (connection: WsConnection, command: string, maxPerMinute: number) => boolean;
  /** Why a message is too large, or undefined. */
  tooLarge: (message: unknown, maxSize: number) => string | undefined;
  /** HA stopping: every timer, rate limit and pending deferred job of this run goes. */
  stop: () => void;
}

/** The shared context of one integration. */
export function createSynapseContext(core: HassCore, options: SynapseOptions): SynapseContext {
  const bridges = new Map<string, Bridge>();
  const rateLimits = new Map<string, { count: number; windowStart: number }>();
  const timers = new Set<NodeJS.Timeout>();
  const unsettled = new Map<WsConnection, number>();
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

  return {
    core,
    options,
    log: options.log,
    stored: new Map(),
    bridges,
    unsettled,
    later,
    cancel,
    defer,
    bridgeForConnection(connection) {
      for (const bridge of bridges.values()) {
        for (const [uniqueId, candidate] of bridge.connections) if (candidate === connection) return [bridge, uniqueId];
      }
      return undefined;
    },
    rateLimited,
    tooLarge,
    stop() {
      generation++;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      bridges.clear();
      rateLimits.clear();
      unsettled.clear();
    },
  };
}
