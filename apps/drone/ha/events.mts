/**
 * Sending the drone's events to Home Assistant's event bus: every payload is validated with
 * its protocol schema first, every send has a deadline (a `fire_event` whose reply never
 * comes would otherwise wait forever), and nothing thrown here reaches the engine.
 */
import { EVENT_SCHEMAS, EVENT_TYPES } from "../../../libs/protocol/index.mjs";
import { withDeadline } from "../../../libs/ha/deadline.mjs";
import { errorText, issueLines } from "../../../libs/config/errors.mjs";

/** An HA event type of the drone. */
export type DroneEventType = (typeof EVENT_TYPES)[keyof typeof EVENT_TYPES];

/** Result events kept while Home Assistant is unreachable, sent on reconnect (oldest dropped first). */
export const PENDING_RESULTS_LIMIT = 50;

/** What the sender needs from the hass library. */
export interface EventTransport {
  fireEvent(type: string, data: object): Promise<unknown>;
  connected(): boolean;
}

/** Where the sender reports problems. */
export interface EventLog {
  debug(message: string): void;
  warn(message: string): void;
}

/** The sender's API. */
export interface EventSender {
  /** Validate and fire; resolves false when the event was invalid, undelivered or late. Never rejects. */
  send(type: DroneEventType, payload: unknown): Promise<boolean>;
  /** Send the result events kept while disconnected (call on reconnect). */
  flush(): Promise<void>;
}


/** Create the event sender; `deadlineMs` gives how long a `fire_event` may take before it counts as failed. */
export function createEventSender(transport: EventTransport, log: EventLog, deadlineMs: () => number): EventSender {
  const pending: object[] = [];

  const deliver = async (type: DroneEventType, data: object): Promise<boolean> => {
    const outcome = await withDeadline(transport.fireEvent(type, data), deadlineMs());
    if (!outcome.ok) log.warn(`${type} event not confirmed by Home Assistant: ${outcome.reason}`);
    return outcome.ok;
  };

  const send = async (type: DroneEventType, payload: unknown): Promise<boolean> => {
    const parsed = EVENT_SCHEMAS[type].safeParse(payload);
    if (!parsed.success) {
      // a bug of ours: say which fields, never the values (they could be long or private)
      const fields = issueLines(parsed.error);
      log.warn(`${type} event not sent, it does not match the protocol: ${fields.join("; ")}`);
      return false;
    }
    if (!transport.connected()) {
      if (type === EVENT_TYPES.result) {
        pending.push(parsed.data);
        if (pending.length > PENDING_RESULTS_LIMIT) pending.shift();
        log.warn(`Home Assistant is not connected: ${type} event kept, it is sent on reconnect`);
      } else log.debug(`Home Assistant is not connected: ${type} event dropped`);
      return false;
    }
    return await deliver(type, parsed.data);
  };

  const flush = async () => {
    for (const data of pending.splice(0)) await deliver(EVENT_TYPES.result, data);
  };

  return {
    send: async (type, payload) => {
      try {
        return await send(type, payload);
      } catch (error) {
        log.warn(`${type} event failed: ${errorText(error)}`);
        return false;
      }
    },
    flush: async () => {
      try {
        await flush();
      } catch (error) {
        log.warn(`sending kept result events failed: ${errorText(error)}`);
      }
    },
  };
}
