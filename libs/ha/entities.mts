/**
 * One way for both apps to make their synapse entities from a spec table: a typed map from
 * each Home Assistant domain to the synapse factory and the options it is given, the fields
 * the integration reads that synapse's typed options do not send, and what is never sent.
 * The drone's table (apps/drone/ha/entities.mts) and the coordinator's
 * (apps/backup_coordinator/ha/entities.mts) carry more (bindings, names); only the fields
 * named here reach Home Assistant.
 */
import { type TContext, type TServiceParams } from "@digital-alchemy/core";
import { type z } from "zod";

import { type SynapseEntity } from "./registration.mjs";
import { errorText } from "../config/errors.mjs";

type Synapse = TServiceParams["synapse"];
/** The id of a device registered with synapse. */
type DeviceId = ReturnType<Synapse["device"]["register"]>;

/** The Home Assistant domains the apps make entities in. */
export type EntityDomain = "button" | "sensor" | "number" | "select" | "text" | "switch" | "binary_sensor";

/** A button: pressed in HA. */
export interface ButtonFields {
  domain: "button";
  icon: string;
}

/** A read-only sensor. */
export interface SensorFields {
  domain: "sensor";
  icon: string;
  device_class?: string;
  unit_of_measurement?: string;
  state_class?: string;
  /** Every state an enum sensor can have. */
  options?: readonly string[];
  suggested_display_precision?: number;
}

/** A number set from HA. */
export interface NumberFields {
  domain: "number";
  icon: string;
  native_min_value: number;
  native_max_value: number;
  step: number;
  mode: "auto" | "slider" | "box";
  device_class?: string;
  unit_of_measurement?: string;
}

/** A select set from HA. */
export interface SelectFields {
  domain: "select";
  icon: string;
  options: readonly string[];
}

/** A text set from HA. */
export interface TextFields {
  domain: "text";
  icon: string;
  pattern: string;
  native_min: number;
  native_max: number;
}

/** An on/off switch set from HA. */
export interface SwitchFields {
  domain: "switch";
  icon: string;
}

/** An on/off sensor. */
export interface BinarySensorFields {
  domain: "binary_sensor";
  icon: string;
  device_class?: string;
}

/** The Home Assistant fields of an entity, by domain (a spec may carry more; they are not sent). */
export interface DomainFields {
  button: ButtonFields;
  sensor: SensorFields;
  number: NumberFields;
  select: SelectFields;
  text: TextFields;
  switch: SwitchFields;
  binary_sensor: BinarySensorFields;
}

/** What HA asks of an entity, by domain: a press, a new value (the raw payload, validated by the owner), on/off. */
export interface DomainHandlers {
  button: { press(): void };
  sensor: object;
  number: { change(payload: unknown): void };
  select: { change(payload: unknown): void };
  text: { change(payload: unknown): void };
  switch: { turnOn(): void; turnOff(): void; toggle(): void };
  binary_sensor: object;
}

/** One entity to make: its ids and name, its spec, its first values, what HA may ask of it. */
export type EntityDefinition = {
  [D in EntityDomain]: {
    spec: DomainFields[D];
    /** HA's name of the entity (the integration does not prefix it with the device's). */
    name: string;
    unique_id: string;
    suggested_object_id: string;
    device_id: DeviceId | undefined;
    /** Values the entity starts with (before synapse loads a stored row): `state`, `native_value`, `attributes`… */
    initial?: Record<string, unknown>;
    on: DomainHandlers[D];
  };
}[EntityDomain];

type DefinitionOf<D extends EntityDomain> = Extract<EntityDefinition, { spec: { domain: D } }>;

/**
 * Spec fields Home Assistant is not sent. `entity_category`: the synapse integration
 * (25.10.19-beta.5, bridge.py `_process_entity_domain`) hands it to HA's entity registry as
 * the string it received, which HA refuses with an error and a traceback in its log, for
 * every categorised entity at every registration. The category stays in the spec tables as
 * the intent (docs/entities.md).
 */
export const UNSENT_FIELDS: readonly string[] = ["entity_category"];

/** Whether synapse holds a field for this entity that HA is not to be sent (a row stored by an older version). */
export const holdsUnsentField = (entity: SynapseEntity) => UNSENT_FIELDS.some(field => entity.storage.get(field) !== undefined);

/**
 * Fields the HA integration reads that synapse's typed options do not send: a sensor's
 * `state_class` and enum `options` reach HA only through `capability_attributes`, and
 * units through `native_unit_of_measurement`. Stored with the entity, they go out in the
 * registration and every patch.
 */
export function extraFields(spec: DomainFields[EntityDomain]): Record<string, unknown> {
  if (spec.domain === "sensor") {
    const capabilities = {
      ...(spec.state_class ? { state_class: spec.state_class } : {}),
      ...(spec.options ? { options: [...spec.options] } : {}),
    };
    return {
      ...capabilities,
      ...(spec.unit_of_measurement ? { native_unit_of_measurement: spec.unit_of_measurement } : {}),
      ...(Object.keys(capabilities).length > 0 ? { capability_attributes: capabilities } : {}),
    };
  }
  if (spec.domain === "number" && spec.unit_of_measurement) return { native_unit_of_measurement: spec.unit_of_measurement };
  return {};
}

