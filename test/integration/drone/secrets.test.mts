/**
 * Secrets kept out of child processes, and files that give them away: the real
 * `backup-drone` bin, with the passphrase and the Home Assistant token in its environment and
 * in an env file (`--env-file`) as people give them; the kernel's view (/proc/PID/environ) of the borg and the
 * hook it starts must hold none of them.
 */
import { chmod, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterEach, beforeAll, describe, expect, it } from "vitest";

import { holdRepositoryLock, makeTestRepository, TEST_PASSPHRASE, type TestRepository } from "../../helpers/borg.mjs";
import { writeRandomFiles } from "../../helpers/fs.mjs";
import { builtBin, startProcess } from "../../helpers/process.mjs";

let bin = "";
beforeAll(async () => {
  bin = await builtBin("backup-drone");
}, 120_000);

/** Secrets of the drone's environment; none may reach a child unless asked for. */
const CANARIES = {
  HASS_TOKEN: "canary-hass-token-5e1f",
  SUPERVISOR_TOKEN: "canary-supervisor-token-77a0",
  DATABASE_URL: "postgresql://synapse:canary-db-password-0b9c@db/synapse",
  BORG_PASSPHRASE: "canary-borg-passphrase-2d4e",
  MY_API_KEY: "canary-api-key-c3d8",
};
/** In the env file (`--env-file`): read by the drone into its environment. */
const ENV_FILE_CANARIES = { TOKEN: "canary-env-file-token-9f2a", PGPASSWORD: "canary-pg-password-61b7" };

/** The environment of every process whose parent is `parent`. */
async function childrenOf(parent: number): Promise<{ pid: number; argv: string; environ: string }[]> {
  const found = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) !== parent) continue;
    const argv = (await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "")).split("\0").join(" ");
    const environ = await readFile(`/proc/${entry}/environ`, "utf8").catch(() => "");
    found.push({ pid: Number(entry), argv, environ });
  }
  return found;
}

describe("secrets in child environments", () => {
  let repo: TestRepository | undefined;
  afterEach(async () => {
    await repo?.remove();
    repo = undefined;
  });

  it("borg and the hooks of a backup get none of the drone's secrets; a hook gets what HOOK_ENV_PASSTHROUGH names", async () => {
    repo = await makeTestRepository();
    await writeRandomFiles(join(repo.root, "source"), 2, 4096);
    const hookEnv = join(repo.root, "hook.environ");
    const config = join(repo.root, "backup_drone.json");
    await writeFile(
      config,
      JSON.stringify({
        drone: {
          DRONE_ID: "secretdrone",
          REPOSITORY: repo.repository.location,
          SOURCES: [join(repo.root, "source")],
          STATE_DIR: join(repo.root, "state"),
          BORG_BASE_DIR: repo.repository.baseDir,
          LOCK_WAIT_SECONDS: 60,
          // the hook's own environment, as the kernel holds it
          HOOK_BEFORE: `cat /proc/$$/environ > ${hookEnv}`,
          HOOK_ENV_PASSTHROUGH: ["PGPASSWORD"],
        },
      }),
      { mode: 0o600 },
    );
    const envFile = join(repo.root, "drone.env");
    await writeFile(envFile, Object.entries(ENV_FILE_CANARIES).map(([key, value]) => `${key}=${value}\n`).join(""), { mode: 0o600 });

    // another borg holds the repository lock: the drone's create waits while its environment is read
    const lock = await holdRepositoryLock(repo);

    const drone = startProcess(bin, ["backup", "--config", config, "--env-file", envFile], {
      cwd: repo.root,
      env: { DRONE_PASSPHRASE: TEST_PASSPHRASE, ...CANARIES },
    });
    let borg: { pid: number; argv: string; environ: string } | undefined;
    for (let tries = 0; tries < 600 && !borg && drone.alive(); tries++) {
      // the first borg of the backup waits for the lock: `info` (the prune guard's baseline), then `create`
      borg = (await childrenOf(drone.pid)).find(child => / (info|create) /.test(child.argv));
      if (!borg) await new Promise(resolve => setTimeout(resolve, 50));
    }
    await lock.release();
    const finished = await drone.done;
    expect(finished.code, finished.stderr).toBe(0);

    const hook = await readFile(hookEnv, "utf8");
    expect(hook).toContain("\0BACKUP_STAGE=before\0");
    expect(hook).toContain(`PGPASSWORD=${ENV_FILE_CANARIES.PGPASSWORD}`);
    expect(borg?.environ).toContain("BORG_PASSPHRASE_FD=3\0");
    for (const [name, environ] of [
      ["hook", hook],
      ["borg", borg?.environ ?? ""],
    ] as const) {
      expect(environ, name).not.toContain(TEST_PASSPHRASE);
      for (const canary of Object.values(CANARIES)) expect(environ, name).not.toContain(canary);
      expect(environ, name).not.toContain(ENV_FILE_CANARIES.TOKEN);
    }
    expect(borg?.environ).not.toContain(ENV_FILE_CANARIES.PGPASSWORD);
  });

  it("a passphrase file, a configuration file with a token and an env file with a token that others can read are named, with the chmod", async () => {
    repo = await makeTestRepository();
    const passphraseFile = join(repo.root, "passphrase");
    const config = join(repo.root, "backup_drone.json");
    const envFile = join(repo.root, "drone.env");
    await writeFile(passphraseFile, `${TEST_PASSPHRASE}\n`);
    await writeFile(
      config,
      JSON.stringify({
        drone: { DRONE_ID: "modes", REPOSITORY: repo.repository.location, PASSPHRASE_FILE: passphraseFile, STATE_DIR: join(repo.root, "state") },
        hass: { TOKEN: "canary-config-token-4c1d" },
      }),
    );
    await writeFile(envFile, "HASS_TOKEN=canary-dotenv-token\n");
    await chmod(passphraseFile, 0o640);
    await chmod(config, 0o644);
    await chmod(envFile, 0o604);

    const loose = await startProcess(bin, ["status", "--config", config, "--env-file", envFile], { cwd: repo.root }).done;
    expect(loose.code, loose.stderr).toBe(0);
    const output = loose.stdout + loose.stderr;
    expect(output).toContain(
      `${passphraseFile} holds the repository passphrase and its group can read it (mode 0640); fix it with: chmod 600 ${passphraseFile}`,
    );
    expect(output).toContain(
      `${config} holds the Home Assistant token and every user of this machine can read it (mode 0644); fix it with: chmod 600 ${config}`,
    );
    expect(output).toContain(
      `${envFile} holds secrets (HASS_TOKEN) and every user of this machine can read it (mode 0604); fix it with: chmod 600 ${envFile}`,
    );
    expect(output).not.toContain("canary-");

    for (const file of [passphraseFile, config, envFile]) await chmod(file, 0o600);
    const tight = await startProcess(bin, ["status", "--config", config, "--env-file", envFile], { cwd: repo.root }).done;
    expect(tight.code, tight.stderr).toBe(0);
    expect(tight.stdout + tight.stderr).not.toContain("chmod");
  });
});
