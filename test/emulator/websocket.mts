/**
 * HA's websocket API at /api/websocket (homeassistant/components/websocket_api: http.py,
 * auth.py, connection.py, commands.py and the registry/config commands the DA client uses):
 * the auth phase, then commands answered with `result` messages, events pushed to
 * subscriptions. Every incoming message is checked against its command's zod schema.
 */
import { type IncomingMessage } from "node:http";
import { type Duplex } from "node:stream";
import { timingSafeEqual } from "node:crypto";

import { type RawData, type WebSocket, WebSocketServer } from "ws";
import { z } from "zod";

import { CommandError, type Reply, type WsCommand, type WsConnection } from "./commands.mjs";
import { type HassCore, humanizeIssues, ServiceCallError } from "./core.mjs";
import { type EmulatedUser, type FiredEvent, newContext } from "./model.mjs";
import { type SynapseIntegration } from "./synapse.mjs";
import { errorText } from "../../libs/config/errors.mjs";

/** auth.py AUTH_TIMEOUT: a client that does not authenticate within this long is dropped. */
const AUTH_TIMEOUT_MS = 10_000;

/**
 * auth/permissions/events.py SUBSCRIBE_ALLOWLIST (HA 2025.4): the event types a user who is
 * not an administrator may subscribe to; `*` (all events) is not among them.
 */
const SUBSCRIBE_ALLOWLIST = new Set([
  "area_registry_updated",
  "component_loaded",
  "core_config_updated",
  "device_registry_updated",
  "entity_registry_updated",
  "repairs_issue_registry_updated",
  "lovelace_updated",
  "panels_updated",
  "recorder_5min_statistics_generated",
  "recorder_hourly_statistics_generated",
  "service_registered",
  "service_removed",
  "shopping_list_updated",
  "state_changed",
  "themes_updated",
  "label_registry_updated",
  "category_registry_updated",
  "floor_registry_updated",
]);

const authSchema = z.strictObject({ type: z.literal("auth"), access_token: z.string().optional(), api_password: z.string().optional() });
/** connection.py: what every command message must have before its own schema is looked at. */
const envelopeSchema = z.looseObject({ id: z.number().int().positive(), type: z.string().min(1) });

const base = { id: z.number().int().positive() };
const command = <T extends string>(type: T, fields: z.ZodRawShape = {}) =>
  z.strictObject({ ...base, type: z.literal(type), ...fields }) as unknown as z.ZodType<Record<string, unknown>>;

const rawText = (data: RawData) =>
  (Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)).toString("utf8");

/** Equal tokens, compared in constant time. */
export function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** An event as HA sends it to a subscription (`messages.cached_event_message`). */
export const eventMessage = (subscription: number, event: FiredEvent) => ({
  id: subscription,
  type: "event",
  event: { event_type: event.event_type, data: event.data, origin: event.origin, time_fired: event.time_fired, context: event.context },
});

