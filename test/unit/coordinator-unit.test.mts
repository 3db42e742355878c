import { readFile } from "node:fs/promises";

import { describe, expect, it } from "vitest";

import { COORDINATOR_UNIT, unitNodeOptions } from "../../bench/coordinator-real.mjs";

describe("the coordinator's systemd unit", () => {
  it("starts node with the option its memory was measured with, which the benchmark reads from it", async () => {
    expect(unitNodeOptions(await readFile(COORDINATOR_UNIT, "utf8"))).toEqual(["--optimize-for-size"]);
  });

  it("gives no option when ExecStart has none, and an error when it names no script or is missing", () => {
    expect(unitNodeOptions("[Service]\nExecStart=/usr/bin/node /opt/app/bin.mjs\n")).toEqual([]);
    expect(() => unitNodeOptions("[Service]\nExecStart=/usr/bin/node --optimize-for-size\n")).toThrow(/names no script/);
    expect(() => unitNodeOptions("[Service]\nType=simple\n")).toThrow(/no ExecStart/);
  });
});
