/** The real borg 1.2.4 output captured under test/fixtures/borg-1.2.4. */
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { z } from "zod";

const DIR = join(import.meta.dirname, "..", "fixtures", "borg-1.2.4");

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

/** Every captured case, with its output. */
export function loadFixtures(): BorgFixture[] {
  const cases = z.array(caseSchema).parse(JSON.parse(readFileSync(join(DIR, "cases.json"), "utf8")));
  return cases.map(entry => ({
    name: entry.name,
    argv: entry.argv,
    exitCode: entry.exit_code,
    description: entry.description,
    stdout: readFileSync(join(DIR, `${entry.name}.stdout`), "utf8"),
    stderr: readFileSync(join(DIR, `${entry.name}.stderr`), "utf8"),
  }));
}

/** One case by name. */
export function fixture(name: string): BorgFixture {
  const found = loadFixtures().find(entry => entry.name === name);
  if (!found) throw new Error(`no fixture ${name}`);
  return found;
}
