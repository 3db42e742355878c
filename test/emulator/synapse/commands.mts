/**
 * What the emulated integration sends to an app, and the HA services that reach it: an
 * entity's command (`synapse/press`, `synapse/set_value`, `synapse/select_option`, … as
 * bridge.py `emit_event`), a request to register again, the answer to a command from a
 * connection no bridge holds (websocket.py `_handle_bridge_not_found`), the app's own
 * services and the integration's `reload` (bridge.py `_process_services`, services.py).
 */
import { z } from "zod";

import { type Reply, type WsCommand, type WsConnection } from "../commands.mjs";
import { asRecord } from "../model.mjs";
import { base, type Bridge, ERR, type SynapseContext, text } from "./shared.mjs";

const serviceResponseSchema = z.strictObject({
  ...base,
  type: z.literal("synapse/service_call_response"),
  call_id: z.string(),
  success: z.boolean(),
  result: z.record(z.string(), z.unknown()).optional(),
  error: z.string().optional(),
});

/** The integration's messages to apps. */
export function createAppCommands(ctx: SynapseContext) {
  const { core, log, bridges, bridgeForConnection } = ctx;

  function sendToApp(bridge: Bridge, uniqueId: string, message: Record<string, unknown>): boolean {
    const connection = bridge.connections.get(uniqueId);
    if (!connection) {
      log(`synapse: cannot send message to app '${uniqueId}': not connected`);
      return false;
    }
    // HA's send_message to a closed connection is dropped silently: the bridge cannot tell
    connection.send(message);
    return true;
  }

  /** bridge.py `emit_event`: `{type: "synapse/<event>", event: {...}}` to every connection of the app. */
  function emitEvent(bridge: Bridge, eventType: string, data: Record<string, unknown>) {
    if (bridge.connections.size === 0) {
      log("synapse: no WebSocket connections available to emit event");
      return false;
    }
    for (const uniqueId of bridge.connections.keys()) sendToApp(bridge, uniqueId, { type: `synapse/${eventType}`, event: { ...data } });
    return true;
  }

  const reRegistrationMessage = (data: Record<string, unknown>) => ({
    type: "event",
    event: { event_type: "synapse/request_re_registration", data },
  });

  function requestReRegistration(bridge: Bridge, uniqueId: string) {
    return sendToApp(
      bridge,
      uniqueId,
      reRegistrationMessage({ unique_id: uniqueId, message: "Re-registration requested - please resend registration", action: "resend_registration" }),
    );
  }

  /** websocket.py `_handle_bridge_not_found`: ask the app to register again, and say so in the result. */
  function bridgeNotFound(connection: WsConnection, reply: Reply, operation: string, uniqueId?: string) {
    log(`synapse: no bridge found for ${operation} - connection desync detected, requesting re-registration`);
    connection.send(
      reRegistrationMessage({
        message: "Connection desync detected - please re-register",
        action: "resend_registration",
        ...(uniqueId ? { unique_id: uniqueId } : {}),
      }),
    );
    reply.result({
      success: false,
      error_code: ERR.BRIDGE_NOT_FOUND,
      message: `No bridge found for ${operation} - connection may be stale. Re-registration requested.`,
      requires_reregistration: true,
    });
  }

  /** bridge.py `_process_services`: register each app service as an HA service that forwards calls. */
  function processServices(bridge: Bridge, definitions: unknown[]) {
    const next = new Set<string>();
    for (const definition of definitions) {
      const service = asRecord(definition);
      const name = text(service?.name);
      const uniqueId = text(service?.unique_id);
      if (!service || !name || !uniqueId) {
        log("synapse: invalid service definition: missing name or unique_id");
        continue;
      }
      const domain = text(service.domain) ?? "synapse";
      const old = bridge.serviceRegistry.get(uniqueId);
      if (old) core.removeService(old.domain, old.name);
      core.registerService(domain, name, {
        schema: z.record(z.string(), z.unknown()),
        description: { name, description: text(service.description) ?? "", fields: asRecord(service.fields) ?? {}, ...(asRecord(service.target) ? { target: asRecord(service.target) } : {}) },
        handler: ({ data }) => {
          const connection = bridge.connections.get(bridge.metadataUniqueId);
          if (!connection) return;
          connection.send({ id: `service_call_${Date.now()}`, type: "synapse/service_call", service_name: name, service_data: data, service_unique_id: uniqueId });
        },
      });
      bridge.serviceRegistry.set(uniqueId, { name, domain });
      next.add(uniqueId);
    }
    for (const orphan of bridge.currentServices) {
      if (next.has(orphan)) continue;
      const old = bridge.serviceRegistry.get(orphan);
      if (old) core.removeService(old.domain, old.name);
      bridge.serviceRegistry.delete(orphan);
    }
    bridge.currentServices = next;
  }

  /** The integration's `reload` service: ask the app (or every app) to register again. */
  function registerReloadService() {
    core.registerService("synapse", "reload", {
      schema: z.strictObject({ app: z.string().optional() }),
      description: { name: "Reload", description: "Reload a synapse app (or all of them).", fields: { app: {} } },
      handler: ({ data }) => {
        for (const bridge of bridges.values()) {
          if (data.app !== undefined && bridge.stored.data.app !== data.app) continue;
          const connected = bridge.connections.keys().next();
          if (!connected.done) requestReRegistration(bridge, connected.value);
        }
      },
    });
  }

  /** websocket.py: the app's answer to a service call it was sent. */
  const handlers: Record<string, WsCommand> = {
    "synapse/service_call_response": {
      schema: serviceResponseSchema,
      handle(connection, message, reply) {
        const msg = serviceResponseSchema.parse(message);
        if (!bridgeForConnection(connection)) return bridgeNotFound(connection, reply, "service call response");
        log(`synapse: service call ${msg.call_id} ${msg.success ? "completed" : `failed: ${msg.error ?? ""}`}`);
        reply.result({ success: true, message: "Service call response received" });
      },
    },
  };

  return { sendToApp, emitEvent, requestReRegistration, bridgeNotFound, processServices, registerReloadService, handlers };
}

/** The integration's messages to apps. */
export type AppCommands = ReturnType<typeof createAppCommands>;
