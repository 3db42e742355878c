/**
 * The emulated integration's entities: how each platform (button.py, number.py, select.py,
 * text.py, sensor.py, binary_sensor.py, switch.py over base_entity.py) shows the entity
 * dict an app registered, the registry entries (bridge.py `_validate_entity_data`,
 * `_refresh_entities`), the entity objects HA adds, and the patches that change them
 * (`synapse/patch_entity` → `synapse/update` on HA's bus).
 */
import { z } from "zod";

import { CommandError, type WsCommand } from "../commands.mjs";
import { type DeviceInput, type EntityRender } from "../core.mjs";
import { asRecord } from "../model.mjs";
import { type AppCommands } from "./commands.mjs";
import { base, type Bridge, ERR, liveKey, PLATFORMS, type SynapseContext, type SynapseEntity, text, uniqueIdField } from "./shared.mjs";

const patchSchema = z.strictObject({ ...base, type: z.literal("synapse/patch_entity"), unique_id: uniqueIdField, data: z.record(z.string(), z.unknown()) });
const abandonedSchema = z.strictObject({ ...base, type: z.literal("synapse/abandoned_entities") });

/** bridge.py `_validate_entity_data`: undefined when valid, else why. */
export function entityProblem(entity: unknown, domain: string): string | undefined {
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

/** The entities of every bridge: registry entries, HA's entity objects, their patches. */
export function createEntities(ctx: SynapseContext, app: Pick<AppCommands, "emitEvent" | "bridgeNotFound">) {
  const { core, log, bridges, defer, bridgeForConnection, rateLimited, tooLarge } = ctx;
  const { emitEvent, bridgeNotFound } = app;

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

  const handlers: Record<string, WsCommand> = {
    "synapse/patch_entity": {
      schema: patchSchema,
      handle(connection, message, reply) {
        const msg = patchSchema.parse(message);
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
    "synapse/abandoned_entities": {
      schema: abandonedSchema,
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
  };

  return { addPlatformEntity, refreshEntities, listenForEntityEvents, handlers };
}

/** The entities of every bridge. */
export type Entities = ReturnType<typeof createEntities>;
