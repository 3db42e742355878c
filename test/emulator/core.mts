/**
 * The core of the loopback Home Assistant: the event bus, the state machine, the entity,
 * device, area, floor and label registries, config entries and the service registry. It
 * behaves like the matching parts of homeassistant/core.py, helpers/entity_registry.py,
 * helpers/device_registry.py and helpers/entity.py, as far as the DA clients can tell.
 */
import { z } from "zod";

import {
  type AreaEntry,
  type ConfigEntry,
  type DeviceEntry,
  type FiredEvent,
  type HassContext,
  type HassState,
  haTime,
  haTimestamp,
  hexId,
  newContext,
  type RegistryEntry,
  sameJson,
  slugify,
  stringifyState,
  ulid,
} from "./model.mjs";
import { errorText } from "../../libs/config/errors.mjs";

/** What an entity shows, before HA assembles its state (helpers/entity.py `_async_calculate_state`). */
export interface EntityRender {
  /** The raw state; null is `unknown`. */
  state: unknown;
  /** The state is a Python float (numbers coerced by a service schema print as `30.0`). */
  isFloat?: boolean;
  capabilityAttributes?: Record<string, unknown> | null;
  /** `state_attributes` and `extra_state_attributes` (left out while unavailable). */
  stateAttributes?: Record<string, unknown> | null;
  unitOfMeasurement?: string | null;
  deviceClass?: string | null;
  icon?: string | null;
  friendlyName?: string | null;
  supportedFeatures?: number | null;
}

/** An entity object added to the state machine by an integration (HA's `Entity`). */
export interface LiveEntity {
  readonly entityId: string;
  readonly domain: string;
  readonly platform: string;
  available(): boolean;
  /** May throw: HA then logs and keeps the previous state. */
  render(): EntityRender;
  /** A service call on this entity, validated by its domain (`press`, `set_value`, `select_option`, `turn_on`…). */
  act(action: string, payload: Record<string, unknown>): void;
  /** Button entities: the last press (restored across restarts like HA's RestoreEntity). */
  lastPressed?: string | null;
}

/** An error a service call ends with, as HA reports it (websocket error code and message). */
export class ServiceCallError extends Error {
  constructor(
    readonly code: "not_found" | "invalid_format" | "service_validation_error" | "home_assistant_error" | "unauthorized",
    message: string,
  ) {
    super(message);
    this.name = "ServiceCallError";
  }
}

/** A running service call. */
export interface ServiceCall {
  domain: string;
  service: string;
  data: Record<string, unknown>;
  context: HassContext;
}

/** A registered service. */
export interface ServiceDefinition {
  /** Validates (and coerces) the service data; HA's voluptuous schema. */
  schema: z.ZodType<Record<string, unknown>>;
  handler: (call: ServiceCall) => void;
  /** What `get_services` shows. */
  description: { name: string; description: string; fields: Record<string, unknown>; target?: Record<string, unknown> };
}

/** Fields of a registry entry that `list` does not show but HA keeps (`as_extended_dict`, restored states). */
interface StoredEntry extends RegistryEntry {
  aliases: string[];
  capabilities: Record<string, unknown> | null;
  device_class: string | null;
  original_device_class: string | null;
  original_icon: string | null;
  supported_features: number;
  unit_of_measurement: string | null;
}

/** What an integration gives when it creates or updates a registry entry. */
export interface EntityEntryInput {
  domain: string;
  platform: string;
  uniqueId: string;
  configEntryId: string | null;
  suggestedObjectId?: string | undefined;
  deviceId?: string | null;
  originalName?: string | null;
  originalIcon?: string | null;
  entityCategory?: string | null;
  capabilities?: Record<string, unknown> | null;
  originalDeviceClass?: string | null;
  supportedFeatures?: number;
  unitOfMeasurement?: string | null;
  translationKey?: string | null;
}

/** What an integration gives for a device (`DeviceInfo`). */
export interface DeviceInput {
  identifiers: [string, string][];
  name?: string | null;
  manufacturer?: string | null;
  model?: string | null;
  hw_version?: string | null;
  sw_version?: string | null;
  serial_number?: string | null;
  suggested_area?: string | null;
  configuration_url?: string | null;
}

