/**
 * Finding drones in Home Assistant without waiting for their events: from the entity
 * registry (each drone entity's unique id is `backup_drone_<drone id>_<key>`) and the
 * entity states (what HA last showed of each drone). Pure: the fleet service feeds it what
 * hass holds.
 */
import { z } from "zod";

import {
  APPLICATION_STATES,
  type ApplicationState,
  DRONE_ENTITY_KEYS,
  DRONE_ID_PATTERN,
  type DroneEntityKey,
  entityUniqueId,
  MODES,
} from "../../../libs/protocol/index.mjs";
import { type RestoredDrone } from "../core/fleet.mjs";

/** One row of HA's entity registry, as far as discovery needs it. */
export interface RegistryEntry {
  entityId: string;
  uniqueId: string;
  platform?: string;
  configEntryId?: string | null;
}

const registryRowSchema = z.object({
  entity_id: z.string().min(1),
  unique_id: z.union([z.string(), z.number()]).transform(String),
  platform: z.string().optional(),
  config_entry_id: z.string().nullable().optional(),
});

/** The usable rows of HA's entity registry (a row of another shape is skipped). */
export function parseRegistry(rows: readonly unknown[]): RegistryEntry[] {
  return rows.flatMap(row => {
    const parsed = registryRowSchema.safeParse(row);
    if (!parsed.success) return [];
    const { entity_id, unique_id, platform, config_entry_id } = parsed.data;
    return [{ entityId: entity_id, uniqueId: unique_id, platform, configEntryId: config_entry_id }];
  });
}

/** A drone found in HA's registry. */
export interface DiscoveredDrone {
  droneId: string;
  /** Its entity ids by key, as HA has them (a person may have renamed some). */
  entities: Partial<Record<DroneEntityKey, string>>;
  /**
   * The synapse integration's online sensor of the drone's application (unique id
   * `<app unique id>-online`, in the same config entry as the drone's entities), if found.
   */
  onlineSensor?: string;
}

const PREFIX = "backup_drone_";
const ANCHOR = "_application_state";
/** The synapse integration's online sensor: unique id `<app unique id>-online`. */
export const ONLINE_SUFFIX = "-online";

/** The drone id in the unique id of a drone's Application State sensor, if it is one. */
export function droneIdOfUniqueId(uniqueId: string): string | undefined {
  if (!uniqueId.startsWith(PREFIX) || !uniqueId.endsWith(ANCHOR)) return undefined;
  const droneId = uniqueId.slice(PREFIX.length, -ANCHOR.length);
  return DRONE_ID_PATTERN.test(droneId) ? droneId : undefined;
}

/**
 * Every drone in the registry. A drone is known by its Application State sensor (the only
 * key no other key ends with, so the drone id is never ambiguous); its other entities are
 * then looked up by their exact unique ids.
 */
export function discoverDrones(registry: readonly RegistryEntry[]): DiscoveredDrone[] {
  const synapseRows = registry.filter(row => row.platform === undefined || row.platform === "synapse");
  const byUniqueId = new Map(synapseRows.map(row => [row.uniqueId, row]));
  // one lookup per drone, not a scan of every row (a fleet's registry holds tens of thousands)
  const onlineByEntry = new Map<string, RegistryEntry>();
  for (const row of synapseRows) {
    if (row.configEntryId && !onlineByEntry.has(row.configEntryId) && row.uniqueId.endsWith(ONLINE_SUFFIX) && row.entityId.startsWith("binary_sensor.")) {
      onlineByEntry.set(row.configEntryId, row);
    }
  }
  const drones: DiscoveredDrone[] = [];
  for (const row of synapseRows) {
    const droneId = droneIdOfUniqueId(row.uniqueId);
    if (droneId === undefined) continue;
    const entities: Partial<Record<DroneEntityKey, string>> = {};
    for (const key of DRONE_ENTITY_KEYS) {
      const found = byUniqueId.get(entityUniqueId(droneId, key));
      if (found) entities[key] = found.entityId;
    }
    const online = row.configEntryId ? onlineByEntry.get(row.configEntryId) : undefined;
    drones.push({ droneId, entities, ...(online ? { onlineSensor: online.entityId } : {}) });
  }
  return drones.sort((a, b) => a.droneId.localeCompare(b.droneId));
}

const applicationState = z.enum(APPLICATION_STATES);
const mode = z.enum(MODES);
const numeric = z
  .string()
  .trim()
  .min(1)
  .transform(Number)
  .refine(Number.isFinite);
const timestamp = z.iso.datetime({ offset: true });

/** The Application State HA shows, when it is a busy one (not `idle`, not unknown or unavailable). */
export function busyState(state: string | undefined): ApplicationState | undefined {
  const parsed = applicationState.safeParse(state);
  return parsed.success && parsed.data !== "idle" ? parsed.data : undefined;
}

/** What HA's entity states tell of a drone, for `fleet.restore`. `stateOf` gives an entity's state text. */
export function restoredFacts(drone: DiscoveredDrone, stateOf: (entityId: string) => string | undefined): RestoredDrone {
  const read = (key: DroneEntityKey) => {
    const id = drone.entities[key];
    return id === undefined ? undefined : stateOf(id);
  };
  const facts: RestoredDrone = { droneId: drone.droneId };
  const state = applicationState.safeParse(read("application_state"));
  if (state.success) facts.state = state.data;
  const currentMode = mode.safeParse(read("application_mode"));
  if (currentMode.success) facts.mode = currentMode.data;
  const frequency = numeric.safeParse(read("backup_frequency"));
  if (frequency.success && frequency.data > 0) facts.frequencyMinutes = frequency.data;
  const priority = numeric.safeParse(read("priority"));
  if (priority.success) facts.priority = priority.data;
  const lastBackup = timestamp.safeParse(read("last_backup"));
  if (lastBackup.success) facts.lastBackup = new Date(lastBackup.data);
  const lastOffsite = timestamp.safeParse(read("last_offsite_backup"));
  if (lastOffsite.success) facts.lastOffsiteBackup = new Date(lastOffsite.data);
  return facts;
}
