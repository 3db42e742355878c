/**
 * A bare websocket client for protocol tests: every message it receives, validated as
 * JSON objects, and a way to wait for the next one that matches.
 */
import WebSocket from "ws";
import { z } from "zod";

const messageSchema = z.looseObject({ type: z.string() });

/** A received message. */
export type RawMessage = z.infer<typeof messageSchema>;

/** A connected raw client. */
export interface RawClient {
  socket: WebSocket;
  messages: RawMessage[];
  send(message: unknown): void;
  /** The first message (received so far or later) that matches; rejects after `timeoutMs`. */
  next(match: (message: RawMessage) => boolean, what: string, timeoutMs?: number): Promise<RawMessage>;
  /** Resolves with the close code once the server closed the socket. */
  closed: Promise<number>;
  close(): Promise<void>;
}

/** Connect to `<url>/api/websocket`. */
export function rawClient(url: string): Promise<RawClient> {
  const socket = new WebSocket(`${url.replace(/^http/, "ws")}/api/websocket`);
  const messages: RawMessage[] = [];
  const waiters = new Set<() => void>();
  socket.on("message", data => {
    const text = (Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)).toString("utf8");
    messages.push(messageSchema.parse(JSON.parse(text)));
    for (const waiter of waiters) waiter();
  });
  const closed = new Promise<number>(resolve => socket.on("close", code => resolve(code)));
  return new Promise((resolve, reject) => {
    socket.once("error", reject);
    socket.once("open", () =>
      resolve({
        socket,
        messages,
        closed,
        send: message => socket.send(JSON.stringify(message)),
        next: (match, what, timeoutMs = 5_000) =>
          new Promise((found, fail) => {
            let seen = 0;
            const check = () => {
              for (; seen < messages.length; seen++) {
                const message = messages[seen];
                if (message && match(message)) {
                  waiters.delete(check);
                  clearTimeout(timer);
                  return found(message);
                }
              }
            };
            const timer = setTimeout(() => {
              waiters.delete(check);
              fail(new Error(`no ${what} within ${timeoutMs} ms; received: ${JSON.stringify(messages.slice(-5))}`));
            }, timeoutMs);
            waiters.add(check);
            check();
          }),
        close: async () => {
          if (socket.readyState === WebSocket.CLOSED) return;
          socket.close();
          await closed;
        },
      }),
    );
  });
}

/** Connect and authenticate. */
export async function authenticatedClient(url: string, token: string): Promise<RawClient> {
  const client = await rawClient(url);
  await client.next(message => message.type === "auth_required", "auth_required");
  client.send({ type: "auth", access_token: token });
  await client.next(message => message.type === "auth_ok", "auth_ok");
  return client;
}
