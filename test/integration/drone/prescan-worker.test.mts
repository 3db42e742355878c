/**
 * The pre-scan beside a first backup, from the built modules (the worker's module exists only
 * once built): it walks in a worker thread at nice 19, finds what the walk on the drone's own
 * thread finds, and an abort ends it.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

import { afterEach, beforeAll, describe, expect, it } from "vitest";

import type { prescan } from "../../../apps/drone/core/prescan.mjs";
import type { prescanBeside } from "../../../apps/drone/core/prescan-beside.mjs";
import { tempDir } from "../../helpers/fs.mjs";
import { builtBin, ROOT } from "../../helpers/process.mjs";

type Beside = { prescanBeside: typeof prescanBeside };
type Walk = { prescan: typeof prescan };

let beside: Beside;
let walk: Walk;
beforeAll(async () => {
  await builtBin("backup-drone");
  beside = (await import(pathToFileURL(join(ROOT, "dist", "apps", "drone", "core", "prescan-beside.mjs")).href)) as Beside;
  walk = (await import(pathToFileURL(join(ROOT, "dist", "apps", "drone", "core", "prescan.mjs")).href)) as Walk;
}, 120_000);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** A tree with files to count, an excluded folder and a folder marked .nobackup. */
async function tree() {
  const dir = await tempDir("prescan-worker");
  cleanups.push(dir.remove);
  for (const folder of ["a", "a/b", "cache", "skipped"]) await mkdir(join(dir.path, folder), { recursive: true });
  for (let index = 0; index < 40; index++) await writeFile(join(dir.path, index % 2 ? "a" : "a/b", `file${index}`), "x".repeat(100 + index));
  await writeFile(join(dir.path, "cache", "big"), "y".repeat(10_000));
  await writeFile(join(dir.path, "skipped", ".nobackup"), "");
  await writeFile(join(dir.path, "skipped", "big"), "z".repeat(10_000));
  return { sources: [dir.path], excludes: [`${dir.path}/cache`], excludeIfPresent: [".nobackup"] };
}

describe("the pre-scan beside borg", () => {
  it("walks in a worker thread at nice 19 and finds what the walk on this thread finds", async () => {
    const options = await tree();
    let nice: number | undefined;
    const found = await beside.prescanBeside(options, value => (nice = value));
    expect(nice).toBe(19);
    expect(found).toEqual(await walk.prescan(options));
    expect(found).toEqual({ nfiles: 40, originalSize: Array.from({ length: 40 }, (_, index) => 100 + index).reduce((sum, size) => sum + size, 0) });
  });

  it("an abort ends the worker: no answer", async () => {
    const options = await tree();
    const controller = new AbortController();
    const scan = beside.prescanBeside({ ...options, signal: controller.signal });
    controller.abort();
    await expect(scan).rejects.toThrow("without an answer");
  });
});
