import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");

describe("the repository's files", () => {
  it("hold no conflict markers a merge left behind", () => {
    const files = execFileSync("git", ["ls-files", "-z"], { cwd: ROOT, encoding: "utf8" }).split("\0").filter(Boolean);
    const marked = files.filter(file => {
      if (/\.(png|jpe?g|gz|db)$/.test(file)) return false;
      const text = readFileSync(join(ROOT, file), "utf8");
      return /^(<{7} |>{7} )/m.test(text);
    });
    expect(files.length).toBeGreaterThan(100);
    expect(marked).toEqual([]);
  });
});