/** Events the websocket MATCH_ALL subscription does not receive (homeassistant/const.py). */
const EXCLUDED_FROM_MATCH_ALL = new Set(["state_reported", "homeassistant_close"]);

/** The state machine's states that exist in every HA (core config and the default `sun`). */
function seedStates(core: HassCore) {
  core.setState(
    "zone.home",
    "0",
    { latitude: 52.3731339, longitude: 4.8903147, radius: 100, passive: false, persons: [], editable: true, icon: "mdi:home", friendly_name: "Home" },
    newContext(),
  );
  core.setState(
    "sun.sun",
    "above_horizon",
    { next_dawn: haTime(), next_dusk: haTime(), elevation: 30.1, azimuth: 180.2, rising: false, friendly_name: "Sun" },
    newContext(),
  );
}

/** The target part of an entity service call (helpers/config_validation.py ENTITY_SERVICE_FIELDS). */
const targetSchema = {
  entity_id: z.union([z.string(), z.array(z.string())]).optional(),
  device_id: z.union([z.string(), z.array(z.string())]).optional(),
  area_id: z.union([z.string(), z.array(z.string())]).optional(),
  floor_id: z.union([z.string(), z.array(z.string())]).optional(),
  label_id: z.union([z.string(), z.array(z.string())]).optional(),
};

/** An entity service's schema: its fields plus the target, nothing else (`make_entity_service_schema`). */
export function entityServiceSchema(fields: z.ZodRawShape = {}) {
  return z.strictObject({ ...targetSchema, ...fields }) as unknown as z.ZodType<Record<string, unknown>>;
}

const list = (value: unknown): string[] =>
  typeof value === "string"
    ? value
        .split(",")
        .map(item => item.trim())
        .filter(item => item.length > 0)
    : Array.isArray(value)
      ? value.filter((item): item is string => typeof item === "string")
      : [];

/** The loopback Home Assistant's core. */
export type HassCore = ReturnType<typeof createHassCore>;

/** Create the core (empty registries, the default states). */
/** recorder/db_schema.py: event data over this many bytes is not stored. */
export const MAX_EVENT_DATA_BYTES = 32_768;

