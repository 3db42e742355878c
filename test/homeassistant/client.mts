/**
 * A small client of Home Assistant's websocket API for the tests: authenticate, send a
 * command and get its result (or HA's error), subscribe to events. Every message from HA
 * passes a zod schema; every command has a deadline.
 */
import WebSocket from "ws";
import { z } from "zod";

/** A websocket frame as text (ws hands over a Buffer, an array of them, or an ArrayBuffer). */
const frameText = (raw: WebSocket.RawData) => (Buffer.isBuffer(raw) ? raw : Array.isArray(raw) ? Buffer.concat(raw) : Buffer.from(raw)).toString("utf8");

/** An error result from Home Assistant. */
export class HaCommandError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly command: string,
  ) {
    super(`${command}: ${code}: ${message}`);
  }
}

/** An event as HA delivers it to a subscriber. */
export interface HaEvent {
  event_type: string;
  data: Record<string, unknown>;
  origin: string;
  time_fired: string;
  context: { id: string; user_id: string | null; parent_id: string | null };
}

const eventSchema = z.object({
  event_type: z.string(),
  data: z.record(z.string(), z.unknown()),
  origin: z.string(),
  time_fired: z.string(),
  context: z.object({ id: z.string(), user_id: z.string().nullable(), parent_id: z.string().nullable() }),
});

const messageSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("auth_required"), ha_version: z.string() }),
  z.object({ type: z.literal("auth_ok"), ha_version: z.string() }),
  z.object({ type: z.literal("auth_invalid"), message: z.string() }),
  z.object({
    type: z.literal("result"),
    id: z.number(),
    success: z.boolean(),
    result: z.unknown().optional(),
    error: z.object({ code: z.string(), message: z.string() }).optional(),
  }),
  z.object({ type: z.literal("event"), id: z.number(), event: z.unknown() }),
  z.object({ type: z.literal("pong"), id: z.number() }),
]);

/** An authenticated websocket connection. */
export interface HaSocket {
  readonly haVersion: string;
  /** Send a command; resolves with its result, rejects with a HaCommandError or after `timeoutMs`. */
  command<T = unknown>(message: Record<string, unknown> & { type: string }, timeoutMs?: number): Promise<T>;
  /** Subscribe to events (all of them without `eventType`); resolves with the unsubscribe. */
  subscribe(eventType: string | undefined, listener: (event: HaEvent) => void): Promise<() => Promise<void>>;
  /** Called once when the connection closes (HA stopping, or close()). */
  onClose(listener: () => void): void;
  readonly open: boolean;
  close(): Promise<void>;
}

/** Open a websocket to HA at `baseUrl` and authenticate with `token`; rejects with HA's answer when refused. */
export async function connectSocket(baseUrl: string, token: string, timeoutMs = 15_000): Promise<HaSocket> {
  const socket = new WebSocket(`${baseUrl.replace(/^http/, "ws")}/api/websocket`);
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void; command: string }>();
  const listeners = new Map<number, (event: HaEvent) => void>();
  const closeListeners: (() => void)[] = [];
  let nextId = 1;
  let closed = false;

  const haVersion = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new Error(`no websocket authentication answer from ${baseUrl} within ${timeoutMs} ms`));
    }, timeoutMs);
    const fail = (error: Error) => {
      clearTimeout(timer);
      reject(error);
    };
    socket.once("error", fail);
    socket.on("message", function onAuth(raw: WebSocket.RawData) {
      const message = messageSchema.parse(JSON.parse(frameText(raw)));
      if (message.type === "auth_required") socket.send(JSON.stringify({ type: "auth", access_token: token }));
      else if (message.type === "auth_ok") {
        clearTimeout(timer);
        socket.off("message", onAuth);
        socket.off("error", fail);
        resolve(message.ha_version);
      } else if (message.type === "auth_invalid") {
        socket.close();
        fail(new Error(`Home Assistant refused the token: ${message.message}`));
      }
    });
  });

  const handle = (message: z.infer<typeof messageSchema>) => {
    if (message.type === "result") {
      const waiter = pending.get(message.id);
      if (!waiter) return;
      pending.delete(message.id);
      if (message.success) waiter.resolve(message.result);
      else waiter.reject(new HaCommandError(message.error?.code ?? "unknown_error", message.error?.message ?? "", waiter.command));
    } else if (message.type === "event") {
      const listener = listeners.get(message.id);
      const event = eventSchema.safeParse(message.event);
      if (listener && event.success) listener(event.data);
    }
  };
  socket.on("message", (raw: WebSocket.RawData) => {
    const parsed: unknown = JSON.parse(frameText(raw));
    // with coalescing HA sends arrays; without it one message per frame
    for (const item of Array.isArray(parsed) ? parsed : [parsed]) {
      const message = messageSchema.safeParse(item);
      if (message.success) handle(message.data);
    }
  });
  socket.on("error", () => undefined);
  socket.once("close", () => {
    closed = true;
    for (const [, waiter] of pending) waiter.reject(new Error(`${waiter.command}: the connection closed before the reply`));
    pending.clear();
    for (const listener of closeListeners) listener();
  });

  const command = <T,>(message: Record<string, unknown> & { type: string }, commandTimeoutMs = 30_000) =>
    new Promise<T>((resolve, reject) => {
      if (closed) {
        reject(new Error(`${message.type}: the connection is closed`));
        return;
      }
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`${message.type}: no reply within ${commandTimeoutMs} ms`));
      }, commandTimeoutMs);
      pending.set(id, {
        command: message.type,
        resolve: value => {
          clearTimeout(timer);
          resolve(value as T);
        },
        reject: error => {
          clearTimeout(timer);
          reject(error);
        },
      });
      socket.send(JSON.stringify({ ...message, id }));
    });

  return {
    haVersion,
    command,
    async subscribe(eventType, listener) {
      // command() takes this id synchronously, before anything else can
      const id = nextId;
      listeners.set(id, listener);
      try {
        await command({ type: "subscribe_events", ...(eventType === undefined ? {} : { event_type: eventType }) });
      } catch (error) {
        listeners.delete(id);
        throw error;
      }
      return async () => {
        listeners.delete(id);
        if (!closed) await command({ type: "unsubscribe_events", subscription: id });
      };
    },
    onClose: listener => void closeListeners.push(listener),
    get open() {
      return !closed;
    },
    close: () =>
      new Promise<void>(resolve => {
        if (closed) {
          resolve();
          return;
        }
        socket.once("close", () => resolve());
        socket.close();
      }),
  };
}
