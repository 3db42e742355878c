/**
 * Where the drone's configuration comes from, through the real bin: exported `DRONE_*`
 * variables beat an env file, a plain `REPOSITORY` or `MODE` (another program's variable)
 * is not the drone's (and is named at start), a `./.env` in the folder a command runs from is
 * not read (and is named at start when it holds the drone's variables), and
 * `backup-drone config` names the source of every value without printing a secret.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

import { EXIT_CODES } from "../../../apps/drone/cli/spec.mjs";
import { DRONE_CONFIGURATION } from "../../../apps/drone/config.mjs";
import { tempDir } from "../../helpers/fs.mjs";
import { builtBin, startProcess } from "../../helpers/process.mjs";

let bin = "";
beforeAll(async () => {
  bin = await builtBin("backup-drone");
}, 120_000);

const statusSchema = z.object({ drone_id: z.string(), repository: z.string(), settings: z.object({ mode: z.string() }) });

describe("configuration sources", () => {
  let dir: { path: string; remove: () => Promise<void> } | undefined;
  afterEach(async () => {
    await dir?.remove();
    dir = undefined;
  });

  /** A folder with a configuration file that sets the drone id and its state folder (the repository comes from elsewhere). */
  async function setup() {
    dir = await tempDir("config-sources");
    const config = join(dir.path, "backup_drone.json");
    await writeFile(config, JSON.stringify({ drone: { DRONE_ID: "sources", STATE_DIR: join(dir.path, "state") } }));
    return { cwd: dir.path, config };
  }

  const run = (args: string[], cwd: string, env: Record<string, string>) => startProcess(bin, args, { cwd, env }).done;

  it("an exported DRONE_REPOSITORY beats the env file, and ./.env in the current folder is not read", async () => {
    const { cwd, config } = await setup();
    await writeFile(join(cwd, ".env"), "DRONE_REPOSITORY=/srv/from-dotenv\nDRONE_ID=dotenv\n");
    const exported = await run(["status", "--json", "--config", config], cwd, { DRONE_REPOSITORY: "/srv/exported" });
    expect(exported.code, exported.stderr).toBe(EXIT_CODES.success);
    const status = statusSchema.parse(JSON.parse(exported.stdout));
    expect(status.repository).toBe("/srv/exported");
    expect(status.drone_id).toBe("sources");

    const envFile = join(cwd, "drone.env");
    await writeFile(envFile, "DRONE_REPOSITORY=/srv/from-env-file\nDRONE_ID=envfile\n", { mode: 0o600 });
    const both = await run(["status", "--json", "--config", config, "--env-file", envFile], cwd, { DRONE_REPOSITORY: "/srv/exported" });
    expect(both.code, both.stderr).toBe(EXIT_CODES.success);
    const withFile = statusSchema.parse(JSON.parse(both.stdout));
    expect(withFile.repository).toBe("/srv/exported");
    // what only the env file sets still counts, over the configuration file
    expect(withFile.drone_id).toBe("envfile");
  });

  it("a plain REPOSITORY does not beat DRONE_REPOSITORY, nor set the repository alone", async () => {
    const { cwd, config } = await setup();
    const both = await run(["status", "--json", "--config", config], cwd, { REPOSITORY: "/srv/plain", DRONE_REPOSITORY: "/srv/prefixed" });
    expect(both.code, both.stderr).toBe(EXIT_CODES.success);
    expect(statusSchema.parse(JSON.parse(both.stdout)).repository).toBe("/srv/prefixed");
    const plain = await run(["status", "--json", "--config", config], cwd, { REPOSITORY: "/srv/plain" });
    expect(plain.code).toBe(EXIT_CODES.failed);
    expect(plain.stderr).toContain("drone.REPOSITORY: is required");
    // the error says why the variable did not count
    expect(plain.stderr).toContain("REPOSITORY is set in the environment; the drone reads DRONE_REPOSITORY");
  });

  it("an unrelated MODE=dark in the environment leaves the drone alone; DRONE_MODE sets the mode", async () => {
    const { cwd, config } = await setup();
    const repository = { DRONE_REPOSITORY: "/srv/borg" };
    const dark = await run(["status", "--json", "--config", config], cwd, { ...repository, MODE: "dark" });
    expect(dark.code, dark.stderr).toBe(EXIT_CODES.success);
    expect(statusSchema.parse(JSON.parse(dark.stdout)).settings.mode).toBe("coordinated");
    const prefixed = await run(["status", "--json", "--config", config], cwd, { ...repository, MODE: "dark", DRONE_MODE: "standalone" });
    expect(prefixed.code, prefixed.stderr).toBe(EXIT_CODES.success);
    expect(statusSchema.parse(JSON.parse(prefixed.stdout)).settings.mode).toBe("standalone");
  });

  /** How many lines of `text` contain `part`. */
  const linesWith = (text: string, part: string) => text.split("\n").filter(line => line.includes(part)).length;

  it("a plain TOKEN, BASE_URL or MODE and a ./.env with the drone's variables are each named once at start; unrelated names are not", async () => {
    const { cwd, config } = await setup();
    await writeFile(join(cwd, ".env"), "HASS_TOKEN=canary-dotenv-token-5a1f\nDRONE_MODE=standalone\nNODE_ENV=production\n", { mode: 0o600 });
    const env = { DRONE_REPOSITORY: "/srv/exported", TOKEN: "canary-plain-token-77e0", BASE_URL: "http://ha:8123", MODE: "dark" };
    const result = await run(["status", "--json", "--config", config], cwd, env);
    expect(result.code, result.stderr).toBe(EXIT_CODES.success);
    expect(statusSchema.parse(JSON.parse(result.stdout)).settings.mode).toBe("coordinated");
    expect(linesWith(result.stderr, "warning: TOKEN is set in the environment; the drone reads HASS_TOKEN")).toBe(1);
    expect(linesWith(result.stderr, "warning: BASE_URL is set in the environment; the drone reads HASS_BASE_URL")).toBe(1);
    expect(linesWith(result.stderr, "warning: MODE is set in the environment; the drone reads DRONE_MODE")).toBe(1);
    expect(linesWith(result.stderr, "warning: ./.env sets DRONE_MODE, HASS_TOKEN, but the drone does not read ./.env")).toBe(1);
    expect(result.stdout + result.stderr).not.toContain("canary-");

    // read as the env file, ./.env is not ignored: nothing to say about it
    const asEnvFile = await run(["status", "--json", "--config", config, "--env-file", ".env"], cwd, { DRONE_REPOSITORY: "/srv/exported" });
    expect(asEnvFile.code, asEnvFile.stderr).toBe(EXIT_CODES.success);
    expect(statusSchema.parse(JSON.parse(asEnvFile.stdout)).settings.mode).toBe("standalone");
    expect(asEnvFile.stderr).not.toContain("warning:");

    await writeFile(join(cwd, ".env"), "NODE_ENV=production\nDATABASE_URL=postgres://app@db/app\n");
    const unrelated = await run(["status", "--json", "--config", config], cwd, { DRONE_REPOSITORY: "/srv/exported", EDITOR: "vi", DATABASE_URL: "postgres://x" });
    expect(unrelated.code, unrelated.stderr).toBe(EXIT_CODES.success);
    expect(unrelated.stderr).not.toContain("warning:");
  });

  it("the daemon with only a plain TOKEN and a ./.env names both at start, then warns that coordinated mode will run nothing", async () => {
    const { cwd, config } = await setup();
    await writeFile(join(cwd, ".env"), "HASS_TOKEN=canary-dotenv-token-5a1f\n", { mode: 0o600 });
    const env = { DRONE_REPOSITORY: join(cwd, "repo"), DRONE_PASSPHRASE: "canary-passphrase-8d2e", TOKEN: "canary-plain-token-77e0" };
    const daemon = startProcess(bin, ["daemon", "--config", config], { cwd, env });
    try {
      await daemon.waitFor(/MODE is coordinated but no Home Assistant token is configured/, 30_000);
      const { stdout, stderr } = daemon.output();
      const all = stdout + stderr;
      expect(linesWith(stderr, "warning: TOKEN is set in the environment; the drone reads HASS_TOKEN")).toBe(1);
      expect(linesWith(stderr, "warning: ./.env sets HASS_TOKEN, but the drone does not read ./.env")).toBe(1);
      expect(all).toContain("no Home Assistant token configured (HASS_TOKEN, --token or TOKEN in the hass section): running without Home Assistant");
      // a warning, naming the variables the drone reads
      expect(all).toMatch(/\[WARN\].*MODE is coordinated but no Home Assistant token is configured: nothing will run on its own\. Set DRONE_MODE=standalone, or a token in HASS_TOKEN/);
      expect(all).not.toContain("canary-");
    } finally {
      daemon.kill("SIGTERM");
    }
    expect((await daemon.done).code).toBe(0);
  });

  const rowSchema = z.object({
    module: z.string(),
    key: z.string(),
    value: z.unknown(),
    source: z.string(),
    source_kind: z.string(),
    secret: z.boolean(),
    command: z.boolean(),
    configured: z.object({ value: z.unknown(), source: z.string() }).nullable(),
  });
  const configSchema = z.object({
    drone_id: z.string(),
    env_file: z.string().nullable(),
    keys: z.array(rowSchema),
    home_assistant: z.array(rowSchema),
    ignored_variables: z.array(z.object({ variable: z.string(), instead: z.string() })),
    home_assistant_token: z.string().nullable(),
    problems: z.array(z.string()),
  });

  it("config names the source of every key, shows a run-time setting over the configured one, and never prints a secret", async () => {
    const { cwd, config } = await setup();
    const envFile = join(cwd, "drone.env");
    await writeFile(envFile, "DRONE_KEEP_MONTHLY=9\nHASS_TOKEN=canary-env-file-token-31c7\n", { mode: 0o600 });
    // the Keep Daily setting was changed from Home Assistant: the state file holds it
    await mkdir(join(cwd, "state"));
    await writeFile(join(cwd, "state", "sources.json"), JSON.stringify({ version: 1, settings: { keepDaily: 3 } }));
    const env = {
      DRONE_REPOSITORY: "/srv/exported",
      DRONE_PASSPHRASE: "canary-passphrase-8d2e",
      DRONE_HOOK_BEFORE: "mysqldump -pcanary-hook-40aa --all-databases",
      HASS_URL: "http://ha.lan:8123",
      REPOSITORY: "/srv/plain",
      MODE: "dark",
    };
    const args = ["--config", config, "--env-file", envFile, "--KEEP_WEEKLY=2"];

    const json = await run(["config", "--json", ...args], cwd, env);
    expect(json.code, json.stderr).toBe(EXIT_CODES.success);
    expect(json.stdout + json.stderr).not.toContain("canary-");
    const report = configSchema.parse(JSON.parse(json.stdout));
    const key = (name: string) => report.keys.find(entry => entry.key === name);
    expect(report.drone_id).toBe("sources");
    expect(report.keys).toHaveLength(Object.keys(DRONE_CONFIGURATION).length);
    expect(key("DRONE_ID")).toMatchObject({ value: "sources", source: `file ${config} [drone]`, source_kind: "file" });
    expect(key("REPOSITORY")).toMatchObject({ value: "/srv/exported", source: "env DRONE_REPOSITORY", source_kind: "env" });
    expect(key("PASSPHRASE")).toMatchObject({ value: "(set, hidden)", source: "env DRONE_PASSPHRASE", secret: true });
    expect(key("KEEP_MONTHLY")).toMatchObject({ value: 9, source: `env file ${envFile} (DRONE_KEEP_MONTHLY)`, source_kind: "env_file" });
    expect(key("KEEP_WEEKLY")).toMatchObject({ value: 2, source: "switch --KEEP_WEEKLY", source_kind: "switch" });
    expect(key("KEEP_DAILY")).toMatchObject({ value: 3, source_kind: "state", configured: { value: 7, source: "default" } });
    expect(key("MODE")).toMatchObject({ value: "coordinated", source: "default" });
    // REPOSITORY is shadowed by DRONE_REPOSITORY; MODE stands alone and is named
    expect(report.ignored_variables).toEqual([{ variable: "MODE", instead: "DRONE_MODE" }]);
    expect(key("HOOK_BEFORE")).toMatchObject({ value: "mysqldump … (arguments hidden: --show-commands shows them)", source: "env DRONE_HOOK_BEFORE", command: true });
    expect(report.home_assistant_token).toBe("HASS_TOKEN in the env file");
    expect(report.home_assistant.map(({ key, value, source }) => ({ key, value, source }))).toEqual([
      { key: "hass.BASE_URL", value: "http://ha.lan:8123", source: "env HASS_URL" },
      { key: "hass.TOKEN", value: "(set, hidden)", source: `env file ${envFile} (HASS_TOKEN)` },
      { key: "synapse.DATABASE_URL", value: `file:${join(cwd, "state", "sources.synapse.db")}`, source: "default" },
    ]);
    expect(report.problems).toEqual([]);

    const table = await run(["config", ...args], cwd, env);
    expect(table.code, table.stderr).toBe(EXIT_CODES.success);
    expect(table.stdout + table.stderr).not.toContain("canary-");
    const line = (name: string) => table.stdout.split("\n").find(entry => entry.startsWith(`${name} `)) ?? "";
    expect(line("REPOSITORY")).toMatch(/^REPOSITORY +\/srv\/exported +env DRONE_REPOSITORY$/);
    expect(line("PASSPHRASE")).toMatch(/^PASSPHRASE +\(set, hidden\) +env DRONE_PASSPHRASE$/);
    expect(line("KEEP_DAILY")).toMatch(/^KEEP_DAILY +3 +state: changed at run time \(configured 7, default\)$/);
    expect(line("hass.BASE_URL")).toMatch(/^hass\.BASE_URL +http:\/\/ha\.lan:8123 +env HASS_URL$/);
    expect(table.stdout).toContain("ignored: MODE in the environment (the drone reads DRONE_MODE)");

    // asked for, a command line shows whole; the secrets stay hidden
    const whole = await run(["config", "--show-commands", ...args], cwd, env);
    expect(whole.code, whole.stderr).toBe(EXIT_CODES.success);
    expect(whole.stdout).toContain(env.DRONE_HOOK_BEFORE);
    expect(whole.stdout).not.toContain("canary-passphrase");
    expect(whole.stdout).not.toContain("canary-env-file-token");
  });

  it("config answers when the configuration is invalid: the table, then the problems, exit 2", async () => {
    const { cwd, config } = await setup();
    const result = await run(["config", "--config", config], cwd, { REPOSITORY: "/srv/plain", DRONE_KEEP_DAILY: "-1" });
    expect(result.code).toBe(EXIT_CODES.failed);
    expect(result.stdout).toMatch(/^KEEP_DAILY +-1 +env DRONE_KEEP_DAILY$/m);
    expect(result.stdout).toContain("ignored: REPOSITORY in the environment (the drone reads DRONE_REPOSITORY)");
    expect(result.stderr).toContain("drone.REPOSITORY: is required");
    expect(result.stderr).toContain("drone.KEEP_DAILY");
  });
});