/** The websocket API over a core and the synapse integration. */
export function createWebsocketApi(options: {
  core: HassCore;
  synapse: SynapseIntegration;
  /** Every user with a token; a token matching none is refused. */
  users: readonly EmulatedUser[];
  haVersion: string;
  log: (line: string) => void;
}) {
  const { core, synapse, log } = options;
  const server = new WebSocketServer({ noServer: true });
  const sockets = new Set<WebSocket>();
  const authenticated = new Set<WsConnection>();
  let nextConnectionId = 1;

  /**
   * `Unauthorized` raised in a handler: connection.py `async_handle_exception` answers
   * `unauthorized` "Unauthorized" and logs "Error handling message: …" at ERROR.
   */
  const unauthorized = (connection: WsConnection) => {
    log(`websocket: ERROR Error handling message: Unauthorized (unauthorized) ${connection.user.name}`);
    return new CommandError("unauthorized", "Unauthorized");
  };
  /** decorators.py `require_admin`. */
  const requireAdmin = (connection: WsConnection) => {
    if (!connection.user.isAdmin) throw unauthorized(connection);
  };

  const commands: Record<string, WsCommand> = {
    ping: {
      schema: command("ping"),
      handle: (connection, message) => connection.send({ id: message.id, type: "pong" }),
    },
    get_states: { schema: command("get_states"), handle: (_c, _m, reply) => reply.result(core.states()) },
    get_config: { schema: command("get_config"), handle: (_c, _m, reply) => reply.result(core.config()) },
    get_services: { schema: command("get_services"), handle: (_c, _m, reply) => reply.result(core.serviceDescriptions()) },
    // the token's user, as components/auth/__init__.py websocket_current_user answers it (HA 2025.4)
    "auth/current_user": {
      schema: command("auth/current_user"),
      handle: (connection, _m, reply) =>
        reply.result({
          id: connection.user.id,
          name: connection.user.name,
          is_owner: connection.user.isOwner,
          is_admin: connection.user.isAdmin,
          credentials: [{ auth_provider_type: "homeassistant", auth_provider_id: null }],
          mfa_modules: [{ id: "totp", name: "Authenticator app", enabled: false }],
        }),
    },
    subscribe_events: {
      schema: command("subscribe_events", { event_type: z.string().optional() }),
      handle(connection, message, reply) {
        const eventType = typeof message.event_type === "string" ? message.event_type : "*";
        // commands.py handle_subscribe_events: outside the allow-list only administrators may listen
        if (!SUBSCRIBE_ALLOWLIST.has(eventType) && !connection.user.isAdmin) {
          log(`websocket: ERROR Refusing to allow ${connection.user.name} to subscribe to event ${eventType}`);
          throw unauthorized(connection);
        }
        const subscriptions = subscriptionsOf.get(connection);
        if (!subscriptions) return;
        subscriptions.set(
          message.id,
          core.listen(eventType, event => connection.send(eventMessage(message.id, event))),
        );
        reply.result(null);
        if (eventType === "*") synapse.connectionSubscribed(connection);
      },
    },
    unsubscribe_events: {
      schema: command("unsubscribe_events", { subscription: z.number().int().positive() }),
      handle(connection, message, reply) {
        const subscriptions = subscriptionsOf.get(connection);
        const id = Number(message.subscription);
        const stop = subscriptions?.get(id);
        if (!stop) throw new CommandError("not_found", "Subscription not found.");
        stop();
        subscriptions?.delete(id);
        reply.result(null);
      },
    },
    fire_event: {
      schema: command("fire_event", { event_type: z.string(), event_data: z.record(z.string(), z.unknown()).optional() }),
      handle(connection, message, reply) {
        requireAdmin(connection);
        const context = newContext(connection.userId);
        const data = (message.event_data as Record<string, unknown> | undefined) ?? {};
        // websocket_api/commands.py handle_fire_event fires with the default origin (LOCAL); only the REST API says REMOTE
        core.fire(String(message.event_type), data, "LOCAL", context);
        reply.result({ context });
      },
    },
    call_service: {
      schema: command("call_service", {
        domain: z.string(),
        service: z.string(),
        target: z.record(z.string(), z.unknown()).optional(),
        service_data: z.record(z.string(), z.unknown()).optional(),
        return_response: z.boolean().optional(),
      }),
      handle(connection, message, reply) {
        const context = newContext(connection.userId);
        try {
          if (message.return_response === true) {
            throw new ServiceCallError("service_validation_error", "Validation error: An action which does not return responses can't be called with return_response=True");
          }
          core.callService(
            String(message.domain),
            String(message.service),
            (message.service_data as Record<string, unknown> | undefined) ?? {},
            context,
            message.target as Record<string, unknown> | undefined,
          );
        } catch (error) {
          if (!(error instanceof ServiceCallError)) throw error;
          // commands.py handle_call_service logs a ServiceValidationError (its text, without the prefix) at ERROR
          if (error.code === "service_validation_error") log(`websocket: ERROR ${error.message.replace(/^Validation error: /, "")}`);
          throw new CommandError(error.code, error.message);
        }
        reply.result({ context });
      },
    },
    "config/entity_registry/list": { schema: command("config/entity_registry/list"), handle: (_c, _m, reply) => reply.result(core.entityRegistry()) },
    "config/entity_registry/get": {
      schema: command("config/entity_registry/get", { entity_id: z.string() }),
      handle(_connection, message, reply) {
        const entry = core.extendedEntityEntry(String(message.entity_id));
        if (!entry) throw new CommandError("not_found", "Entity not found");
        reply.result(entry);
      },
    },
    "config/device_registry/list": { schema: command("config/device_registry/list"), handle: (_c, _m, reply) => reply.result(core.deviceRegistry()) },
    "config/area_registry/list": { schema: command("config/area_registry/list"), handle: (_c, _m, reply) => reply.result(core.areaRegistry()) },
    "config/floor_registry/list": { schema: command("config/floor_registry/list"), handle: (_c, _m, reply) => reply.result([]) },
    "config/label_registry/list": { schema: command("config/label_registry/list"), handle: (_c, _m, reply) => reply.result([]) },
    "zone/list": { schema: command("zone/list"), handle: (_c, _m, reply) => reply.result([]) },
    "config_entries/get": {
      schema: command("config_entries/get", { type_filter: z.array(z.string()).optional(), domain: z.string().optional() }),
      handle(_connection, message, reply) {
        const domain = typeof message.domain === "string" ? message.domain : undefined;
        reply.result(core.configEntries().filter(entry => domain === undefined || entry.domain === domain));
      },
    },
    "manifest/list": {
      schema: command("manifest/list", { integrations: z.array(z.string()).optional() }),
      handle: (_c, _m, reply) => reply.result(core.config().components.filter(name => !name.includes(".")).map(domain => ({ domain, name: domain }))),
    },
    ...synapse.commands,
  };

  const subscriptionsOf = new Map<WsConnection, Map<number, () => void>>();

  function attach(socket: WebSocket) {
    sockets.add(socket);
    const send = (message: Record<string, unknown>) => {
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
    };
    let connection: WsConnection | undefined;
    let lastId = 0;
    const authTimer = setTimeout(() => {
      if (!connection) socket.close();
    }, AUTH_TIMEOUT_MS);

    send({ type: "auth_required", ha_version: options.haVersion });

    const authenticate = (raw: unknown) => {
      const parsed = authSchema.safeParse(raw);
      if (!parsed.success) {
        send({ type: "auth_invalid", message: `Auth message incorrectly formatted: ${humanizeIssues(parsed.error.issues)}` });
        socket.close();
        return;
      }
      const token = parsed.data.access_token;
      const user = token === undefined ? undefined : options.users.find(candidate => sameToken(token, candidate.token));
      if (!user) {
        log("websocket: login attempt with an invalid token");
        send({ type: "auth_invalid", message: "Invalid access token or password" });
        socket.close();
        return;
      }
      clearTimeout(authTimer);
      const id = nextConnectionId++;
      connection = { id, userId: user.id, user, send, isOpen: () => socket.readyState === socket.OPEN };
      authenticated.add(connection);
      subscriptionsOf.set(connection, new Map());
      send({ type: "auth_ok", ha_version: options.haVersion });
    };

    const handleCommand = (active: WsConnection, raw: unknown) => {
      const envelope = envelopeSchema.safeParse(raw);
      if (!envelope.success) {
        const id = typeof raw === "object" && raw !== null && "id" in raw ? raw.id : 0;
        send({ id, type: "result", success: false, error: { code: "invalid_format", message: "Message incorrectly formatted." } });
        return;
      }
      const message = envelope.data;
      if (message.id <= lastId) {
        send({ id: message.id, type: "result", success: false, error: { code: "id_reuse", message: "Identifier values have to increase." } });
        return;
      }
      lastId = message.id;
      let answered = false;
      const reply: Reply = {
        result: result => {
          if (answered) return;
          answered = true;
          send({ id: message.id, type: "result", success: true, result: result ?? null });
        },
        error: (code, text) => {
          if (answered) return;
          answered = true;
          send({ id: message.id, type: "result", success: false, error: { code, message: text } });
        },
      };
      const handler = commands[message.type];
      if (!handler) return reply.error("unknown_command", "Unknown command.");
      const valid = handler.schema.safeParse(message);
      if (!valid.success) return reply.error("invalid_format", humanizeIssues(valid.error.issues));
      try {
        handler.handle(active, { ...valid.data, id: message.id }, reply);
      } catch (error) {
        if (error instanceof CommandError) reply.error(error.code, error.message);
        else {
          log(`websocket: error handling ${message.type}: ${errorText(error)}`);
          reply.error("unknown_error", "Unknown error");
        }
      }
    };

    socket.on("message", (data: RawData) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(rawText(data)) as unknown;
      } catch {
        // HA drops a client that sends something that is not JSON (http.py "Received invalid JSON.")
        log("websocket: received invalid JSON, closing the connection");
        socket.close();
        return;
      }
      if (!connection) return authenticate(parsed);
      const active = connection;
      for (const item of Array.isArray(parsed) ? parsed : [parsed]) handleCommand(active, item);
    });
    socket.on("close", () => {
      clearTimeout(authTimer);
      sockets.delete(socket);
      if (!connection) return;
      authenticated.delete(connection);
      for (const stop of subscriptionsOf.get(connection)?.values() ?? []) stop();
      subscriptionsOf.delete(connection);
      synapse.connectionClosed(connection);
    });
    socket.on("error", error => log(`websocket: ${error.message}`));
  }

  return {
    /** Take over an HTTP upgrade request for /api/websocket. */
    upgrade(request: IncomingMessage, socket: Duplex, head: Buffer) {
      server.handleUpgrade(request, socket, head, ws => attach(ws));
    },
    /** Open authenticated connections. */
    count: () => [...authenticated].filter(connection => connection.isOpen()).length,
    /** Close every connection (HA closes them when it stops); resolves once they are gone. */
    async closeAll(): Promise<void> {
      const closing = [...sockets].map(
        socket =>
          new Promise<void>(resolve => {
            if (socket.readyState === socket.CLOSED) return resolve();
            socket.once("close", () => resolve());
            socket.close(1000);
            // a client that does not answer the close handshake is cut off
            setTimeout(() => socket.terminate(), 1000).unref();
          }),
      );
      await Promise.all(closing);
    },
  };
}
