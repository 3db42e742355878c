/** `find --dump NAME` takes a dump's name only: anything else is a one-line usage error before borg runs. */
import { describe, expect, it } from "vitest";

import { parseCommandLine } from "../../../apps/drone/cli/args.mjs";

describe("find --dump NAME", () => {
  it("takes a dump's name", () => {
    expect(parseCommandLine(["find", "--dump", "nextcloud_db-2"])).toMatchObject({ kind: "run", command: "find", options: { dump: "nextcloud_db-2" } });
  });

  it("refuses what is no dump's name, in one line that says what a name is", () => {
    for (const name of ["../etc", "Shop", "shop.sql", "-x", "a b", "x".repeat(64)]) {
      const parsed = parseCommandLine(["find", `--dump=${name}`]);
      expect(parsed).toEqual({
        kind: "usage_error",
        command: "find",
        message: `--dump takes a dump's name: lowercase letters, digits, - or _, starting with a letter or digit (got ${JSON.stringify(name)}); see \`backup-drone list --dumps\``,
      });
      expect(parsed.kind === "usage_error" && parsed.message.includes("\n")).toBe(false);
    }
  });
});
