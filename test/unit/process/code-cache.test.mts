/**
 * The code cache's file (libs/process/code-cache.mts) on a small CommonJS bundle: the data goes
 * to V8 only when its SHA-256 matches (V8 in Node 20 does not checksum it, and code damaged at
 * the same length crashes node), and a cache is written under a random temporary name created
 * exclusively, never over a file another writer has open.
 */
import type * as Crypto from "node:crypto";
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";

import { openCache, runCachedScript, sealCache } from "../../../libs/process/code-cache.mjs";
import { tempDir } from "../../helpers/fs.mjs";

/** The temporary name's random part, when a test fixes it. */
const uuid = vi.hoisted(() => ({ fixed: undefined as string | undefined }));
vi.mock("node:crypto", async importOriginal => {
  const actual = await importOriginal<typeof Crypto>();
  return { ...actual, randomUUID: () => uuid.fixed ?? actual.randomUUID() };
});

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  uuid.fixed = undefined;
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** A bundle with enough functions to give V8 something to cache, and its cache folder. */
async function setup() {
  const dir = await tempDir("code-cache-unit");
  cleanups.push(dir.remove);
  const file = join(dir.path, "program.cjs");
  const functions = Array.from({ length: 40 }, (_, index) => `function f${index}(x) { let sum = ${index}; for (let i = 0; i < x; i++) sum += i * ${index + 1}; return sum; }`);
  const calls = Array.from({ length: 40 }, (_, index) => `f${index}(3)`).join(" + ");
  await writeFile(file, `"use strict";\n${functions.join("\n")}\nmodule.exports = { answer: ${calls} };\n`);
  const cacheDir = join(dir.path, "cache");
  const exportsSchema = z.object({ answer: z.number() });
  /** Run the bundle (its top level calls every function), save the cache; what it answered and whether the cache was taken. */
  const run = () => {
    const script = runCachedScript(file, "0123456789abcdef", cacheDir);
    const { answer } = exportsSchema.parse(script.exports);
    script.saveCache();
    return { answer, cacheUsed: script.cacheUsed };
  };
  const entries = () => readdir(cacheDir);
  const cacheFile = async () => {
    const names = (await entries()).filter(name => name.endsWith(".v8cache"));
    expect(names).toHaveLength(1);
    return join(cacheDir, names[0] ?? "");
  };
  return { run, entries, cacheFile, cacheDir };
}

/** The sum the bundle's answer holds. */
const ANSWER = Array.from({ length: 40 }, (_, index) => index + 3 * (index + 1)).reduce((a, b) => a + b, 0);

describe("the code cache's file", () => {
  it("opens only what was sealed, as it was: a changed byte, a cut, or data without the header gives nothing", () => {
    const data = Buffer.from(Array.from({ length: 4096 }, (_, index) => (index * 31) % 256));
    const sealed = sealCache(data);
    expect(openCache(sealed)?.equals(data)).toBe(true);
    const flipped = Buffer.from(sealed);
    flipped[sealed.length - 100] = (flipped[sealed.length - 100] ?? 0) ^ 0x01;
    expect(openCache(flipped)).toBeUndefined();
    expect(openCache(sealed.subarray(0, sealed.length - 1))).toBeUndefined();
    // V8's own data as a file of the earlier layout held it
    expect(openCache(data)).toBeUndefined();
    expect(openCache(Buffer.alloc(0))).toBeUndefined();
  });

  it("a cache damaged inside at the same length is not given to V8: the bundle runs compiled afresh and the cache is rewritten", async () => {
    const { run, cacheFile } = await setup();
    expect(run()).toEqual({ answer: ANSWER, cacheUsed: false });
    expect(run()).toEqual({ answer: ANSWER, cacheUsed: true });
    const file = await cacheFile();
    const good = await readFile(file);
    // bit rot across the code (past the headers), length kept
    const damaged = Buffer.from(good);
    for (let index = Math.floor(good.length / 4); index < good.length; index += Math.max(1, Math.floor(good.length / 200))) damaged[index] = (damaged[index] ?? 0) ^ 0xff;
    await writeFile(file, damaged, { mode: 0o600 });

    expect(run()).toEqual({ answer: ANSWER, cacheUsed: false });
    const rewritten = await readFile(file);
    expect(rewritten.equals(damaged)).toBe(false);
    expect(openCache(rewritten)).toBeDefined();
    expect(run()).toEqual({ answer: ANSWER, cacheUsed: true });
  });

  it("another writer's temporary file of this process's pid (another PID namespace, one home) is neither truncated nor moved", async () => {
    const { run, cacheDir, cacheFile } = await setup();
    run();
    const file = await cacheFile();
    await writeFile(file, "damaged", { mode: 0o600 });
    const theirs = `${file}.${process.pid}.tmp`;
    await writeFile(theirs, "another writer's half-written cache", { mode: 0o600 });

    expect(run()).toEqual({ answer: ANSWER, cacheUsed: false });
    expect(await readFile(theirs, "utf8")).toBe("another writer's half-written cache");
    expect(openCache(await readFile(file))).toBeDefined();
    // the run's own temporary file was renamed into place: nothing else is left beside the two
    expect((await readdir(cacheDir)).sort()).toEqual([file, theirs].map(path => path.slice(cacheDir.length + 1)).sort());
  });

  it("the temporary file is created exclusively: an existing file of that name is left alone and nothing is renamed into place", async () => {
    const { run, cacheFile } = await setup();
    run();
    const file = await cacheFile();
    await writeFile(file, "damaged", { mode: 0o600 });
    uuid.fixed = "00000000-0000-4000-8000-000000000000";
    const existing = `${file}.${uuid.fixed}.tmp`;
    await writeFile(existing, "not ours", { mode: 0o600 });

    expect(run()).toEqual({ answer: ANSWER, cacheUsed: false });
    expect(await readFile(existing, "utf8")).toBe("not ours");
    expect(await readFile(file, "utf8")).toBe("damaged");
  });

  it("a write that fails removes its own temporary file", async () => {
    const { run, entries, cacheDir } = await setup();
    run();
    const [name] = await entries();
    // a non-empty folder where the cache goes: the rename fails
    const file = join(cacheDir, name ?? "");
    await rm(file);
    await mkdir(join(file, "in-the-way"), { recursive: true });

    expect(run()).toEqual({ answer: ANSWER, cacheUsed: false });
    expect(await entries()).toEqual([name]);
    expect((await stat(file)).isDirectory()).toBe(true);
  });
});
