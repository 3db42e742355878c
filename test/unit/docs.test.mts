import { readFile } from "node:fs/promises";

import { describe, expect, it } from "vitest";

import { CONFIGURATION_DOC, replaceGenerated } from "../../scripts/config-docs.mjs";
import { DRONE_CONFIGURATION } from "../../apps/drone/config.mjs";

describe("docs stay in step with the code", () => {
  it("docs/configuration.md lists every drone key as the schema defines it (run `npm run docs:config` to update)", async () => {
    const document = await readFile(CONFIGURATION_DOC, "utf8");
    expect(document).toBe(replaceGenerated(document));
    for (const key of Object.keys(DRONE_CONFIGURATION)) expect(document).toContain(`| \`${key}\` |`);
  });
});
