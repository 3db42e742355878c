/**
 * Real borg output captured under test/fixtures/borg-<version>: 1.2.4 (Debian 12's) and 1.4.5
 * (PyPI's, captured by test/borg14/capture-fixtures.mts).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { z } from "zod";

/** The borg versions whose output is captured. */
export const FIXTURE_VERSIONS = ["1.2.4", "1.4.5"] as const;
/** One of {@link FIXTURE_VERSIONS}. */
export type FixtureVersion = (typeof FIXTURE_VERSIONS)[number];

const dirOf = (version: FixtureVersion) => join(import.meta.dirname, "..", "fixtures", `borg-${version}`);

const caseSchema = z.object({
  name: z.string(),
  argv: z.array(z.string()),
  exit_code: z.number(),
  description: z.string(),
});

/** One captured borg run. */
export interface BorgFixture {
  name: string;
  argv: string[];
  exitCode: number;
  description: string;
  stdout: string;
  stderr: string;
}

/** Every captured case of one borg version (default 1.2.4), with its output. */
export function loadFixtures(version: FixtureVersion = "1.2.4"): BorgFixture[] {
  const dir = dirOf(version);
  const cases = z.array(caseSchema).parse(JSON.parse(readFileSync(join(dir, "cases.json"), "utf8")));
  return cases.map(entry => ({
    name: entry.name,
    argv: entry.argv,
    exitCode: entry.exit_code,
    description: entry.description,
    stdout: readFileSync(join(dir, `${entry.name}.stdout`), "utf8"),
    stderr: readFileSync(join(dir, `${entry.name}.stderr`), "utf8"),
  }));
}

/** One case by name, of one borg version (default 1.2.4). */
export function fixture(name: string, version: FixtureVersion = "1.2.4"): BorgFixture {
  const found = loadFixtures(version).find(entry => entry.name === name);
  if (!found) throw new Error(`no fixture ${name} of borg ${version}`);
  return found;
}
