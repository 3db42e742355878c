/**
 * The apps meet only through Home Assistant and libs/protocol: neither imports the other's
 * files, and the libraries import no app; one module alone starts processes. Read from the
 * sources' import specifiers.
 */
import { readdir, readFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";

import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");

/** Every `.mts` file under `dir`, with its source. */
async function sourcesUnder(dir: string): Promise<{ file: string; source: string }[]> {
  const found: { file: string; source: string }[] = [];
  for (const entry of await readdir(join(ROOT, dir), { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".mts")) continue;
    const path = join(entry.parentPath, entry.name);
    found.push({ file: relative(ROOT, path), source: await readFile(path, "utf8") });
  }
  return found;
}

/** The files under `dir` that can start a process: they import child_process or execa. */
async function spawnersUnder(dir: string): Promise<string[]> {
  const spawners = (await sourcesUnder(dir)).filter(({ source }) => /(?:from\s+|import\s*\(\s*)"(?:node:)?(?:child_process|execa)"/.test(source));
  return spawners.map(({ file }) => file);
}

/** Every `.mts` file under `dir`, with the repository paths its relative imports name. */
async function importsUnder(dir: string): Promise<{ file: string; target: string }[]> {
  const found: { file: string; target: string }[] = [];
  for (const { file, source } of await sourcesUnder(dir)) {
    // static imports, re-exports and dynamic imports of a relative path
    for (const match of source.matchAll(/(?:from\s+|import\s*\(\s*)"(\.{1,2}\/[^"]+)"/g)) {
      const specifier = match[1];
      if (specifier === undefined) continue;
      found.push({ file, target: relative(ROOT, resolve(ROOT, dirname(file), specifier)) });
    }
  }
  return found;
}

const crossing = async (from: string, into: string) =>
  (await importsUnder(from)).filter(({ target }) => target.startsWith(`${into}/`)).map(({ file, target }) => `${file} → ${target}`);

describe("the boundaries the design draws", () => {
  it("the coordinator imports nothing of the drone", async () => {
    expect(await crossing("apps/backup_coordinator", "apps/drone")).toEqual([]);
  });

  it("the drone imports nothing of the coordinator", async () => {
    expect(await crossing("apps/drone", "apps/backup_coordinator")).toEqual([]);
  });

  it("the libraries import no app", async () => {
    expect(await crossing("libs", "apps")).toEqual([]);
  });

  it("only the process runner starts processes", async () => {
    // borg, a passcommand and the hooks all go through libs/process/run.mts
    const spawners = [...(await spawnersUnder("apps")), ...(await spawnersUnder("libs"))];
    expect(spawners).toEqual(["libs/process/run.mts"]);
  });

  it("the scan sees the imports it checks", async () => {
    // a scan that found nothing would pass the checks above whatever the code did
    const coordinator = await importsUnder("apps/backup_coordinator");
    expect(coordinator.some(({ target }) => target === "libs/protocol/version.mjs")).toBe(true);
    expect(coordinator.some(({ target }) => target.startsWith("apps/backup_coordinator/"))).toBe(true);
  });
});