/** Without its undefined fields: synapse checks some options with `in` (a sensor with `options` refuses `state_class`). */
function defined<T extends object>(options: T): T {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as T;
}

/** The fields every synapse factory takes. */
type Common = { context: TContext; device_id: DeviceId | undefined; name: string; unique_id: string; suggested_object_id: string; icon: string };

/**
 * How each domain's entity is made: the factory, and the spec fields it is given. Values set
 * from HA are not `managed` by synapse: the owner validates them and writes what holds.
 * The `as` casts: synapse types its options per device class (a literal union), ours come
 * from a table at run time.
 */
const FACTORIES: { [D in EntityDomain]: (synapse: Synapse, common: Common, definition: DefinitionOf<D>) => unknown } = {
  button: (synapse, common, { on }) => synapse.button({ ...common, press: () => on.press() }),
  sensor: (synapse, common, { spec }) =>
    synapse.sensor(
      defined({
        ...common,
        device_class: spec.device_class,
        unit_of_measurement: spec.unit_of_measurement,
        state_class: spec.state_class,
        suggested_display_precision: spec.suggested_display_precision,
        ...(spec.options ? { options: [...spec.options] } : {}),
      }) as Parameters<Synapse["sensor"]>[0],
    ),
  number: (synapse, common, { spec, on }) =>
    synapse.number(
      defined({
        ...common,
        managed: false,
        device_class: spec.device_class,
        unit_of_measurement: spec.unit_of_measurement,
        native_min_value: spec.native_min_value,
        native_max_value: spec.native_max_value,
        step: spec.step,
        mode: spec.mode,
        set_value: (payload: unknown) => on.change(payload),
      }) as Parameters<Synapse["number"]>[0],
    ),
  select: (synapse, common, { spec, on }) =>
    synapse.select({ ...common, managed: false, options: [...spec.options], select_option: (payload: unknown) => on.change(payload) }),
  text: (synapse, common, { spec, on }) =>
    synapse.text({
      ...common,
      managed: false,
      mode: "text",
      pattern: spec.pattern,
      native_min: spec.native_min,
      native_max: spec.native_max,
      set_value: (payload: unknown) => on.change(payload),
    }),
  switch: (synapse, common, { on }) =>
    synapse.switch({ ...common, managed: false, turn_on: () => on.turnOn(), turn_off: () => on.turnOff(), toggle: () => on.toggle() }),
  binary_sensor: (synapse, common, { spec }) =>
    synapse.binary_sensor(defined({ ...common, device_class: spec.device_class }) as Parameters<Synapse["binary_sensor"]>[0]),
};

/**
 * Make one entity with synapse. Call it before synapse's onBootstrap (it loads each entity's
 * stored row then): the extra fields only fill memory now, and a fresh row is written with them.
 */
export function buildEntity(synapse: Synapse, context: TContext, definition: EntityDefinition): SynapseEntity {
  const { spec } = definition;
  const common: Common = {
    context,
    device_id: definition.device_id,
    name: definition.name,
    unique_id: definition.unique_id,
    suggested_object_id: definition.suggested_object_id,
    icon: spec.icon,
  };
  const create = FACTORIES[spec.domain] as (synapse: Synapse, common: Common, definition: EntityDefinition) => unknown;
  // the initial values ride in the options: synapse stores what it is created with
  const entity = create(synapse, { ...common, ...definition.initial }, definition) as SynapseEntity;
  for (const [field, value] of Object.entries(extraFields(spec))) void entity.storage.set(field, value);
  return entity;
}

/** Why a value set from HA was not applied: the payload held none, or applying it failed (the error's message). */
export const NO_VALID_VALUE = "the message from Home Assistant has no valid value";

/**
 * A value set from Home Assistant: read it from the payload, apply it, or, when either fails,
 * report why and show the old value again (HA shows what it asked for until told otherwise).
 * True when it was applied.
 */
export async function applyChange<T>(change: {
  payload: unknown;
  schema: z.ZodType<T>;
  old: unknown;
  /** Apply the value; throw to refuse it (the error's message is the reason). */
  apply(value: T): void | Promise<void>;
  /** The value was refused (undefined: the payload held none). */
  refused(value: T | undefined, reason: string): void;
  /** Send a value to HA again, even when it did not change. */
  show(value: unknown): void | Promise<void>;
}): Promise<boolean> {
  const parsed = change.schema.safeParse(change.payload);
  let reason = NO_VALID_VALUE;
  if (parsed.success) {
    try {
      await change.apply(parsed.data);
      return true;
    } catch (error) {
      reason = errorText(error);
    }
  }
  change.refused(parsed.success ? parsed.data : undefined, reason);
  await change.show(change.old);
  return false;
}
