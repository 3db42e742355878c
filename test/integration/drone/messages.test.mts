/**
 * What `backup-drone` says when the setup is not finished yet: the real bin against real
 * borg in temp folders. Each message names what happened and the drone's own next step.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

import { TEST_PASSPHRASE } from "../../helpers/borg.mjs";
import { tempDir } from "../../helpers/fs.mjs";
import { builtBin, startProcess } from "../../helpers/process.mjs";

let bin = "";
beforeAll(async () => {
  bin = await builtBin("backup-drone");
}, 120_000);

const run = (args: string[], options: { env?: Record<string, string>; cwd: string }) => startProcess(bin, args, options).done;

/** A config file for a drone whose repository folder does not exist yet. */
async function fresh(dir: string, extra: Record<string, unknown> = {}) {
  const config = join(dir, "backup_drone.json");
  await writeFile(
    config,
    JSON.stringify({ drone: { DRONE_ID: "newdrone", REPOSITORY: join(dir, "repository"), SOURCES: [dir], STATE_DIR: join(dir, "state"), BORG_BASE_DIR: join(dir, "borg"), ...extra } }),
  );
  return ["--config", config];
}

describe("backup-drone before its repository exists", () => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  it("a missing repository points at `backup-drone init`, not at raw borg", async () => {
    const dir = await tempDir("msg-missing");
    cleanup = dir.remove;
    const args = await fresh(dir.path);
    for (const command of ["list", "create"]) {
      const result = await run([command, ...args], { cwd: dir.path, env: { DRONE_PASSPHRASE: TEST_PASSPHRASE } });
      expect(result.code, command).toBe(2);
      expect(result.stderr, command).toContain(`No borg repository exists at ${join(dir.path, "repository")}`);
      expect(result.stderr, command).toContain("`backup-drone init`");
      expect(result.stderr, command).not.toContain("borg init");
    }
    const json = await run(["list", "--json", ...args], { cwd: dir.path, env: { DRONE_PASSPHRASE: TEST_PASSPHRASE } });
    expect(JSON.parse(json.stdout)).toMatchObject({ outcome: "failed", error_kind: "repository_missing" });
  });

  it("no passphrase for an encrypted repository fails the configuration check, naming the keys; local commands and ENCRYPTION=none run", async () => {
    const dir = await tempDir("msg-nopass");
    cleanup = dir.remove;
    const args = await fresh(dir.path);
    for (const command of ["init", "create", "list", "daemon"]) {
      const result = await run([command, ...args], { cwd: dir.path });
      expect(result.code, command).toBe(2);
      expect(result.stderr, command).toContain("invalid configuration");
      const line = result.stderr.split("\n").find(text => text.includes("drone.PASSPHRASE_FILE")) ?? "";
      expect(line, command).toContain("drone.PASSCOMMAND, drone.PASSPHRASE: none is set");
      expect(line, command).toContain("ENCRYPTION=repokey-blake2");
      // borg was never asked: its prompt and its own wording do not appear
      expect(result.stderr, command).not.toMatch(/Enter passphrase|NoPassphraseFailure|passphrase supplied/);
    }
    const status = await run(["status", ...args], { cwd: dir.path });
    expect(status.code, status.stderr).toBe(0);
    const plain = await fresh(dir.path, { ENCRYPTION: "none" });
    const init = await run(["init", ...plain], { cwd: dir.path });
    expect(init.code, init.stderr).toBe(0);
    const list = await run(["list", ...plain], { cwd: dir.path });
    expect(list.code, list.stderr).toBe(0);
  });

  it("stats --json prints the statistics; status counts archives once stats has, says why not before, and keeps a tenth of a second", async () => {
    const dir = await tempDir("msg-stats");
    cleanup = dir.remove;
    await writeFile(join(dir.path, "file.txt"), "a few bytes to back up\n");
    const args = await fresh(dir.path, { SOURCES: [join(dir.path, "file.txt")] });
    const env = { DRONE_PASSPHRASE: TEST_PASSPHRASE };
    expect((await run(["init", ...args], { cwd: dir.path, env })).code).toBe(0);
    const created = await run(["create", "--json", ...args], { cwd: dir.path, env });
    expect(created.code, created.stderr).toBe(0);
    const took = z.object({ duration_seconds: z.number() }).parse(JSON.parse(created.stdout.trim().split("\n").at(-1) ?? "")).duration_seconds;
    const persisted = await run(["status", "--json", ...args], { cwd: dir.path, env });
    expect(z.object({ persisted: z.object({ lastDurationSeconds: z.number() }) }).parse(JSON.parse(persisted.stdout)).persisted.lastDurationSeconds).toBe(
      Math.round(took * 10) / 10,
    );

    const before = await run(["status", ...args], { cwd: dir.path, env });
    expect(before.stdout).toMatch(/archives\s+not counted yet \(the sizes below are from the last create; `backup-drone stats`/);
    expect(before.stdout).toMatch(/on disk\s+\d/);
    // whole seconds made a create of a fraction of a second "success in 0.0 s"
    expect(before.stdout).toMatch(new RegExp(`last result\\s+success in ${took < 0.05 ? "under 0\\.1 s" : (Math.round(took * 10) / 10).toFixed(1).replace(".", "\\.")}`));

    const stats = await run(["stats", "--json", ...args], { cwd: dir.path, env });
    expect(stats.code, stats.stderr).toBe(0);
    const lines = stats.stdout.trim().split("\n").map(line => JSON.parse(line) as Record<string, unknown>);
    const statistics = lines.find(line => "statistics" in line);
    expect(statistics).toEqual({
      statistics: {
        drone_id: "newdrone",
        archive_count: 1,
        primary: { original_size: expect.any(Number) as number, compressed_size: expect.any(Number) as number, deduplicated_size: expect.any(Number) as number },
        offsite: null,
      },
    });
    expect(lines.at(-1)).toMatchObject({ operation: "stats", outcome: "success" });
    const after = await run(["status", ...args], { cwd: dir.path, env });
    expect(after.stdout).toMatch(/archives\s+1 of this drone/);
  });
});