export function createHassCore(options: { haVersion: string; log: (line: string) => void; components: () => string[] }) {
  const { log } = options;
  const events: FiredEvent[] = [];
  const recorded: FiredEvent[] = [];
  const eventListeners = new Set<(event: FiredEvent) => void>();
  const busListeners = new Map<string, Set<(event: FiredEvent) => void>>();
  const states = new Map<string, HassState>();
  const entities = new Map<string, LiveEntity>();
  const entityRegistry = new Map<string, StoredEntry>();
  const deviceRegistry = new Map<string, DeviceEntry>();
  const areaRegistry = new Map<string, AreaEntry>();
  const configEntries = new Map<string, ConfigEntry>();
  const services = new Map<string, Map<string, ServiceDefinition>>();
  /** RestoreEntity's store (button presses), kept across restarts. */
  const restored = new Map<string, string>();

  // ------------------------------------------------------------------ bus

  function fire(eventType: string, data: Record<string, unknown> = {}, origin: "LOCAL" | "REMOTE" = "LOCAL", context: HassContext = newContext()) {
    const event: FiredEvent = { event_type: eventType, data, time_fired: haTime(), origin, context };
    events.push(event);
    record(event);
    const targets = [...(busListeners.get(eventType) ?? [])];
    if (!EXCLUDED_FROM_MATCH_ALL.has(eventType)) targets.push(...(busListeners.get("*") ?? []));
    for (const listener of targets) {
      try {
        listener(event);
      } catch (error) {
        log(`error in a listener of ${eventType}: ${errorText(error)}`);
      }
    }
    for (const listener of eventListeners) listener(event);
    return event;
  }

  /**
   * The recorder's events table (state changes go to the states table). recorder/db_schema.py
   * `EventData.shared_data_bytes_from_event`: data over MAX_EVENT_DATA_BYTES as compact JSON
   * is logged as a warning and stored as `{}`.
   */
  function record(event: FiredEvent) {
    if (event.event_type === "state_changed") return;
    const size = Buffer.byteLength(JSON.stringify(event.data), "utf8");
    if (size <= MAX_EVENT_DATA_BYTES) {
      recorded.push(event);
      return;
    }
    log(
      `recorder: WARNING Event data for ${event.event_type} exceed maximum size of ${MAX_EVENT_DATA_BYTES} bytes. ` +
        "This can cause database performance issues; Event data will not be stored",
    );
    recorded.push({ ...event, data: {} });
  }

  /** Listen to one event type, or every event with `*` (HA's MATCH_ALL). */
  function listen(eventType: string, listener: (event: FiredEvent) => void): () => void {
    const set = busListeners.get(eventType) ?? new Set();
    set.add(listener);
    busListeners.set(eventType, set);
    return () => void set.delete(listener);
  }

  // ------------------------------------------------------------------ states

  function setState(entityId: string, state: string, attributes: Record<string, unknown>, context: HassContext, forceUpdate = false) {
    const old = states.get(entityId);
    const now = haTime();
    if (old && old.state === state && sameJson(old.attributes, attributes) && !forceUpdate) {
      // HA only updates last_reported (and fires state_reported, which MATCH_ALL excludes)
      old.last_reported = now;
      return old;
    }
    const next: HassState = {
      entity_id: entityId,
      state,
      attributes,
      last_changed: old && old.state === state ? old.last_changed : now,
      last_reported: now,
      last_updated: now,
      context,
    };
    states.set(entityId, next);
    fire("state_changed", { entity_id: entityId, old_state: old ?? null, new_state: next }, "LOCAL", context);
    return next;
  }

  function removeState(entityId: string, context: HassContext = newContext()) {
    const old = states.get(entityId);
    if (!old) return;
    states.delete(entityId);
    fire("state_changed", { entity_id: entityId, old_state: old, new_state: null }, "LOCAL", context);
  }

  /** Write a live entity's state (`async_write_ha_state`). */
  function writeEntityState(entity: LiveEntity, context: HassContext = newContext()) {
    let render: EntityRender;
    try {
      render = entity.render();
    } catch (error) {
      log(`error writing the state of ${entity.entityId}: ${errorText(error)}`);
      return;
    }
    const available = entity.available();
    const entry = entityRegistry.get(entity.entityId);
    // entity.py `_async_write_ha_state`: capabilities, device class or features that differ
    // from the registry entry are written to it, which fires `entity_registry_updated`
    if (entry) {
      const registered = {
        capabilities: render.capabilityAttributes ?? null,
        original_device_class: render.deviceClass ?? null,
        supported_features: render.supportedFeatures ?? 0,
      };
      updateEntityEntry(entry.entity_id, registered);
    }
    const attributes: Record<string, unknown> = { ...(render.capabilityAttributes ?? {}) };
    if (available) Object.assign(attributes, render.stateAttributes ?? {});
    if (render.unitOfMeasurement != null) attributes.unit_of_measurement = render.unitOfMeasurement;
    const deviceClass = entry?.device_class ?? render.deviceClass;
    if (deviceClass != null) attributes.device_class = deviceClass;
    const icon = entry?.icon ?? render.icon;
    if (icon != null) attributes.icon = icon;
    const name = entry?.name ?? render.friendlyName;
    if (name != null) attributes.friendly_name = name;
    if (render.supportedFeatures != null) attributes.supported_features = render.supportedFeatures;
    const state = available ? stringifyState(render.state, render.isFloat) : "unavailable";
    setState(entity.entityId, state, attributes, context);
  }

  function addEntity(entity: LiveEntity, context?: HassContext) {
    entities.set(entity.entityId, entity);
    writeEntityState(entity, context);
  }

  function removeEntity(entityId: string) {
    entities.delete(entityId);
    removeState(entityId);
  }

  // ------------------------------------------------------------------ registries

  const partial = (entry: StoredEntry): RegistryEntry => ({
    area_id: entry.area_id,
    categories: entry.categories,
    config_entry_id: entry.config_entry_id,
    config_subentry_id: entry.config_subentry_id,
    created_at: entry.created_at,
    device_id: entry.device_id,
    disabled_by: entry.disabled_by,
    entity_category: entry.entity_category,
    entity_id: entry.entity_id,
    has_entity_name: entry.has_entity_name,
    hidden_by: entry.hidden_by,
    icon: entry.icon,
    id: entry.id,
    labels: entry.labels,
    modified_at: entry.modified_at,
    name: entry.name,
    options: entry.options,
    original_name: entry.original_name,
    platform: entry.platform,
    translation_key: entry.translation_key,
    unique_id: entry.unique_id,
  });

  const findEntry = (domain: string, platform: string, uniqueId: string) =>
    [...entityRegistry.values()].find(entry => entry.platform === platform && entry.unique_id === uniqueId && entry.entity_id.startsWith(`${domain}.`));

  /** A free entity id for `domain.object_id`: `_2`, `_3`… when taken (entity_registry `async_generate_entity_id`). */
  function generateEntityId(domain: string, objectId: string): string {
    const base = `${domain}.${slugify(objectId)}`;
    const taken = (id: string) => entityRegistry.has(id) || states.has(id);
    if (!taken(base)) return base;
    for (let suffix = 2; ; suffix++) {
      const candidate = `${base}_${suffix}`;
      if (!taken(candidate)) return candidate;
    }
  }

  /** `entity_registry.async_get_or_create`: the existing entry (updated), or a new one. */
  function getOrCreateEntityEntry(input: EntityEntryInput): RegistryEntry {
    const existing = findEntry(input.domain, input.platform, input.uniqueId);
    const fields = {
      config_entry_id: input.configEntryId,
      ...(input.deviceId !== undefined ? { device_id: input.deviceId } : {}),
      ...(input.originalName !== undefined ? { original_name: input.originalName } : {}),
      ...(input.originalIcon !== undefined ? { original_icon: input.originalIcon } : {}),
      ...(input.entityCategory !== undefined ? { entity_category: input.entityCategory } : {}),
      ...(input.capabilities !== undefined ? { capabilities: input.capabilities } : {}),
      ...(input.originalDeviceClass !== undefined ? { original_device_class: input.originalDeviceClass } : {}),
      ...(input.supportedFeatures !== undefined ? { supported_features: input.supportedFeatures } : {}),
      ...(input.unitOfMeasurement !== undefined ? { unit_of_measurement: input.unitOfMeasurement } : {}),
      ...(input.translationKey !== undefined ? { translation_key: input.translationKey } : {}),
    } satisfies Partial<StoredEntry>;
    if (existing) {
      const changes: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(fields)) {
        const old = existing[key as keyof StoredEntry];
        if (!sameJson(old, value)) changes[key] = old;
      }
      if (Object.keys(changes).length > 0) {
        Object.assign(existing, fields, { modified_at: haTimestamp() });
        fire("entity_registry_updated", { action: "update", entity_id: existing.entity_id, changes });
      }
      return partial(existing);
    }
    const entityId = generateEntityId(input.domain, input.suggestedObjectId ?? `${input.platform}_${input.uniqueId}`);
    const now = haTimestamp();
    const entry: StoredEntry = {
      area_id: null,
      categories: {},
      config_subentry_id: null,
      created_at: now,
      device_id: null,
      disabled_by: null,
      entity_category: null,
      entity_id: entityId,
      has_entity_name: false,
      hidden_by: null,
      icon: null,
      id: hexId(),
      labels: [],
      modified_at: now,
      name: null,
      options: {},
      original_name: null,
      platform: input.platform,
      translation_key: null,
      unique_id: input.uniqueId,
      aliases: [],
      capabilities: null,
      device_class: null,
      original_device_class: null,
      original_icon: null,
      supported_features: 0,
      unit_of_measurement: null,
      ...fields,
    };
    entityRegistry.set(entityId, entry);
    fire("entity_registry_updated", { action: "create", entity_id: entityId });
    return partial(entry);
  }

  /** `entity_registry.async_update_entity` of the fields given: an update event naming the old values, when any changed. */
  function updateEntityEntry(
    entityId: string,
    fields: Partial<Pick<StoredEntry, "name" | "icon" | "capabilities" | "original_device_class" | "supported_features">>,
  ) {
    const existing = entityRegistry.get(entityId);
    if (!existing) return;
    const changes: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(fields)) {
      const old = existing[key as keyof StoredEntry];
      if (!sameJson(old, value)) changes[key] = old;
    }
    if (Object.keys(changes).length === 0) return;
    Object.assign(existing, fields, { modified_at: haTimestamp() });
    fire("entity_registry_updated", { action: "update", entity_id: entityId, changes });
  }

  function removeEntityEntry(entityId: string) {
    if (!entityRegistry.delete(entityId)) return;
    fire("entity_registry_updated", { action: "remove", entity_id: entityId });
    if (entities.has(entityId)) removeEntity(entityId);
  }

  const findDevice = (identifier: [string, string]) =>
    [...deviceRegistry.values()].find(device => device.identifiers.some(([domain, id]) => domain === identifier[0] && id === identifier[1]));

  /** `device_registry.async_get_or_create`: a device by its identifiers, created or updated. */
  function getOrCreateDevice(configEntryId: string, input: DeviceInput): DeviceEntry {
    const existing = input.identifiers.map(identifier => findDevice(identifier)).find(device => device !== undefined);
    const fields = {
      name: input.name ?? null,
      manufacturer: input.manufacturer ?? null,
      model: input.model ?? null,
      hw_version: input.hw_version ?? null,
      sw_version: input.sw_version ?? null,
      serial_number: input.serial_number ?? null,
      configuration_url: input.configuration_url ?? null,
    };
    if (existing) {
      const changes: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(fields)) {
        const old = existing[key as keyof DeviceEntry];
        if (!sameJson(old, value)) changes[key] = old;
      }
      if (!existing.config_entries.includes(configEntryId)) {
        changes.config_entries = [...existing.config_entries];
        existing.config_entries.push(configEntryId);
        existing.config_entries_subentries[configEntryId] = [null];
      }
      if (Object.keys(changes).length > 0) {
        Object.assign(existing, fields, { modified_at: haTimestamp() });
        fire("device_registry_updated", { action: "update", device_id: existing.id, changes });
      }
      return existing;
    }
    const now = haTimestamp();
    const area = input.suggested_area ? getOrCreateArea(input.suggested_area) : undefined;
    const device: DeviceEntry = {
      area_id: area?.area_id ?? null,
      config_entries: [configEntryId],
      config_entries_subentries: { [configEntryId]: [null] },
      connections: [],
      created_at: now,
      disabled_by: null,
      entry_type: null,
      id: hexId(),
      identifiers: input.identifiers,
      labels: [],
      model_id: null,
      modified_at: now,
      name_by_user: null,
      primary_config_entry: configEntryId,
      via_device_id: null,
      ...fields,
    };
    deviceRegistry.set(device.id, device);
    fire("device_registry_updated", { action: "create", device_id: device.id });
    return device;
  }

  function removeDevice(deviceId: string) {
    if (!deviceRegistry.delete(deviceId)) return;
    fire("device_registry_updated", { action: "remove", device_id: deviceId });
    for (const entry of entityRegistry.values()) if (entry.device_id === deviceId) entry.device_id = null;
  }

  function getOrCreateArea(name: string): AreaEntry {
    const existing = [...areaRegistry.values()].find(area => area.name.toLowerCase() === name.toLowerCase());
    if (existing) return existing;
    const now = haTimestamp();
    const area: AreaEntry = {
      aliases: [],
      area_id: slugify(name),
      floor_id: null,
      humidity_entity_id: null,
      icon: null,
      labels: [],
      name,
      picture: null,
      temperature_entity_id: null,
      created_at: now,
      modified_at: now,
    };
    areaRegistry.set(area.area_id, area);
    fire("area_registry_updated", { action: "create", area_id: area.area_id });
    return area;
  }

  function addConfigEntry(domain: string, title: string, source = "user"): ConfigEntry {
    const now = haTimestamp();
    const entry: ConfigEntry = {
      entry_id: ulid(),
      domain,
      title,
      source,
      state: "loaded",
      supports_options: false,
      supports_remove_device: false,
      supports_unload: true,
      supports_reconfigure: false,
      supported_subentry_types: {},
      pref_disable_new_entities: false,
      pref_disable_polling: false,
      disabled_by: null,
      reason: null,
      error_reason_translation_key: null,
      error_reason_translation_placeholders: null,
      num_subentries: 0,
      created_at: now,
      modified_at: now,
    };
    configEntries.set(entry.entry_id, entry);
    return entry;
  }

  // ------------------------------------------------------------------ services

  function registerService(domain: string, service: string, definition: ServiceDefinition) {
    const domainServices = services.get(domain) ?? new Map<string, ServiceDefinition>();
    domainServices.set(service, definition);
    services.set(domain, domainServices);
  }

  function removeService(domain: string, service: string) {
    services.get(domain)?.delete(service);
    if (services.get(domain)?.size === 0) services.delete(domain);
  }

  /** `hass.services.async_call(..., blocking=True)`: validate, then run; throws a ServiceCallError. */
  function callService(domain: string, service: string, data: Record<string, unknown>, context: HassContext, target?: Record<string, unknown>) {
    const definition = services.get(domain)?.get(service);
    if (!definition) throw new ServiceCallError("not_found", `Service ${domain}.${service} not found.`);
    const parsed = definition.schema.safeParse({ ...data, ...(target ?? {}) });
    if (!parsed.success) throw new ServiceCallError("invalid_format", humanizeIssues(parsed.error.issues));
    fire("call_service", { domain, service, service_data: { ...data, ...(target ?? {}) } }, "LOCAL", context);
    definition.handler({ domain, service, data: parsed.data, context });
  }

  /** The live entities of `domain` a service call targets (by entity_id, device_id or area_id; "all"). */
  function targetEntities(domain: string, data: Record<string, unknown>): LiveEntity[] {
    const wanted = new Set<string>();
    const ids = list(data.entity_id);
    const all = ids.includes("all");
    for (const id of ids) wanted.add(id.toLowerCase());
    const devices = new Set(list(data.device_id));
    const areas = new Set(list(data.area_id));
    for (const entry of entityRegistry.values()) {
      if (entry.device_id && devices.has(entry.device_id)) wanted.add(entry.entity_id);
      const deviceArea = entry.device_id ? deviceRegistry.get(entry.device_id)?.area_id : null;
      if ((entry.area_id && areas.has(entry.area_id)) || (!entry.area_id && deviceArea && areas.has(deviceArea))) wanted.add(entry.entity_id);
    }
    const targets = [...entities.values()].filter(entity => entity.domain === domain && (all || wanted.has(entity.entityId)));
    const missing = [...wanted].filter(id => id.startsWith(`${domain}.`) && !entities.has(id));
    // helpers/service.py SelectedEntities.log_missing: a WARNING, and the call still succeeds
    if (missing.length > 0) log(`WARNING Referenced entities ${missing.sort().join(", ")} are missing or not currently available`);
    // HA skips unavailable entities silently (helpers/service.py entity_service_call)
    return targets.filter(entity => entity.available());
  }

  function serviceDescriptions(): Record<string, Record<string, ServiceDefinition["description"]>> {
    return Object.fromEntries(
      [...services.entries()].map(([domain, domainServices]) => [
        domain,
        Object.fromEntries([...domainServices.entries()].map(([name, definition]) => [name, definition.description])),
      ]),
    );
  }

  // ------------------------------------------------------------------ config, restart

  function config() {
    return {
      allowlist_external_dirs: ["/config/www", "/media"],
      allowlist_external_urls: [],
      components: options.components(),
      config_dir: "/config",
      config_source: "storage",
      country: "NL",
      currency: "EUR",
      debug: false,
      elevation: 0,
      external_url: null,
      internal_url: null,
      language: "en",
      latitude: 52.3731339,
      location_name: "Home",
      longitude: 4.8903147,
      radius: 100,
      recovery_mode: false,
      safe_mode: false,
      state: "RUNNING",
      time_zone: "UTC",
      unit_system: {
        length: "km",
        accumulated_precipitation: "mm",
        area: "m²",
        mass: "g",
        pressure: "Pa",
        temperature: "°C",
        volume: "L",
        wind_speed: "m/s",
      },
      version: options.haVersion,
      whitelist_external_dirs: ["/config/www", "/media"],
    };
  }

  /** HA stopping: the state machine and the entity objects go, registries and config entries stay (.storage). */
  function shutdown() {
    fire("homeassistant_stop");
    fire("homeassistant_final_write");
    fire("homeassistant_close");
    for (const [entityId, entity] of entities) if (entity.lastPressed) restored.set(entityId, entity.lastPressed);
    entities.clear();
    states.clear();
    busListeners.clear();
  }

  /**
   * HA starting: default states, then (after integrations set up) every registry entry whose
   * entity did not come back is written `unavailable` with `restored: true`
   * (entity_registry `_write_unavailable_states`).
   */
  function start(setupIntegrations: () => void) {
    seedStates(core);
    setupIntegrations();
    fire("homeassistant_start");
    for (const entry of entityRegistry.values()) {
      if (entry.disabled_by !== null || states.has(entry.entity_id)) continue;
      const attributes: Record<string, unknown> = { ...(entry.capabilities ?? {}), restored: true };
      if (entry.supported_features) attributes.supported_features = entry.supported_features;
      const deviceClass = entry.device_class ?? entry.original_device_class;
      if (deviceClass) attributes.device_class = deviceClass;
      const icon = entry.icon ?? entry.original_icon;
      if (icon) attributes.icon = icon;
      const name = entry.name ?? entry.original_name;
      if (name) attributes.friendly_name = name;
      if (entry.unit_of_measurement) attributes.unit_of_measurement = entry.unit_of_measurement;
      setState(entry.entity_id, "unavailable", attributes, newContext());
    }
    fire("homeassistant_started");
  }

  const core = {
    fire,
    listen,
    events: () => [...events],
    recordedEvents: () => [...recorded],
    onEvent(listener: (event: FiredEvent) => void) {
      eventListeners.add(listener);
      return () => void eventListeners.delete(listener);
    },
    setState,
    removeState,
    state: (entityId: string) => states.get(entityId),
    states: () => [...states.values()],
    entities,
    addEntity,
    removeEntity,
    writeEntityState,
    restoredPress: (entityId: string) => restored.get(entityId) ?? null,
    getOrCreateEntityEntry,
    updateEntityEntry,
    removeEntityEntry,
    entityEntry: (entityId: string) => {
      const entry = entityRegistry.get(entityId);
      return entry ? partial(entry) : undefined;
    },
    extendedEntityEntry: (entityId: string) => entityRegistry.get(entityId),
    findEntityId: (domain: string, platform: string, uniqueId: string) => findEntry(domain, platform, uniqueId)?.entity_id,
    entityRegistry: () => [...entityRegistry.values()].map(partial),
    getOrCreateDevice,
    findDevice,
    removeDevice,
    deviceRegistry: () => [...deviceRegistry.values()],
    areaRegistry: () => [...areaRegistry.values()],
    addConfigEntry,
    configEntry: (entryId: string) => configEntries.get(entryId),
    configEntries: () => [...configEntries.values()],
    registerService,
    removeService,
    callService,
    targetEntities,
    serviceDescriptions,
    config,
    shutdown,
    start,
  };
  return core;
}

/** A zod error in voluptuous's words (`humanize_error`): `message @ data['a']['b']`. */
export function humanizeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map(issue => {
      const path = issue.path.map(part => `[${typeof part === "number" ? part : `'${String(part)}'`}]`).join("");
      const message =
        issue.code === "unrecognized_keys"
          ? `extra keys not allowed @ data${path}['${issue.keys.join("', '")}']`
          : issue.code === "invalid_type" && issue.message.includes("received undefined")
            ? `required key not provided @ data${path}`
            : `${issue.message} @ data${path}`;
      return message;
    })
    .join(", ");
}
