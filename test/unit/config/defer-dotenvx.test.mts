/**
 * The dotenvx stand-in, in a process of its own (it works on Node's module cache): Digital
 * Alchemy gets a `config()` that reads no `./.env`, and a bin that loaded DA before the
 * stand-in is told so instead of silently reading `./.env` over the exported environment.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

const STAND_IN = import.meta.resolve("../../../libs/config/defer-dotenvx.mjs");
const CORE = import.meta.resolve("@digital-alchemy/core");
const TSX = import.meta.resolve("tsx/esm");
let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "defer-dotenvx-"));
  await writeFile(join(dir, ".env"), "PROBE_FROM_DOTENV=read\n");
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Run an ES module's source in a fresh node in the folder with the ./.env. */
async function node(source: string): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--import", TSX, "--input-type=module", "-e", source], { cwd: dir, env: { PATH: process.env.PATH ?? "" } });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const failed = error as { stdout: string; stderr: string; code: number };
    return { stdout: failed.stdout, stderr: failed.stderr, code: failed.code };
  }
}

describe("deferDotenvx", () => {
  it("gives Digital Alchemy a dotenvx whose config() reads nothing, and loads none of dotenvx", async () => {
    const { stdout, code, stderr } = await node(`
      import { createRequire } from "node:module";
      import { deferDotenvx } from ${JSON.stringify(STAND_IN)};
      deferDotenvx();
      const require = createRequire(${JSON.stringify(CORE)});
      const path = require.resolve("@dotenvx/dotenvx");
      const { default: dotenv } = await import(path);
      dotenv.config({ path: ".env", override: true });
      await import(${JSON.stringify(CORE)});
      const undici = Object.keys(require.cache).some(file => file.includes("/undici/"));
      console.log(JSON.stringify({ value: process.env.PROBE_FROM_DOTENV ?? null, undici }));
    `);
    expect(code, stderr).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ value: null, undici: false });
  });

  it("throws, naming the cause, when Digital Alchemy was loaded first", async () => {
    const { code, stderr } = await node(`
      await import(${JSON.stringify(CORE)});
      const { deferDotenvx } = await import(${JSON.stringify(STAND_IN)});
      deferDotenvx();
    `);
    expect(code).not.toBe(0);
    expect(stderr).toContain("@dotenvx/dotenvx was loaded before deferDotenvx() ran: import @digital-alchemy/core only after it");
  });
});
