/**
 * HA's REST API (homeassistant/components/api/__init__.py), the endpoints the DA client
 * calls: `/api/`, `/api/config`, `/api/states[/<id>]`, `/api/services[/<domain>/<service>]`,
 * `/api/events[/<type>]`. Every request needs `Authorization: Bearer <token>` (401 without).
 */
import { type IncomingMessage, type ServerResponse } from "node:http";

import { z } from "zod";

import { type HassCore, ServiceCallError } from "./core.mjs";
import { asRecord, type EmulatedUser, type HassState, newContext } from "./model.mjs";
import { sameToken } from "./websocket.mjs";
import { errorText } from "../../libs/config/errors.mjs";

const MAX_BODY_BYTES = 16 * 1024 * 1024;

const stateBodySchema = z.object({
  state: z.union([z.string(), z.number(), z.boolean()]).transform(String),
  attributes: z.record(z.string(), z.unknown()).optional(),
  force_update: z.boolean().optional(),
});
const bodySchema = z.record(z.string(), z.unknown());

/** An error answered with HA's plain-text body (`404: Not Found`). */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly text: string,
  ) {
    super(text);
  }
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, "413: Request Entity Too Large"));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

/** The body as a JSON object (HA answers a body that is not one with 400 "Data should be valid JSON."). */
async function jsonBody(request: IncomingMessage): Promise<Record<string, unknown>> {
  const text = await readBody(request);
  if (text.trim().length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, JSON.stringify({ message: "Data should be valid JSON." }));
  }
  const result = bodySchema.safeParse(parsed);
  if (!result.success) throw new HttpError(400, JSON.stringify({ message: "Data should be a JSON object." }));
  return result.data;
}

/** The REST API over a core; returns the request handler. */
export function createRestApi(options: { core: HassCore; users: readonly EmulatedUser[]; log: (line: string) => void }) {
  const { core } = options;

  const json = (response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    response.writeHead(status, { "Content-Type": "application/json", ...headers });
    response.end(JSON.stringify(body));
  };

  const userOf = (request: IncomingMessage) => {
    const header = request.headers.authorization ?? "";
    const token = /^Bearer (.+)$/.exec(header)?.[1];
    return token === undefined ? undefined : options.users.find(user => sameToken(token, user.token));
  };
  // api/__init__.py: posting an event (`@require_admin`) and writing or removing a state
  // (`if not user.is_admin: raise Unauthorized`) need an administrator; HA answers 401
  const requireAdmin = (user: EmulatedUser) => {
    if (!user.isAdmin) throw new HttpError(401, "401: Unauthorized");
  };

  async function route(request: IncomingMessage, response: ServerResponse) {
    const url = new URL(request.url ?? "/", "http://localhost");
    const path = url.pathname;
    const method = (request.method ?? "GET").toUpperCase();
    if (!path.startsWith("/api/")) throw new HttpError(404, "404: Not Found");
    const user = userOf(request);
    if (!user) throw new HttpError(401, "401: Unauthorized");

    if (path === "/api/" && method === "GET") return json(response, 200, { message: "API running." });
    if (path === "/api/config" && method === "GET") return json(response, 200, core.config());
    if (path === "/api/states" && method === "GET") return json(response, 200, core.states());
    if (path === "/api/services" && method === "GET") {
      return json(
        response,
        200,
        Object.entries(core.serviceDescriptions()).map(([domain, services]) => ({ domain, services })),
      );
    }
    if (path === "/api/events" && method === "GET") {
      const counts = new Map<string, number>();
      for (const event of core.events()) counts.set(event.event_type, (counts.get(event.event_type) ?? 0) + 1);
      return json(response, 200, [...counts.keys()].map(event => ({ event, listener_count: 1 })));
    }

    const state = /^\/api\/states\/([^/]+)$/.exec(path);
    if (state?.[1] !== undefined) {
      const entityId = decodeURIComponent(state[1]);
      if (method === "GET") {
        const found = core.state(entityId);
        return found ? json(response, 200, found) : json(response, 404, { message: "Entity not found." });
      }
      if (method === "POST") {
        requireAdmin(user);
        if (!/^[a-z0-9_]+\.[a-z0-9_]+$/.test(entityId)) return json(response, 400, { message: "Invalid entity ID specified." });
        const body = stateBodySchema.safeParse(await jsonBody(request));
        if (!body.success) return json(response, 400, { message: "No state specified." });
        const existed = core.state(entityId) !== undefined;
        const written: HassState = core.setState(entityId, body.data.state, body.data.attributes ?? {}, newContext(user.id), body.data.force_update);
        return json(response, existed ? 200 : 201, written, { Location: `/api/states/${entityId}` });
      }
      if (method === "DELETE") {
        requireAdmin(user);
        if (!core.state(entityId)) return json(response, 404, { message: "Entity not found." });
        core.removeState(entityId, newContext(user.id));
        return json(response, 200, { message: "Entity removed." });
      }
    }

    const service = /^\/api\/services\/([^/]+)\/([^/]+)$/.exec(path);
    if (service?.[1] !== undefined && service[2] !== undefined && method === "POST") {
      const data = await jsonBody(request);
      const context = newContext(user.id);
      const before = new Map(core.states().map(item => [item.entity_id, item.last_updated]));
      try {
        core.callService(decodeURIComponent(service[1]), decodeURIComponent(service[2]), data, context);
      } catch (error) {
        if (!(error instanceof ServiceCallError)) throw error;
        if (error.code === "service_validation_error") return json(response, 400, { message: error.message });
        throw new HttpError(400, "400: Bad Request");
      }
      // the states changed during the call
      return json(
        response,
        200,
        core.states().filter(item => before.get(item.entity_id) !== item.last_updated),
      );
    }

    const event = /^\/api\/events\/([^/]+)$/.exec(path);
    if (event?.[1] !== undefined && method === "POST") {
      requireAdmin(user);
      const eventType = decodeURIComponent(event[1]);
      const data = asRecord(await jsonBody(request)) ?? {};
      core.fire(eventType, data, "REMOTE", newContext(user.id));
      return json(response, 200, { message: `Event ${eventType} fired.` });
    }

    if (method !== "GET" && method !== "POST" && method !== "DELETE") throw new HttpError(405, "405: Method Not Allowed");
    throw new HttpError(404, "404: Not Found");
  }

  return (request: IncomingMessage, response: ServerResponse) => {
    route(request, response).catch((error: unknown) => {
      const status = error instanceof HttpError ? error.status : 500;
      const text = error instanceof HttpError ? error.text : "500 Internal Server Error\n\nServer got itself in trouble";
      if (!(error instanceof HttpError)) options.log(`rest: ${errorText(error)}`);
      if (response.headersSent) return void response.end();
      response.writeHead(status, { "Content-Type": text.startsWith("{") ? "application/json" : "text/plain; charset=utf-8" });
      response.end(text);
    });
  };
}
