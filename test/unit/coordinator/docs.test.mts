import { readFile } from "node:fs/promises";
import { join } from "node:path";

import { describe, expect, it } from "vitest";

import { COORDINATOR_CONFIGURATION } from "../../../apps/backup_coordinator/config.mjs";
import { PROBLEM_KINDS } from "../../../apps/backup_coordinator/core/fleet.mjs";
import { COORDINATOR_EVENT_SCHEMAS } from "../../../libs/protocol/index.mjs";
import { COORDINATOR_ENTITIES, coordinatorObjectId } from "../../../apps/backup_coordinator/ha/entities.mjs";

const DOC = join(import.meta.dirname, "..", "..", "..", "docs", "coordinator.md");
const cell = (text: string) => text.replaceAll("|", "\\|");
const defaultText = (value: unknown) => (value === "" ? "(empty)" : `\`${String(value)}\``);

describe("docs/coordinator.md stays in step with the code", () => {
  it("lists every configuration key with its type, default and description", async () => {
    const document = await readFile(DOC, "utf8");
    for (const [key, entry] of Object.entries(COORDINATOR_CONFIGURATION)) {
      expect(document).toContain(`| \`${key}\` | ${entry.type} | ${defaultText(entry.default)} | ${cell(entry.description)} |`);
    }
  });

  it("lists every entity, every event with every field, and every kind of problem", async () => {
    const document = await readFile(DOC, "utf8");
    for (const [key, spec] of Object.entries(COORDINATOR_ENTITIES)) {
      expect(document).toContain(`\`${spec.domain}.${coordinatorObjectId("backup_coordinator", key as keyof typeof COORDINATOR_ENTITIES)}\``);
    }
    expect(document).toContain("`binary_sensor.<drone>_backup_problem`");
    for (const [type, schema] of Object.entries(COORDINATOR_EVENT_SCHEMAS)) {
      const section = document.split(`### ${type}\n`)[1]?.split("\n### ")[0];
      expect(section, type).toBeDefined();
      const common = ["v", "coordinator_id", "drone_id", "time"];
      for (const field of Object.keys(schema.shape).filter(name => !common.includes(name))) expect(section, `${type}.${field}`).toContain(`\`${field}\``);
    }
    for (const kind of PROBLEM_KINDS) expect(document).toContain(`| \`${kind}\` |`);
  });
});
