/**
 * What the `config` commands show: secrets hidden, command lines shortened unless asked for,
 * a run-time setting over the configured value, and Home Assistant's keys with their sources.
 */
import { LIB_HASS } from "@digital-alchemy/hass";
import { LIB_SYNAPSE } from "@digital-alchemy/synapse";
import { describe, expect, it } from "vitest";
import { z } from "zod";

import { configRows } from "../../../apps/drone/cli/config-command.mjs";
import { DRONE_CONFIGURATION, droneKeys } from "../../../apps/drone/config.mjs";
import { commandSummary, configTable, HIDDEN, HOME_ASSISTANT_KEYS, homeAssistantRows, NOT_SET, urlWithoutPassword } from "../../../libs/config/config-view.mjs";
import { resolveSources } from "../../../libs/config/sources.mjs";

const modules = new Map([["drone", DRONE_CONFIGURATION], ...HOME_ASSISTANT_KEYS]);
const resolve = (inputs: Partial<Parameters<typeof resolveSources>[0]>) => resolveSources({ modules, files: [], env: {}, switches: [], ...inputs });

describe("backup-drone config's rows", () => {
  it("hides set secrets, shows a run-time setting over the configured value, and keeps every key", () => {
    const resolution = resolve({ env: { DRONE_PASSPHRASE: "hunter2", DRONE_OFFSITE_PASSPHRASE: "" }, switches: [{ name: "KEEP_DAILY", value: "9" }] });
    const rows = configRows(resolution.values.get("drone") ?? new Map(), { keepDaily: 3, mode: "paused" });
    expect(rows.map(row => row.key)).toEqual(Object.keys(DRONE_CONFIGURATION));
    const row = (key: string) => rows.find(candidate => candidate.key === key);
    expect(row("PASSPHRASE")).toMatchObject({ value: HIDDEN, secret: true, source: { kind: "env", variable: "DRONE_PASSPHRASE" } });
    expect(row("OFFSITE_PASSPHRASE")).toMatchObject({ value: "", secret: true, source: { kind: "default" } });
    expect(row("KEEP_DAILY")).toMatchObject({ value: 3, source: { kind: "state" }, configured: { value: 9, source: { kind: "switch", name: "KEEP_DAILY" } } });
    expect(row("MODE")).toMatchObject({ value: "paused", source: { kind: "state" }, configured: { value: "coordinated", source: { kind: "default" } } });
    const table = configTable(rows).join("\n");
    expect(table).not.toContain("hunter2");
    expect(table).toMatch(/^KEEP_DAILY +3 +state: changed at run time \(configured 9, switch --KEEP_DAILY\)$/m);
  });

  it("shows a command line's program only, unless --show-commands; a secret stays hidden either way", () => {
    expect(droneKeys.commandKeys().sort()).toEqual(["BORG_RSH", "HOOK_AFTER", "HOOK_BEFORE", "HOOK_ON_ERROR", "OFFSITE_PASSCOMMAND", "PASSCOMMAND"]);
    const env = {
      DRONE_HOOK_BEFORE: "mysqldump -pcanary-db-5e1 --all-databases > /var/backups/all.sql",
      DRONE_BORG_RSH: "sshpass -p canary-ssh-77 ssh",
      DRONE_PASSCOMMAND: "PGPASSWORD=canary-pg-9 pass show borg",
      DRONE_HOOK_AFTER: "/usr/local/bin/after-backup",
      DRONE_PASSPHRASE: "canary-passphrase",
    };
    const resolved = resolve({ env }).values.get("drone") ?? new Map();
    const shortened = configTable(configRows(resolved, {})).join("\n");
    expect(shortened).not.toContain("canary-");
    expect(shortened).toMatch(/^HOOK_BEFORE +mysqldump … \(arguments hidden: --show-commands shows them\) +env DRONE_HOOK_BEFORE$/m);
    expect(shortened).toMatch(/^BORG_RSH +sshpass … \(arguments hidden/m);
    // an assignment first says nothing of itself
    expect(shortened).toMatch(/^PASSCOMMAND +\(set, hidden: --show-commands shows it\) +env DRONE_PASSCOMMAND$/m);
    // a program alone has nothing to hide
    expect(shortened).toMatch(/^HOOK_AFTER +\/usr\/local\/bin\/after-backup +env DRONE_HOOK_AFTER$/m);
    const whole = configTable(configRows(resolved, {}, true)).join("\n");
    expect(whole).toContain(env.DRONE_HOOK_BEFORE);
    expect(whole).toContain(env.DRONE_BORG_RSH);
    expect(whole).not.toContain("canary-passphrase");
    expect(commandSummary("")).toBe("");
    expect(commandSummary("  'quoted prog' -p x")).toBe("(set, hidden: --show-commands shows it)");
  });
});

describe("Home Assistant's rows", () => {
  it("names the URL's source (HASS_URL), says whether a token is set without its value, and puts the database where the app does", () => {
    const rows = homeAssistantRows(resolve({ env: { HASS_URL: "http://ha.lan:8123", HASS_TOKEN: "canary-token-1" } }), { databaseUrl: "file:/state/nas.synapse.db", env: {} });
    expect(rows).toEqual([
      { module: "hass", key: "hass.BASE_URL", value: "http://ha.lan:8123", source: { kind: "env", variable: "HASS_URL" }, secret: false, command: false },
      { module: "hass", key: "hass.TOKEN", value: HIDDEN, source: { kind: "env", variable: "HASS_TOKEN" }, secret: true, command: false },
      { module: "synapse", key: "synapse.DATABASE_URL", value: "file:/state/nas.synapse.db", source: { kind: "default" }, secret: false, command: false },
    ]);
    const none = homeAssistantRows(resolve({}), { databaseUrl: "file:/x.db", env: {} });
    expect(none[0]).toMatchObject({ value: "http://homeassistant.local:8123", source: { kind: "default" } });
    expect(none[1]).toMatchObject({ value: NOT_SET, source: { kind: "default" } });
    // an add-on's token is read by hass itself
    expect(homeAssistantRows(resolve({}), { databaseUrl: "file:/x.db", env: { SUPERVISOR_TOKEN: "canary" } })[1]).toMatchObject({
      value: HIDDEN,
      source: { kind: "env", variable: "SUPERVISOR_TOKEN" },
    });
  });

  it("hides a password in synapse's database URL", () => {
    const rows = homeAssistantRows(resolve({ env: { SYNAPSE_DATABASE_URL: "postgresql://synapse:canary-pw@db:5432/synapse" } }), { databaseUrl: "file:/x.db", env: {} });
    expect(rows[2]).toMatchObject({ value: "postgresql://synapse:hidden@db:5432/synapse", source: { kind: "env", variable: "SYNAPSE_DATABASE_URL" } });
    expect(urlWithoutPassword("file:/var/lib/x.db")).toBe("file:/var/lib/x.db");
    expect(urlWithoutPassword("not a url")).toBe("not a url");
  });

  it("types the keys as hass and synapse declare them", () => {
    const declared = z.record(z.string(), z.object({ type: z.string(), default: z.unknown().optional() }));
    const hass = declared.parse(LIB_HASS.configuration);
    const synapse = declared.parse(LIB_SYNAPSE.configuration);
    const ours = HOME_ASSISTANT_KEYS.get("hass") ?? {};
    expect(ours.BASE_URL).toEqual({ type: hass.BASE_URL?.type, default: hass.BASE_URL?.default });
    expect(ours.TOKEN?.type).toBe(hass.TOKEN?.type);
    expect(HOME_ASSISTANT_KEYS.get("synapse")?.DATABASE_URL?.type).toBe(synapse.DATABASE_URL?.type);
  });
});
