/**
 * `backup-drone find` and `backup-drone restore` as people run them: the real bin (built by
 * `npm run build`, rebuilt when a source is newer) spawned against a real borg repository.
 */
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

import { EXIT_CODES } from "../../../apps/drone/cli/spec.mjs";
import { progressEventSchema, resultEventSchema } from "../../../libs/protocol/index.mjs";
import { makeTestRepository, TEST_PASSPHRASE, type TestRepository } from "../../helpers/borg.mjs";
import { fileHashes, tempDir, writeRandomFiles } from "../../helpers/fs.mjs";
import { builtBin, startProcess } from "../../helpers/process.mjs";

let bin = "";
beforeAll(async () => {
  bin = await builtBin("backup-drone");
}, 120_000);

/** Run the bin with nothing of ours configuring a drone, borg or Home Assistant. */
const run = (args: string[], options: { cwd: string; env?: Record<string, string> }) => startProcess(bin, args, options).done;

const jsonLines = (text: string): unknown[] =>
  text
    .split("\n")
    .filter(line => line.trim().length > 0)
    .map(line => JSON.parse(line) as unknown);

const versionLine = z.object({
  archive: z.string(),
  start: z.iso.datetime({ offset: true }),
  archives: z.array(z.string()),
  items: z.array(z.object({ path: z.string(), type: z.string(), size: z.number().nullable(), mtime: z.string().nullable() })),
});

