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
import { type PublishedEntity, sameValue, type SynapseEntity as Entity } from "../../../libs/ha/registration.mjs";

type Synapse = TServiceParams["synapse"];

/** The inbound payload of a synapse command (`synapse/set_value`, `synapse/select_option`). */
export type CommandPayload = Record<string, unknown>;

/** What the device reports to its owner. */
export interface DeviceHandlers {
  press(key: DroneEntityKey): void;
  /** A number or text set from HA (`value`), or a select (`option`), not yet applied. */
  change(key: DroneEntityKey, payload: CommandPayload): void;
}

/** The field holding an entity's value: a sensor's state, a number's or text's value, a select's option (and its choices). */
export type EntityField = "state" | "native_value" | "current_option" | "options";

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

/**
 * Spec fields Home Assistant is not sent. `entity_category`: the synapse integration
 * (25.10.19-beta.5, bridge.py `_process_entity_domain`) hands it to HA's entity registry as
 * the string it received, which HA refuses with an error and a traceback in its log, for
 * every categorised entity at every registration. The category stays in ENTITY_SPECS as
 * the intent (docs/entities.md).
 */
const UNSENT_FIELDS = new Set(["entity_category"]);

/**
 * Fields the HA integration reads that synapse's typed options do not send: a sensor's
 * `state_class` and enum `options` reach HA only through `capability_attributes`, and
 * units through `native_unit_of_measurement`. Stored with the entity, they go out in the
 * registration and every patch.
 */
function extraFields(spec: EntitySpec): Record<string, unknown> {
  if (spec.domain === "sensor") {
    const capabilities = {
      ...(spec.state_class ? { state_class: spec.state_class } : {}),
      ...(spec.options ? { options: [...spec.options] } : {}),
    };
    return {
      ...(spec.state_class ? { state_class: spec.state_class } : {}),
      ...(spec.options ? { options: [...spec.options] } : {}),
      ...(spec.unit_of_measurement ? { native_unit_of_measurement: spec.unit_of_measurement } : {}),
      ...(Object.keys(capabilities).length > 0 ? { capability_attributes: capabilities } : {}),
    };
  }
  if (spec.domain === "number" && spec.unit_of_measurement) return { native_unit_of_measurement: spec.unit_of_measurement };
  return {};
}

/** The metadata fields of an entity as HA should have them (values are set by the owner). */
function metadataFields(spec: EntitySpec): Record<string, unknown> {
  const { domain: _domain, ...rest } = spec;
  const fields: Record<string, unknown> = { ...rest };
  // bindings are the drone's business, not HA's; choices that follow the archives are values
  for (const binding of ["operation", "setting", ...UNSENT_FIELDS]) delete fields[binding];
  if (spec.domain === "select" && spec.options === "archives") delete fields.options;
  return { ...fields, ...extraFields(spec) };
}


/** Without its undefined fields: synapse checks some options with `in` (a sensor with `options` refuses `state_class`). */
function defined<T extends object>(options: T): T {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as T;
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

  for (const key of keys) {
    const spec = ENTITY_SPECS[key];
    const initial = options.initial(key);
    const common = {
      context,
      device_id,
      // the integration does not prefix names with the device: the drone id tells drones apart
      name: `${droneId} ${DRONE_ENTITIES[key].name}`,
      unique_id: entityUniqueId(droneId, key),
      suggested_object_id: entityObjectId(droneId, key),
      icon: spec.icon,
      ...(initial ? { [initial.field]: initial.value } : {}),
    };
    const change = (payload: CommandPayload) => handlers.change(key, payload);
    const created: unknown =
      spec.domain === "button"
        ? synapse.button({ ...common, press: () => handlers.press(key) })
        : spec.domain === "sensor"
          ? synapse.sensor(defined({
              ...common,
              device_class: spec.device_class,
              unit_of_measurement: spec.unit_of_measurement,
              state_class: spec.state_class,
              suggested_display_precision: spec.suggested_display_precision,
              ...(spec.options ? { options: [...spec.options] } : {}),
              // synapse types a sensor per device class; ours is chosen at run time from the table
            }) as Parameters<Synapse["sensor"]>[0])
          : spec.domain === "number"
            ? synapse.number(defined({
                ...common,
                managed: false,
                device_class: spec.device_class,
                unit_of_measurement: spec.unit_of_measurement,
                native_min_value: spec.native_min_value,
                native_max_value: spec.native_max_value,
                step: spec.step,
                mode: spec.mode,
                set_value: change,
              }))
            : spec.domain === "select"
              ? synapse.select({
                  ...common,
                  managed: false,
                  options: spec.options === "archives" ? options.archiveOptions() : [...spec.options],
                  select_option: change,
                })
              : synapse.text({
                  ...common,
                  managed: false,
                  mode: "text",
                  pattern: spec.pattern,
                  native_min: spec.native_min,
                  native_max: spec.native_max,
                  set_value: change,
                });
    const entity = created as Entity;
    // before onBootstrap this only fills memory: a fresh database row is written with it
    for (const [field, value] of Object.entries(extraFields(spec))) void entity.storage.set(field, value);
    entities.set(key, entity);
  }

  const entityOf = (key: DroneEntityKey): Entity => {
    const entity = entities.get(key);
    if (!entity) throw new Error(`no ${key} entity on drone ${droneId}`);
    return entity;
  };

  const write = async (key: DroneEntityKey, field: string, value: unknown) => {
    try {
      await entityOf(key).storage.set(field, value);
    } catch (error) {
      warn(`updating ${entityUniqueId(droneId, key)}.${field} failed: ${error instanceof Error ? error.message : String(error)}`);
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
      const stale = keys.filter(key => [...UNSENT_FIELDS].some(field => entityOf(key).storage.get(field) !== undefined));
      if (stale.length > 0) {
        warn(
          `${stale.length} stored entities (${stale.join(", ")}) hold ${[...UNSENT_FIELDS].join(", ")}, which Home Assistant's log ` +
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
