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

describe("the shipped systemd units", () => {
  /** The value of each `Key=` line of a unit file (comments aside). */
  const settings = (text: string) =>
    Object.fromEntries(
      text
        .split("\n")
        .filter(line => /^\w+=/.test(line))
        .map(line => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
    );

  it.each(["backup-coordinator.service", "backup-drone.service"])(
    "%s restarts a daemon that stopped by itself, even with status 0 (hass's exit on too many messages), but not on a configuration error (2)",
    async name => {
      const unit = settings(await readFile(new URL(`../../deploy/${name}`, import.meta.url), "utf8"));
      expect(unit.Restart).toBe("always");
      expect(unit.RestartPreventExitStatus).toBe("2");
    },
  );
});
