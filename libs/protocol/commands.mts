/**
 * Commands to a drone over Home Assistant's event bus, and the drone's answers.
 *
 * Why a second path beside the buttons: a button press travels through the synapse
 * integration, which refuses a drone whose earlier connection ended without a goodbye (sleep,
 * a lost network, kill -9, power loss) until Home Assistant restarts; the press then reaches
 * nothing while HA reports success. The event bus reaches the drone all the same: the drone
 * subscribes to it over its own websocket. Putting an event on the bus needs an HA
 * administrator (`fire_event` and `POST /api/events/<type>` are admin-only) or an automation or
 * script (which administrators write), so a command needs no less trust than pressing the
 * button does.
 */
import { z } from "zod";

import { DRONE_ID_PATTERN, PROTOCOL_VERSION } from "./events.mjs";
import { EVENT_LIMITS, PRINTABLE_NAME, PRINTABLE_NAME_MESSAGE } from "./limits.mjs";

/** HA event types of the command path. */
export const COMMAND_EVENT_TYPES = {
  command: "backup_drone_command",
  ack: "backup_drone_command_ack",
} as const;

/**
 * What a command may ask: the drone's button operations (and `verify`), releasing a held
 * prune, cancelling what runs (and dropping what waits), or a status event now. Not `restore`: it writes files into a folder set on the
 * drone's entities, which the command does not carry.
 */
export const COMMAND_ACTIONS = ["scheduled", "create", "prune", "stats", "check", "verify", "offsite", "release_prune_hold", "cancel", "status"] as const;
/** One command action. */
export type CommandAction = (typeof COMMAND_ACTIONS)[number];

/** Request ids: letters, digits and `._:-`, up to 80 characters (a UUID fits). */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,79}$/;

const isoTime = z.iso.datetime({ offset: true });
const droneId = z.string().regex(DRONE_ID_PATTERN);
const requestId = z.string().regex(REQUEST_ID_PATTERN);
/** Who sent it: a coordinator id, an automation's name; shown in the drone's log and echoed in the answer. */
const sender = z.string().min(1).max(EVENT_LIMITS.senderBytes).regex(PRINTABLE_NAME, PRINTABLE_NAME_MESSAGE);

/** `backup_drone_command`: ask one drone to do something. */
export const commandEventSchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  drone_id: droneId,
  action: z.enum(COMMAND_ACTIONS),
  /** Unique per command: the drone acts once per id and answers a repeat with its first answer. */
  request_id: requestId,
  sender,
  /** When it was sent; a command more than 10 minutes away from the drone's clock is refused. */
  time: isoTime,
});
/** A command payload. */
export type CommandEvent = z.infer<typeof commandEventSchema>;

/** `backup_drone_command_ack`: the drone's answer to one command. */
export const commandAckEventSchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  drone_id: droneId,
  request_id: requestId,
  action: z.enum(COMMAND_ACTIONS),
  sender,
  /** True when the drone did it or queued it. */
  accepted: z.boolean(),
  /** Why it was refused, or what was done when there is more to say; null otherwise. */
  reason: z.string().max(500).nullable(),
  /** The run the command started or queued (its result event carries the same id), else null. */
  run_id: z.string().nullable(),
  /** True when this answers a request id already answered: nothing was done again. */
  duplicate: z.boolean(),
  time: isoTime,
});
/** An answer payload. */
export type CommandAckEvent = z.infer<typeof commandAckEventSchema>;

/** The command path's schemas by HA event type. */
export const COMMAND_EVENT_SCHEMAS = {
  [COMMAND_EVENT_TYPES.command]: commandEventSchema,
  [COMMAND_EVENT_TYPES.ack]: commandAckEventSchema,
} as const;
