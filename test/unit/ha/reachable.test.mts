/**
 * The start-up question to Home Assistant's API: what each answer becomes, and that no message
 * ever holds the token — not even one fetch refuses to send.
 */
import { createServer, type Server } from "node:http";
import { type AddressInfo } from "node:net";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { probeHomeAssistant, waitForHomeAssistant } from "../../../libs/ha/reachable.mjs";

const TOKEN = "secret-token-abc123";
let server: Server;
let base: string;
const seen: string[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    seen.push(`${request.url ?? ""} ${request.headers.authorization ?? ""}`);
    if (request.url?.startsWith("/moved/")) {
      response.writeHead(301, { location: "https://ha.example:8443/api/" }).end();
      return;
    }
    const ok = request.headers.authorization === `Bearer ${TOKEN}`;
    response.writeHead(ok ? 200 : 401, { "content-type": "application/json" }).end(ok ? '{"message":"API running."}' : "401: Unauthorized");
  });
  await new Promise<void>(resolve => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>(resolve => server.close(() => resolve())));

const problem = (baseUrl: string, token: string) =>
  waitForHomeAssistant({ baseUrl, token, attempts: 1, intervalMs: 0, timeoutMs: 2000, urlSetting: "HASS_URL", tokenSetting: "HASS_TOKEN", warn: () => undefined });
const wait = async (baseUrl: string, token: string) => (await problem(baseUrl, token))?.line;

describe("the start-up question to Home Assistant", () => {
  it("a token it takes: ok; one it refuses: final, with the URL", async () => {
    expect(await probeHomeAssistant(base, TOKEN, 2000)).toEqual({ kind: "ok" });
    const line = await wait(base, "wrong-token");
    expect(line).toContain(`Home Assistant at ${base} refused the token (HTTP 401)`);
    expect(line).not.toContain("wrong-token");
  });

  it("a token with a line break is never sent, and the message does not hold it", async () => {
    const before = seen.length;
    const wrapped = `${TOKEN}\nrest-of-it`;
    expect(await probeHomeAssistant(base, wrapped, 2000)).toEqual({ kind: "token_unsendable" });
    const line = await wait(base, wrapped);
    expect(line).toContain("holds a character that cannot be sent");
    expect(line).not.toContain(TOKEN);
    expect(seen.length).toBe(before);
  });

  it("a redirect is not followed (it would drop the token): the message names where it points", async () => {
    expect(await probeHomeAssistant(`${base}/moved`, TOKEN, 2000)).toEqual({ kind: "redirected", status: 301, location: "https://ha.example:8443/api/" });
    const line = await wait(`${base}/moved`, TOKEN);
    expect(line).toContain("redirects (HTTP 301 to https://ha.example:8443/api)");
    expect(line).not.toContain(TOKEN);
  });

  it("nothing listening: connection refused, in words", async () => {
    const closed = createServer();
    await new Promise<void>(resolve => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>(resolve => closed.close(() => resolve()));
    const found = await problem(`http://127.0.0.1:${port}`, TOKEN);
    expect(found?.line).toContain(`connection refused (nothing listens on 127.0.0.1:${port})`);
    expect(found?.line).not.toContain(TOKEN);
    // worth trying again later, unlike a refused token
    expect(found?.final).toBe(false);
    expect((await problem(base, "wrong-token"))?.final).toBe(true);
  });
});
