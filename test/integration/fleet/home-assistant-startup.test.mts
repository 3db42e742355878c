/**
 * Both commands at start-up, when Home Assistant refuses the token or is not there: the real
 * bins against a local server that answers 401 and a closed port, on 127.0.0.1.
 */
import { createServer, type Server } from "node:http";
import { type AddressInfo } from "node:net";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { TEST_PASSPHRASE } from "../../helpers/borg.mjs";
import { tempDir } from "../../helpers/fs.mjs";
import { builtBin, startProcess } from "../../helpers/process.mjs";

let drone = "";
let coordinator = "";
let server: Server | undefined;
let refusing = "";
let closed = "";
let requests = 0;
let dir: { path: string; remove: () => Promise<void> } | undefined;

/** A port nothing listens on: one the system handed out and that was closed again. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>(done => probe.listen(0, "127.0.0.1", done));
  const { port } = probe.address() as AddressInfo;
  await new Promise(done => probe.close(done));
  return port;
}

beforeAll(async () => {
  [drone, coordinator] = await Promise.all([builtBin("backup-drone"), builtBin("backup-coordinator")]);
  server = createServer((request, response) => {
    requests++;
    response.writeHead(401, { "content-type": "text/plain" }).end("401: Unauthorized");
  });
  await new Promise<void>(done => server?.listen(0, "127.0.0.1", done));
  refusing = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  closed = `http://127.0.0.1:${await closedPort()}`;
  dir = await tempDir("ha-startup");
}, 120_000);

afterAll(async () => {
  await new Promise(done => server?.close(done));
  await dir?.remove();
});

/** The drone's daemon with a token, at a URL; RETRY_INTERVAL=0 so that retries take no wall time. */
async function daemon(url: string) {
  const path = dir?.path ?? "";
  const config = join(path, "backup_drone.json");
  await writeFile(
    config,
    JSON.stringify({ drone: { DRONE_ID: "hadrone", REPOSITORY: join(path, "repository"), SOURCES: [path], STATE_DIR: join(path, "state"), BORG_BASE_DIR: join(path, "borg") } }),
    { mode: 0o600 },
  );
  return startProcess(drone, ["daemon", "--config", config, "--RETRY_INTERVAL=0"], { cwd: path, env: { DRONE_PASSPHRASE: TEST_PASSPHRASE, HASS_TOKEN: "not-a-valid-token-1", HASS_URL: url } })
    .done;
}

const coordinate = (url: string) =>
  startProcess(coordinator, ["--RETRY_INTERVAL=0"], { cwd: dir?.path ?? "", env: { HASS_TOKEN: "not-a-valid-token-2", HASS_BASE_URL: url, XDG_STATE_HOME: join(dir?.path ?? "", "xdg") } }).done;

/** Lines that are neither empty nor the daemon's own warnings. */
const errorLines = (stderr: string) => stderr.split("\n").filter(line => line.trim().length > 0 && !line.startsWith("warning:"));

describe("start-up against a Home Assistant that is not usable", () => {
  it("a refused token: one line with the URL and the cause, asked once, no retry, exit 2 (trying again would not help); the token never shown", async () => {
    for (const [name, run, code] of [
      ["backup-drone", () => daemon(refusing), 2],
      ["backup-coordinator", () => coordinate(refusing), 2],
    ] as const) {
      const before = requests;
      const result = await run();
      expect(result.code, name).toBe(code);
      expect(errorLines(result.stderr), name).toEqual([expect.stringContaining(`${name}: Home Assistant at ${refusing} refused the token (HTTP 401)`)]);
      expect(result.stderr, name).toContain("long-lived access token");
      expect(result.stderr + result.stdout, name).not.toMatch(/not-a-valid-token| {4}at /);
      expect(requests - before, name).toBe(1);
    }
  });

  it("a closed port: says it asks again, then one line with the URL and connection refused, exit 1 (worth trying again later)", async () => {
    for (const [name, run, code] of [
      ["backup-drone", () => daemon(closed), 1],
      ["backup-coordinator", () => coordinate(closed), 1],
    ] as const) {
      const result = await run();
      expect(result.code, name).toBe(code);
      const warnings = result.stderr.split("\n").filter(line => line.startsWith("warning: Home Assistant"));
      expect(warnings, name).toEqual([expect.stringContaining(`Home Assistant at ${closed}: connection refused`)]);
      expect(errorLines(result.stderr), name).toEqual([expect.stringMatching(new RegExp(`^${name}: Home Assistant at ${closed.replaceAll(".", "\\.")} is not reachable: connection refused .*11 attempts`))]);
      expect(result.stderr, name).not.toContain("    at ");
    }
  });
});
