/**
 * The `borg14` vitest project's global setup: the cached borg 1.4 venv (built when missing),
 * checked to be a borg 1.4, and its bin folder handed to the test workers (setup.mts puts it
 * first on PATH, so that every `borg` a test or a drone starts is 1.4).
 */
import { execFileSync } from "node:child_process";

import type { TestProject } from "vitest/node";

import { parseVersion } from "../../libs/borg/version.mjs";
import { ensureBorg14 } from "./venv.mjs";

declare module "vitest" {
  export interface ProvidedContext {
    /** The folder holding borg 1.4's `borg`. */
    borg14Bin: string;
  }
}

/** Build or find the venv and provide its bin folder. */
export default async function setup(project: TestProject): Promise<void> {
  const venv = await ensureBorg14({ log: line => console.log(`[borg14] ${line}`) });
  const version = parseVersion(execFileSync(venv.borg, ["--version"], { encoding: "utf8", timeout: 30_000 }));
  if (version.major !== 1 || version.minor !== 4) throw new Error(`${venv.borg} is borg ${version.text}, not 1.4: remove ${venv.dir} and run again`);
  project.provide("borg14Bin", venv.bin);
}
