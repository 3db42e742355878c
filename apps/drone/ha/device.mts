/**
 * The drone's Home Assistant device, built with synapse from ENTITY_SPECS: one device per
 * drone, every entity with the drone id in its unique id and object id. The publisher
 * writes a value only when it differs from what HA was last sent (synapse sends one
 * `patch_entity` per write, and the integration allows 300 a minute per app).
 */
import { type TContext, type TServiceParams } from "@digital-alchemy/core";

import {
  DRONE_ENTITIES,
  droneDeviceId,
  type DroneEntityKey,
  entityObjectId,
  entityUniqueId,
} from "../../../libs/protocol/index.mjs";
import { droneEntityKeys, ENTITY_SPECS, type EntitySpec } from "./entities.mjs";
import { buildEntity, type EntityDefinition, extraFields, holdsUnsentField, UNSENT_FIELDS } from "../../../libs/ha/entities.mjs";
import { type PublishedEntity, sameValue, type SynapseEntity as Entity } from "../../../libs/ha/registration.mjs";
import { errorText } from "../../../libs/config/errors.mjs";

type Synapse = TServiceParams["synapse"];

/** What the device reports to its owner. */
export interface DeviceHandlers {
  press(key: DroneEntityKey): void;
  /** A number or text set from HA (`value`), or a select (`option`): the payload as it came, not yet applied. */
  change(key: DroneEntityKey, payload: unknown): void;
}

/** The field holding an entity's value: a sensor's state, a number's or text's value, a select's option (and its choices), its extra attributes. */
export type EntityField = "state" | "native_value" | "current_option" | "options" | "attributes";

/** The drone's device. */
export interface DroneDevice {
  readonly keys: DroneEntityKey[];
  /** Write a field when it changed (or always, with `force`: HA then shows it again). */
  publish(key: DroneEntityKey, field: EntityField, value: unknown, force?: boolean): Promise<void>;
  /** After synapse loaded its database: put back metadata a stored copy from an older version lacks. */
  reconcile(): Promise<void>;
  /** The entities as synapse holds them (to patch them all again). */
  entities(): Iterable<PublishedEntity>;
  /** Entity ids by key: the registered one (looked up by unique id) when known, else the derived one. */
  entityIds(registered: (uniqueId: string) => string | undefined, derived: (key: DroneEntityKey) => string): Record<string, string>;
}


/** Fields synapse refuses to change at run time. */
const FIXED_FIELDS = new Set(["device_class", "entity_category", "name", "suggested_object_id", "device_id", "unique_id"]);

/** The metadata fields of an entity as HA should have them (values are set by the owner). */
function metadataFields(spec: EntitySpec): Record<string, unknown> {
  const { domain: _domain, ...rest } = spec;
  const fields: Record<string, unknown> = { ...rest };
  // bindings are the drone's business, not HA's; choices that follow the archives are values
  for (const binding of ["operation", "setting", ...UNSENT_FIELDS]) delete fields[binding];
  if (spec.domain === "select" && spec.options === "archives") delete fields.options;
  // a select has no extra fields (and this one's spec may name its choices "archives")
  return { ...fields, ...(spec.domain === "select" ? {} : extraFields(spec)) };
}

/**
 * Register the drone's device and create its entities with their initial values. Call it
 * before synapse's onBootstrap (it loads each entity's stored row then).
 */
export function createDroneDevice(options: {
  synapse: Synapse;
  context: TContext;
  droneId: string;
  hasOffsite: boolean;
  version: string;
  initial: (key: DroneEntityKey) => { field: EntityField; value: unknown } | undefined;
  /** The choices of a select whose options follow the archives. */
  archiveOptions: () => string[];
  handlers: DeviceHandlers;
  warn: (message: string) => void;
}): DroneDevice {
  const { synapse, context, droneId, handlers, warn } = options;
  const device_id = synapse.device.register(droneDeviceId(droneId), {
    name: droneId,
    manufacturer: "backup-coordinator",
    model: "drone",
    sw_version: options.version,
  });
  const keys = droneEntityKeys(options.hasOffsite);
  const entities = new Map<DroneEntityKey, Entity>();

  /** The entity of one key: the spec's HA fields, and what HA's requests of it mean to the drone. */
  const definitionOf = (key: DroneEntityKey, initial: { field: EntityField; value: unknown } | undefined): EntityDefinition => {
    const base = {
      device_id,
      // the integration does not prefix names with the device: the drone id tells drones apart
      name: `${droneId} ${DRONE_ENTITIES[key].name}`,
      unique_id: entityUniqueId(droneId, key),
      suggested_object_id: entityObjectId(droneId, key),
      ...(initial ? { initial: { [initial.field]: initial.value } } : {}),
    };
    const change = { change: (payload: unknown) => handlers.change(key, payload) };
    const spec = ENTITY_SPECS[key];
    switch (spec.domain) {
      case "button":
        return { ...base, spec, on: { press: () => handlers.press(key) } };
      case "sensor":
        return { ...base, spec, on: {} };
      case "number":
        return { ...base, spec, on: change };
      case "text":
        return { ...base, spec, on: change };
      case "select":
        return { ...base, spec: { ...spec, options: spec.options === "archives" ? options.archiveOptions() : spec.options }, on: change };
    }
  };
  for (const key of keys) entities.set(key, buildEntity(synapse, context, definitionOf(key, options.initial(key))));

  const entityOf = (key: DroneEntityKey): Entity => {
    const entity = entities.get(key);
    if (!entity) throw new Error(`no ${key} entity on drone ${droneId}`);
    return entity;
  };

  const write = async (key: DroneEntityKey, field: string, value: unknown) => {
    try {
      await entityOf(key).storage.set(field, value);
    } catch (error) {
      warn(`updating ${entityUniqueId(droneId, key)}.${field} failed: ${errorText(error)}`);
    }
  };

  return {
    keys,
    publish: async (key, field, value, force = false) => {
      if (!entities.has(key)) return;
      if (!force && sameValue(entityOf(key).storage.get(field), value)) return;
      await write(key, field, value);
    },
    reconcile: async () => {
      // rows stored by an older version still hold them, and synapse sends what it stores
      const stale = keys.filter(key => holdsUnsentField(entityOf(key)));
      if (stale.length > 0) {
        warn(
          `${stale.length} stored entities (${stale.join(", ")}) hold ${UNSENT_FIELDS.join(", ")}, which Home Assistant's log ` +
            "reports as an error at every registration; start once with synapse REBUILD_ON_ENTITY_CHANGE=true to drop it",
        );
      }
      for (const key of keys) {
        const storage = entityOf(key).storage;
        for (const [field, value] of Object.entries(metadataFields(ENTITY_SPECS[key]))) {
          if (sameValue(storage.get(field), value)) continue;
          if (FIXED_FIELDS.has(field)) {
            warn(
              `${entityUniqueId(droneId, key)}: stored ${field} differs from this version's; ` +
                "start once with synapse REBUILD_ON_ENTITY_CHANGE=true to update it",
            );
          } else await write(key, field, value);
        }
      }
    },
    entities: () => entities.values(),
    entityIds: (registered, derived) =>
      Object.fromEntries(keys.map(key => [key, registered(entityUniqueId(droneId, key)) ?? derived(key)])),
  };
}
