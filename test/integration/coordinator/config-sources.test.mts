/**
 * Where the coordinator's configuration comes from, through the real command (the package's
 * bin, the bundle in dist/bin), as for the drone: only prefixed variables (`BACKUP_COORDINATOR_<KEY>`,
 * `HASS_<KEY>`/`HASS_URL`, `SYNAPSE_<KEY>`), `--env-file` but never `./.env`, exported
 * variables over the env file, switches over both; what it ignores is named at start, and
 * `backup-coordinator config` names the source of every value without printing the token.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";

import { builtBin } from "../../helpers/process.mjs";

const MAIN = await builtBin("backup-coordinator");
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh working folder, also HOME: no configuration file of the person running the tests. */
function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), "coordinator-sources-"));
  dirs.push(dir);
  return dir;
}

function run(cwd: string, args: string[], env: Record<string, string> = {}) {
  const child = spawnSync(process.execPath, [MAIN, ...args], {
    cwd,
    encoding: "utf8",
    timeout: 60_000,
    env: { PATH: process.env.PATH ?? "", HOME: cwd, XDG_STATE_HOME: cwd, ...env },
  });
  return { code: child.status, out: child.stdout, err: child.stderr };
}

/** Home Assistant nowhere (fetch refuses port 1) and no wait between attempts: a boot that gets past the configuration ends with 1. */
const UNREACHABLE = { HASS_TOKEN: "x", HASS_URL: "http://127.0.0.1:1" };

const rowSchema = z.object({ module: z.string(), key: z.string(), value: z.unknown(), source: z.string(), source_kind: z.string(), secret: z.boolean() });
const reportSchema = z.object({
  coordinator_id: z.string(),
  env_file: z.string().nullable(),
  keys: z.array(rowSchema),
  home_assistant: z.array(rowSchema),
  ignored_variables: z.array(z.object({ variable: z.string(), instead: z.string() })),
  problems: z.array(z.string()),
});