describe("backup-drone find and restore", () => {
  let repo: TestRepository | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await repo?.remove();
    repo = undefined;
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  const setup = async () => {
    repo = await makeTestRepository();
    const source = join(repo.root, "source");
    await writeRandomFiles(source, 4, 64 * 1024);
    await writeFile(join(source, "notes.txt"), "one\n");
    const config = join(repo.root, "backup_drone.json");
    await writeFile(
      config,
      JSON.stringify({
        drone: {
          DRONE_ID: "clidrone",
          REPOSITORY: repo.repository.location,
          SOURCES: [source],
          STATE_DIR: join(repo.root, "state"),
          BORG_BASE_DIR: repo.repository.baseDir,
          LOCK_WAIT_SECONDS: 2,
        },
      }),
    );
    return { source, cwd: repo.root, args: ["--config", config], env: { DRONE_PASSPHRASE: TEST_PASSPHRASE } };
  };

  it("find: versions newest first as JSON lines, a limit, and exit 6 when nothing matches; restore: identical files", async () => {
    const context = await setup();
    expect((await run(["create", ...context.args], context)).code).toBe(0);
    await writeFile(join(context.source, "notes.txt"), "two, changed\n");
    expect((await run(["create", ...context.args], context)).code).toBe(0);
    expect((await run(["create", ...context.args], context)).code).toBe(0);

    const found = await run(["find", "notes.txt", "--json", ...context.args], context);
    expect(found.code, found.stderr).toBe(EXIT_CODES.success);
    const versions = jsonLines(found.stdout).map(line => versionLine.parse(line));
    expect(versions.map(version => version.items[0]?.size)).toEqual([13, 4]);
    expect(versions[0]?.archives).toHaveLength(2);
    expect(versions[0]?.archive).toBe(versions[0]?.archives[0]);
    expect(versions[1]?.archives).toEqual([versions[1]?.archive]);
    expect(versions.every(version => version.items.every(item => item.path === join(context.source, "notes.txt").slice(1)))).toBe(true);

    const limited = await run(["find", "notes.txt", "--versions", "1", "--json", ...context.args], context);
    expect(jsonLines(limited.stdout).map(line => versionLine.parse(line).archive)).toEqual([versions[0]?.archive]);
    const human = await run(["find", join(context.source, "notes.txt"), ...context.args], context);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`${join(context.source, "notes.txt").slice(1)}  13 B`);
    expect(human.stdout).toContain("also in 1 older archive");

    const none = await run(["find", "missing.txt", ...context.args], context);
    expect(none.code).toBe(EXIT_CODES.no_match);
    expect(none.stderr).toContain('no archive of clidrone holds a path matching "missing.txt"');
    const older = await run(["find", "notes.txt", "--older-than", "1d", ...context.args], context);
    expect(older.code).toBe(EXIT_CODES.no_match);
    const badAge = await run(["find", "notes.txt", "--older-than", "7 days", ...context.args], context);
    expect(badAge.code).toBe(EXIT_CODES.failed);
    expect(badAge.stderr).toContain("is not an age");

    // the oldest version of notes.txt, into a relative --target (resolved where the command runs)
    const oldest = versions[1]?.archive ?? "";
    const restored = await run(["restore", oldest, `/${join(context.source, "notes.txt").slice(1)}`, "--target", "back", "--json", ...context.args], context);
    expect(restored.code, restored.stderr).toBe(EXIT_CODES.success);
    const lines = jsonLines(restored.stdout);
    const result = resultEventSchema.parse(lines.at(-1));
    expect(result).toMatchObject({ operation: "restore", outcome: "success", trigger: "cli", restore: { archive: oldest, target: join(context.cwd, "back") } });
    expect(lines.slice(0, -1).every(line => progressEventSchema.safeParse(line).success)).toBe(true);
    expect(await readFile(join(context.cwd, "back", context.source.slice(1), "notes.txt"), "utf8")).toBe("one\n");

    const whole = await tempDir("cli-restore");
    cleanups.push(whole.remove);
    const all = await run(["restore", "latest", "--target", whole.path, ...context.args], context);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toMatch(/restore succeeded in .* restored clidrone@\S+ into /);
    expect(await fileHashes(join(whole.path, context.source.slice(1)))).toEqual(await fileHashes(context.source));
  });

  it("restore refuses a folder that is not empty (exit 5, nothing changed), needs --target, and stays within this drone", async () => {
    const context = await setup();
    expect((await run(["create", ...context.args], context)).code).toBe(0);
    const target = await tempDir("cli-busy-target");
    cleanups.push(target.remove);
    await mkdir(join(target.path, "keep"));
    await writeFile(join(target.path, "keep", "file.txt"), "mine\n");
    const before = (await stat(join(target.path, "keep", "file.txt"))).mtimeMs;

    const refused = await run(["restore", "latest", "--target", target.path, "--json", ...context.args], context);
    expect(refused.code).toBe(EXIT_CODES.not_empty);
    const result = resultEventSchema.parse(jsonLines(refused.stdout).at(-1));
    expect(result).toMatchObject({ outcome: "failed", error_kind: "target_not_empty" });
    expect(await readdir(target.path)).toEqual(["keep"]);
    expect(await readFile(join(target.path, "keep", "file.txt"), "utf8")).toBe("mine\n");
    expect((await stat(join(target.path, "keep", "file.txt"))).mtimeMs).toBe(before);

    const words = await run(["restore", "latest", "--target", target.path, ...context.args], context);
    expect(words.code).toBe(EXIT_CODES.not_empty);
    expect(words.stderr).toMatch(/restore failed after .*is not empty; nothing was restored.*--overwrite/);

    const overwrite = await run(["restore", "latest", "--target", target.path, "--overwrite", ...context.args], context);
    expect(overwrite.code, overwrite.stderr).toBe(0);
    expect(await readFile(join(target.path, "keep", "file.txt"), "utf8")).toBe("mine\n");

    const noTarget = await run(["restore", "latest", ...context.args], context);
    expect(noTarget.code).toBe(EXIT_CODES.failed);
    expect(noTarget.stderr).toContain("restore needs --target DIR");
    const noArchive = await run(["restore", "--target", target.path, ...context.args], context);
    expect(noArchive.code).toBe(EXIT_CODES.failed);
    expect(noArchive.stderr).toContain("restore needs ARCHIVE [PATH...]");
    const other = await run(["restore", "nas@2026-11-22T02:00:00.000", "--target", join(target.path, "x"), ...context.args], context);
    expect(other.code).toBe(EXIT_CODES.failed);
    expect(other.stderr).toContain("is not one of this drone's");

    const help = await run(["restore", "--help"], context);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Usage: backup-drone restore ARCHIVE [PATH...] [options]");
    expect(help.stdout).toMatch(/^ {2}5 {2}refused: the restore target is not empty/m);
    expect(refused.stdout + refused.stderr + words.stderr).not.toContain(TEST_PASSPHRASE);
  });
});
