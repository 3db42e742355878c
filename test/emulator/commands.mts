/**
 * What a websocket command handler sees: its connection and a way to answer, and the
 * error type that becomes HA's `result` with `success: false`.
 */
import { type z } from "zod";

import { type EmulatedUser } from "./model.mjs";

/** An authenticated websocket connection, as handlers see it. */
export interface WsConnection {
  /** Unique per connection (HA keys rate limits and synapse bridges by the connection object). */
  readonly id: number;
  readonly userId: string;
  /** The token's user (HA's `connection.user`). */
  readonly user: EmulatedUser;
  /** Send a message as is (events, synapse pushes). */
  send(message: Record<string, unknown>): void;
  isOpen(): boolean;
}

/** How a handler answers: exactly once, with a result or an error. */
export interface Reply {
  result(result?: unknown): void;
  error(code: string, message: string): void;
}

/** One websocket command: its message schema (HA's voluptuous schema) and its handler. */
export interface WsCommand {
  schema: z.ZodType<Record<string, unknown>>;
  /** Answer through `reply`; a thrown CommandError is answered as HA's error result. */
  handle(connection: WsConnection, message: Record<string, unknown> & { id: number }, reply: Reply): void;
}

/** An error answered as `{success: false, error: {code, message}}`. */
export class CommandError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "CommandError";
  }
}