describe("the coordinator's configuration sources", () => {
  it("ignores an unprefixed TICK_SECONDS and a ./.env, and names both at start", () => {
    const cwd = folder();
    writeFileSync(join(cwd, ".env"), "BACKUP_COORDINATOR_TICK_SECONDS=0\n");
    // either would be an invalid configuration (exit 2) if it were read: the boot goes on to Home Assistant
    const { code, err } = run(cwd, ["--RETRY_INTERVAL=0"], { ...UNREACHABLE, TICK_SECONDS: "0" });
    expect(code, err).toBe(1);
    expect(err).toContain("warning: TICK_SECONDS is set in the environment; the coordinator reads BACKUP_COORDINATOR_TICK_SECONDS (variables without the BACKUP_COORDINATOR_ prefix are ignored).");
    expect(err).toContain("warning: ./.env sets BACKUP_COORDINATOR_TICK_SECONDS, but the coordinator does not read ./.env: export them, or pass --env-file ./.env.");
    expect(err).not.toContain("invalid configuration");
  });

  it("reads --env-file, and a value it cannot read stops it naming the variable (exit 2)", () => {
    const cwd = folder();
    writeFileSync(join(cwd, "coordinator.env"), "BACKUP_COORDINATOR_TICK_SECONDS=often\n", { mode: 0o600 });
    const { code, err } = run(cwd, ["--env-file", "coordinator.env", "--RETRY_INTERVAL=0"], UNREACHABLE);
    expect(code).toBe(2);
    expect(err).toContain("backup-coordinator: invalid configuration:\n  - BACKUP_COORDINATOR_TICK_SECONDS: must be a number");
  });

  it("refuses a switch that names no key, with the key it most likely meant", () => {
    const { code, err } = run(folder(), ["--TICK_SECOND=5"], UNREACHABLE);
    expect(code).toBe(2);
    expect(err).toContain("backup-coordinator: unknown option --TICK_SECOND: not an option of the command, nor a configuration key; did you mean --TICK_SECONDS? (see --help)");
  });

  it("config names every value's source in order file < env file < env < switch, and never prints the token", () => {
    const cwd = folder();
    const config = join(cwd, "coordinator.json");
    writeFileSync(config, JSON.stringify({ backup_coordinator: { GLOBAL_LIMIT: 5, STALL_MINUTES: 20, RETRY_ATTEMPTS: 6, TICK_SECONDS: 40 }, hass: { BASE_URL: "http://from-file:8123" } }));
    const envFile = join(cwd, "coordinator.env");
    writeFileSync(envFile, "BACKUP_COORDINATOR_GLOBAL_LIMIT=6\nBACKUP_COORDINATOR_STALL_MINUTES=30\nHASS_TOKEN=canary-token-from-file-5b1\n", { mode: 0o600 });
    const env = { BACKUP_COORDINATOR_GLOBAL_LIMIT: "7", HASS_URL: "http://ha.lan:8123", NOTIFY: "true" };
    const args = ["config", "--json", "--config", config, "--env-file", envFile, "--RETRY_ATTEMPTS=8"];
    const { code, out, err } = run(cwd, args, env);
    expect(code, err).toBe(0);
    expect(out + err).not.toContain("canary-");
    const report = reportSchema.parse(JSON.parse(out));
    const key = (name: string) => [...report.keys, ...report.home_assistant].find(row => row.key === name);
    expect(key("GLOBAL_LIMIT")).toMatchObject({ value: 7, source: "env BACKUP_COORDINATOR_GLOBAL_LIMIT" });
    expect(key("STALL_MINUTES")).toMatchObject({ value: 30, source: `env file ${envFile} (BACKUP_COORDINATOR_STALL_MINUTES)` });
    expect(key("RETRY_ATTEMPTS")).toMatchObject({ value: 8, source: "switch --RETRY_ATTEMPTS" });
    expect(key("TICK_SECONDS")).toMatchObject({ value: 40, source: `file ${config} [backup_coordinator]` });
    expect(key("NOTIFY")).toMatchObject({ value: false, source: "default" });
    expect(key("hass.BASE_URL")).toMatchObject({ value: "http://ha.lan:8123", source: "env HASS_URL" });
    expect(key("hass.TOKEN")).toMatchObject({ value: "(set, hidden)", source: `env file ${envFile} (HASS_TOKEN)`, secret: true });
    expect(key("synapse.DATABASE_URL")).toMatchObject({ value: `file:${join(cwd, "backup-coordinator", "synapse.db")}`, source: "default" });
    expect(report.ignored_variables).toEqual([{ variable: "NOTIFY", instead: "BACKUP_COORDINATOR_NOTIFY" }]);
    expect(report.problems).toEqual([]);

    const table = run(cwd, args.filter(arg => arg !== "--json"), env);
    expect(table.code, table.err).toBe(0);
    expect(table.out).toMatch(/^GLOBAL_LIMIT +7 +env BACKUP_COORDINATOR_GLOBAL_LIMIT$/m);
    expect(table.out).toMatch(/^hass\.TOKEN +\(set, hidden\) +env file .*\(HASS_TOKEN\)$/m);
    expect(table.out).toContain("ignored: NOTIFY in the environment (the coordinator reads BACKUP_COORDINATOR_NOTIFY)");
    expect(table.out + table.err).not.toContain("canary-");
  });

  it("config answers when the configuration is invalid: the problems after the table, exit 2", () => {
    const { code, out, err } = run(folder(), ["config"], { BACKUP_COORDINATOR_BACKUP_WINDOW: "late" });
    expect(code).toBe(2);
    expect(out).toMatch(/^BACKUP_WINDOW +late +env BACKUP_COORDINATOR_BACKUP_WINDOW$/m);
    expect(err).toContain("backup_coordinator.BACKUP_WINDOW: must be empty or HH:MM-HH:MM");
  });
});
