/**
 * A typo in a configuration file (`SOURCE=` for `SOURCES=`, `KEEP_DAILEY=`), through the real
 * bin on a real repository: every command that changes the repository (or runs backups)
 * stops with the configuration exit code and a "did you mean", and the repository is left
 * as it was; read-only commands still answer, with a warning.
 */
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterEach, beforeAll, describe, expect, it } from "vitest";

import { EXIT_CODES } from "../../../apps/drone/cli/spec.mjs";
import { makeTestRepository, TEST_PASSPHRASE, type TestRepository } from "../../helpers/borg.mjs";
import { writeRandomFiles } from "../../helpers/fs.mjs";
import { builtBin, startProcess } from "../../helpers/process.mjs";

let bin = "";
beforeAll(async () => {
  bin = await builtBin("backup-drone");
}, 120_000);

/** Run the bin; a command that would not stop on its own (the daemon) is stopped after `deadlineMs`. */
async function run(args: string[], cwd: string, deadlineMs = 60_000) {
  const child = startProcess(bin, args, { cwd, env: { DRONE_PASSPHRASE: TEST_PASSPHRASE } });
  const deadline = setTimeout(() => child.kill("SIGKILL"), deadlineMs);
  try {
    return await child.done;
  } finally {
    clearTimeout(deadline);
  }
}

/** The archives of the repository, straight from borg. */
const archives = async (repo: TestRepository) => (await repo.client.list()).value.archives.map(archive => archive.name);

describe("an unknown key in a configuration file", () => {
  let repo: TestRepository | undefined;
  afterEach(async () => {
    await repo?.remove();
    repo = undefined;
  });

  /** A repository with one archive of this drone, and the lines of an ini file that configure it. */
  async function setup() {
    repo = await makeTestRepository();
    const source = join(repo.root, "source");
    await writeRandomFiles(source, 3, 16 * 1024);
    const lines = [
      "[drone]",
      "DRONE_ID=keys",
      `REPOSITORY=${repo.repository.location}`,
      `STATE_DIR=${join(repo.root, "state")}`,
      `BORG_BASE_DIR=${repo.repository.baseDir ?? ""}`,
      "LOCK_WAIT_SECONDS=2",
    ];
    const good = join(repo.root, "good.ini");
    await writeFile(good, [...lines, `SOURCES[]=${source}`].join("\n"));
    const first = await run(["create", "--config", good], repo.root);
    expect(first.code, first.stderr).toBe(EXIT_CODES.success);
    return { repo, source, lines };
  }

  it("SOURCE= stops create, backup, prune, restore, init and the daemon with exit 2, names file, section, key and SOURCES; nothing changes", async () => {
    const { repo, source, lines } = await setup();
    const before = await archives(repo);
    expect(before).toHaveLength(1);
    const typo = join(repo.root, "typo.ini");
    await writeFile(typo, [...lines, `SOURCE=${source}`].join("\n"));

    const target = join(repo.root, "restored");
    for (const args of [["create"], ["backup"], ["prune"], ["restore", "latest", "--target", target], ["daemon"]]) {
      const result = await run([...args, "--config", typo], repo.root, 30_000);
      const command = args[0] ?? "";
      expect(result.code, `${command}: ${result.stderr}`).toBe(EXIT_CODES.failed);
      expect(result.stderr, command).toContain(`${typo}: [drone] SOURCE is not a configuration key; did you mean SOURCES?`);
    }
    expect(await archives(repo)).toEqual(before);
    expect(existsSync(target)).toBe(false);

    const fresh = join(repo.root, "new-repo");
    const init = await run(["init", "--config", typo, `--REPOSITORY=${fresh}`], repo.root);
    expect(init.code, init.stderr).toBe(EXIT_CODES.failed);
    expect(init.stderr).toContain("did you mean SOURCES?");
    expect(existsSync(fresh)).toBe(false);
  });

  it("KEEP_DAILEY in a JSON file stops prune; list and status still answer, with a warning that names the key", async () => {
    const { repo, source } = await setup();
    const second = await run(["create", "--config", join(repo.root, "good.ini")], repo.root);
    expect(second.code, second.stderr).toBe(EXIT_CODES.success);
    const before = await archives(repo);
    expect(before).toHaveLength(2);
    const typo = join(repo.root, "typo.json");
    const drone = {
      DRONE_ID: "keys",
      REPOSITORY: repo.repository.location,
      STATE_DIR: join(repo.root, "state"),
      BORG_BASE_DIR: repo.repository.baseDir,
      LOCK_WAIT_SECONDS: 2,
      SOURCES: [source],
      KEEP_DAILEY: 1,
    };
    await writeFile(typo, JSON.stringify({ drone }));

    const prune = await run(["prune", "--config", typo], repo.root);
    expect(prune.code, prune.stderr).toBe(EXIT_CODES.failed);
    expect(prune.stderr).toContain(`${typo}: [drone] KEEP_DAILEY is not a configuration key; did you mean KEEP_DAILY?`);
    expect(await archives(repo)).toEqual(before);

    const list = await run(["list", "--json", "--config", typo], repo.root);
    expect(list.code, list.stderr).toBe(EXIT_CODES.success);
    expect(list.stdout.trim().split("\n")).toHaveLength(2);
    expect(list.stderr).toContain("warning:");
    expect(list.stderr).toContain("[drone] KEEP_DAILEY is not a configuration key; did you mean KEEP_DAILY? (ignored)");

    const status = await run(["status", "--config", typo], repo.root);
    expect(status.code, status.stderr).toBe(EXIT_CODES.success);
    expect(status.stderr).toContain("did you mean KEEP_DAILY? (ignored)");
  });

  it("a key outside any section and an unknown section are named too; a command-line typo gets the same suggestion", async () => {
    repo = await makeTestRepository();
    const file = join(repo.root, "loose.ini");
    await writeFile(file, [`REPOSITORY=${repo.repository.location}`, "[dron]", "MODE=paused"].join("\n"));
    const result = await run(["create", "--config", file], repo.root);
    expect(result.code).toBe(EXIT_CODES.failed);
    expect(result.stderr).toContain(`${file}: REPOSITORY is outside any section; did you mean [drone] REPOSITORY?`);
    expect(result.stderr).toContain(`${file}: [dron] is not a section the drone reads; did you mean [drone]?`);

    const good = join(repo.root, "good.ini");
    await writeFile(good, ["[drone]", `REPOSITORY=${repo.repository.location}`, `STATE_DIR=${join(repo.root, "state")}`].join("\n"));
    const option = await run(["status", "--jsno", "--config", good], repo.root);
    expect(option.code).toBe(EXIT_CODES.failed);
    expect(option.stderr).toContain("unknown option --jsno: not an option of the command, nor a configuration key; did you mean --json?");
    const key = await run(["prune", "--KEEP_DAILEY=3", "--config", good], repo.root);
    expect(key.code).toBe(EXIT_CODES.failed);
    expect(key.stderr).toContain("did you mean --KEEP_DAILY?");
  });
});
