/**
 * The data the loopback Home Assistant keeps, in the shapes Home Assistant sends them over
 * its websocket and REST APIs, and small helpers that mimic how Home Assistant formats
 * them (timestamps, ids, slugs, Python's json.dumps).
 */
import { randomBytes } from "node:crypto";

/** Who caused a change (HA's `Context`). */
export interface HassContext {
  id: string;
  parent_id: string | null;
  user_id: string | null;
}

/** One entity's state, as `get_states` and `state_changed` carry it. */
export interface HassState {
  entity_id: string;
  state: string;
  attributes: Record<string, unknown>;
  last_changed: string;
  last_reported: string;
  last_updated: string;
  context: HassContext;
}

/** An event on HA's bus. */
export interface FiredEvent {
  event_type: string;
  data: Record<string, unknown>;
  time_fired: string;
  /** REMOTE when a client fired it through the REST API; LOCAL otherwise, websocket `fire_event` included (as HA does). */
  origin: "LOCAL" | "REMOTE";
  context: HassContext;
}

/** An entity registry entry, as `config/entity_registry/list` returns it. */
export interface RegistryEntry {
  area_id: string | null;
  categories: Record<string, string>;
  config_entry_id: string | null;
  config_subentry_id: string | null;
  created_at: number;
  device_id: string | null;
  disabled_by: string | null;
  entity_category: string | null;
  entity_id: string;
  has_entity_name: boolean;
  hidden_by: string | null;
  icon: string | null;
  id: string;
  labels: string[];
  modified_at: number;
  name: string | null;
  options: Record<string, unknown>;
  original_name: string | null;
  platform: string;
  translation_key: string | null;
  unique_id: string;
}

/** A device registry entry, as `config/device_registry/list` returns it. */
export interface DeviceEntry {
  area_id: string | null;
  configuration_url: string | null;
  config_entries: string[];
  config_entries_subentries: Record<string, (string | null)[]>;
  connections: [string, string][];
  created_at: number;
  disabled_by: string | null;
  entry_type: string | null;
  hw_version: string | null;
  id: string;
  identifiers: [string, string][];
  labels: string[];
  manufacturer: string | null;
  model: string | null;
  model_id: string | null;
  modified_at: number;
  name_by_user: string | null;
  name: string | null;
  primary_config_entry: string | null;
  serial_number: string | null;
  sw_version: string | null;
  via_device_id: string | null;
}

/** An area registry entry. */
export interface AreaEntry {
  aliases: string[];
  area_id: string;
  floor_id: string | null;
  humidity_entity_id: string | null;
  icon: string | null;
  labels: string[];
  name: string;
  picture: string | null;
  temperature_entity_id: string | null;
  created_at: number;
  modified_at: number;
}

/** A config entry, as `config_entries/get` returns it. */
export interface ConfigEntry {
  entry_id: string;
  domain: string;
  title: string;
  source: string;
  state: "loaded" | "not_loaded" | "setup_error";
  supports_options: boolean;
  supports_remove_device: boolean;
  supports_unload: boolean;
  supports_reconfigure: boolean;
  supported_subentry_types: Record<string, unknown>;
  pref_disable_new_entities: boolean;
  pref_disable_polling: boolean;
  disabled_by: string | null;
  reason: string | null;
  error_reason_translation_key: string | null;
  error_reason_translation_placeholders: Record<string, string> | null;
  num_subentries: number;
  created_at: number;
  modified_at: number;
}

/** HA's time format: Python's `datetime.isoformat()` of an aware UTC time, with microseconds. */
export function haTime(date: Date = new Date()): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000+00:00");
}

/** Seconds since the epoch, as HA's registries store `created_at`/`modified_at`. */
export const haTimestamp = (date: Date = new Date()) => date.getTime() / 1000;

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** A ULID, as HA uses for context and config entry ids. */
export function ulid(now = Date.now()): string {
  let time = "";
  let rest = now;
  for (let index = 0; index < 10; index++) {
    time = (CROCKFORD[rest % 32] ?? "0") + time;
    rest = Math.floor(rest / 32);
  }
  const random = [...randomBytes(16)].map(byte => CROCKFORD[byte % 32] ?? "0").join("");
  return time + random;
}

/** A random 32-hex id, as HA's registries use (`uuid_util.random_uuid_hex`). */
export const hexId = () => randomBytes(16).toString("hex");

/** A user of the emulated instance with its long-lived access token (HA's `auth.models.User`). */
export interface EmulatedUser {
  readonly id: string;
  readonly name: string;
  readonly isOwner: boolean;
  /** In HA's `system-admin` group: may fire events and subscribe to any event type. */
  readonly isAdmin: boolean;
  readonly token: string;
}

/** A fresh context (HA's `Context()`), optionally for a user. */
export const newContext = (userId: string | null = null): HassContext => ({ id: ulid(), parent_id: null, user_id: userId });

/** HA's `slugify` for object ids: lower case ASCII, anything else becomes `_`, runs collapsed, ends trimmed. */
export function slugify(text: string): string {
  const slug = text
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "");
  return slug.length > 0 ? slug : "unknown";
}

/**
 * How HA writes a state value into the state machine (`Entity._stringify_state`): None is
 * `unknown`, floats keep Python's repr (`30.0`), booleans are `True`/`False`.
 */
export function stringifyState(value: unknown, isFloat = false): string {
  if (value === null || value === undefined) return "unknown";
  if (typeof value === "boolean") return value ? "True" : "False";
  if (typeof value === "number") return pythonNumber(value, isFloat);
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

/** Python's repr of a number that HA holds as a float (`vol.Coerce(float)`) or as parsed from JSON. */
export function pythonNumber(value: number, isFloat: boolean): string {
  if (!Number.isFinite(value)) return value > 0 ? "inf" : value < 0 ? "-inf" : "nan";
  if (isFloat && Number.isInteger(value)) return `${value}.0`;
  return String(value);
}

/**
 * The length in bytes of Python's `json.dumps(value)` (separators `, ` and `: `, non-ASCII
 * escaped): the synapse integration measures messages this way before it accepts them.
 */
export function pythonJsonLength(value: unknown): number {
  return pythonJson(value).length;
}

function pythonJson(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "NaN";
  if (typeof value === "string") {
    // JSON.stringify escapes like Python except non-ASCII, which Python writes as \uXXXX
    return JSON.stringify(value).replace(/[\u0080-\uffff]/g, char => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
  }
  if (Array.isArray(value)) return `[${value.map(item => pythonJson(item)).join(", ")}]`;
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, item]) => item !== undefined);
    return `{${entries.map(([key, item]) => `${pythonJson(key)}: ${pythonJson(item)}`).join(", ")}}`;
  }
  return "null";
}

/** A plain JSON object (a record), or undefined. */
export function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** Deep equality of JSON values (what HA compares when it decides whether a state changed). */
export const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
