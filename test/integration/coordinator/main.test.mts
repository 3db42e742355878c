/**
 * The `backup-coordinator` command (the package's bin, the bundle in dist/bin, rebuilt when
 * stale): its help, and its exit codes when it cannot start.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { COORDINATOR_CONFIGURATION } from "../../../apps/backup_coordinator/config.mjs";
import { builtBin } from "../../helpers/process.mjs";

const MAIN = await builtBin("backup-coordinator");
const state = mkdtempSync(join(tmpdir(), "coordinator-main-"));
afterAll(() => rmSync(state, { recursive: true, force: true }));

function run(args: string[], env: Record<string, string> = {}) {
  const child = spawnSync(process.execPath, [MAIN, ...args], {
    cwd: state,
    encoding: "utf8",
    timeout: 60_000,
    // nothing of the person running the tests leaks in: no token, no config file
    env: { PATH: process.env.PATH ?? "", HOME: state, XDG_STATE_HOME: state, ...env },
  });
  return { code: child.status, out: child.stdout, err: child.stderr };
}

describe("backup-coordinator", () => {
  it("--help lists every setting", () => {
    const { code, out } = run(["--help"]);
    expect(code).toBe(0);
    for (const key of Object.keys(COORDINATOR_CONFIGURATION)) expect(out).toContain(key);
  });

  it("an invalid configuration exits 2, listing every problem with its key", () => {
    const { code, out, err } = run([], {
      HASS_TOKEN: "x",
      HASS_BASE_URL: "http://127.0.0.1:1",
      BACKUP_COORDINATOR_TICK_SECONDS: "0",
      BACKUP_COORDINATOR_BACKUP_WINDOW: "late",
    });
    expect(code).toBe(2);
    const text = out + err;
    expect(text).toContain("backup_coordinator.TICK_SECONDS:");
    expect(text).toContain("backup_coordinator.BACKUP_WINDOW:");
  });

  it("a Home Assistant it cannot reach fails the boot with exit code 1 (DA alone would exit 0), in one line with the URL and the cause", () => {
    // RETRY_INTERVAL=0: the retries take no wall time
    const { code, err } = run(["--RETRY_INTERVAL=0"], { HASS_TOKEN: "x", HASS_BASE_URL: "http://127.0.0.1:1" });
    expect(code).toBe(1);
    // port 1 is one fetch refuses to use ("bad port"): any cause is named, with the URL
    expect(err).toMatch(/^backup-coordinator: Home Assistant at http:\/\/127\.0\.0\.1:1 is not reachable: the request failed \(bad port\), 11 attempts/m);
    expect(err).toContain("Check that Home Assistant runs and that hass.BASE_URL (HASS_BASE_URL) is its address");
    expect(err).not.toContain("bootstrap failed");
  });
});
