/**
 * Where the drone's configuration comes from, through the real bin: exported `DRONE_*`
 * variables beat an env file, a plain `REPOSITORY` or `MODE` (another program's variable)
 * is not the drone's, a `./.env` in the folder a command runs from is not read, and
 * `backup-drone config` names the source of every value without printing a secret.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

import { EXIT_CODES } from "../../../apps/drone/cli/spec.mjs";
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
});
