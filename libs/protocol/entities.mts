/**
 * The drone's Home Assistant entities: one table that the drone builds its device from and
 * the coordinator finds a drone's entities with. Ids derive from the drone id only.
 */

/** HA domains the drone uses. */
export type EntityDomain = "button" | "sensor" | "number" | "select" | "text" | "binary_sensor" | "switch";

/** One entity of a drone's device. */
export interface EntityDefinition {
  domain: EntityDomain;
  /** Friendly name; the drone shows it as `<drone id> <name>`. */
  name: string;
  /** Only present when the drone has an offsite repository. */
  offsite?: boolean;
}

/** Every drone entity by key. */
export const DRONE_ENTITIES = {
  create_backup: { domain: "button", name: "Create Backup" },
  prune_backups: { domain: "button", name: "Prune Backups" },
  update_stats: { domain: "button", name: "Update Stats" },
  scheduled_backup: { domain: "button", name: "Scheduled Backup" },
  check_repository: { domain: "button", name: "Check Repository" },
  restore: { domain: "button", name: "Restore" },
  offsite_backup: { domain: "button", name: "Offsite Backup", offsite: true },
  release_prune_hold: { domain: "button", name: "Release Prune Hold" },
  cancel: { domain: "button", name: "Cancel" },
  application_state: { domain: "sensor", name: "Application State" },
  application_mode: { domain: "select", name: "Application Mode" },
  restore_archive: { domain: "select", name: "Restore Archive" },
  restore_target: { domain: "text", name: "Restore Target" },
  backup_frequency: { domain: "number", name: "Backup Frequency" },
  offsite_frequency: { domain: "number", name: "Offsite Frequency", offsite: true },
  priority: { domain: "number", name: "Priority" },
  keep_daily: { domain: "number", name: "Keep Daily" },
  keep_weekly: { domain: "number", name: "Keep Weekly" },
  keep_monthly: { domain: "number", name: "Keep Monthly" },
  keep_yearly: { domain: "number", name: "Keep Yearly" },
  keep_within: { domain: "text", name: "Keep Within" },
  last_backup: { domain: "sensor", name: "Last Backup" },
  next_backup: { domain: "sensor", name: "Next Backup" },
  last_prune: { domain: "sensor", name: "Last Prune" },
  last_check: { domain: "sensor", name: "Last Check" },
  last_check_result: { domain: "sensor", name: "Last Check Result" },
  last_offsite_backup: { domain: "sensor", name: "Last Offsite Backup", offsite: true },
  last_result: { domain: "sensor", name: "Last Result" },
  last_error: { domain: "sensor", name: "Last Error" },
  prune_hold: { domain: "sensor", name: "Prune Hold" },
  last_duration: { domain: "sensor", name: "Last Duration" },
  last_added: { domain: "sensor", name: "Last Backup Added" },
  progress: { domain: "sensor", name: "Progress" },
  eta: { domain: "sensor", name: "ETA" },
  archive_count: { domain: "sensor", name: "Archive Count" },
  archive_total_size: { domain: "sensor", name: "Archive Total Size" },
  archive_compressed_size: { domain: "sensor", name: "Archive Compressed Size" },
  archive_deduplicated_size: { domain: "sensor", name: "Archive Deduplicated Size" },
  offsite_size: { domain: "sensor", name: "Offsite Deduplicated Size", offsite: true },
} as const satisfies Record<string, EntityDefinition>;

/** A key of {@link DRONE_ENTITIES}. */
export type DroneEntityKey = keyof typeof DRONE_ENTITIES;

/** Every entity key, in table order. */
export const DRONE_ENTITY_KEYS = Object.keys(DRONE_ENTITIES) as DroneEntityKey[];

/** The unique id of a drone entity: stable across restarts, distinct across drones. */
export const entityUniqueId = (droneId: string, key: DroneEntityKey) => `backup_drone_${droneId}_${key}`;

/** The object id HA derives the entity id from (`button.<object id>`). */
export const entityObjectId = (droneId: string, key: DroneEntityKey) => `${droneId.replaceAll("-", "_")}_${key}`;

/** The entity id a drone entity gets in HA (unless a person renames it). */
export const entityId = (droneId: string, key: DroneEntityKey) =>
  `${DRONE_ENTITIES[key].domain}.${entityObjectId(droneId, key)}`;

/** The device identifier of a drone. */
export const droneDeviceId = (droneId: string) => `backup_drone_${droneId}`;
