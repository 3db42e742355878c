import { describe, expect, it } from "vitest";

import { formatCount, formatDuration } from "../../../apps/drone/cli/format.mjs";
import { statsJson, statsLines } from "../../../apps/drone/cli/report.mjs";
import { createPaint } from "../../../apps/drone/cli/terminal.mjs";
import { type PersistedState } from "../../../apps/drone/core/state.mjs";
import { resultLines } from "../../../apps/drone/cli/report.mjs";
import { resultEvent } from "../../../apps/drone/core/result.mjs";

const PLAIN = createPaint(false);
const totals = { totalSize: 3 * 1024 ** 2, compressedSize: 2 * 1024 ** 2, deduplicatedSize: 1024 ** 2 };
const persisted = (archiveCount: number | null) => ({ archiveCount, totals, offsiteTotals: null }) as PersistedState;

describe("counts for people", () => {
  it("groups thousands with commas, rounded, as en-US does, without loading ICU's number formatting", () => {
    expect([0, 7, 999, 1000, 12_345, 1_234_567, 999.6, -1234, -12].map(formatCount)).toEqual(["0", "7", "999", "1,000", "12,345", "1,234,567", "1,000", "-1,234", "-12"]);
    for (const count of [1, 42, 987, 1001, 65_536, 4_294_967_296]) expect(formatCount(count)).toBe(count.toLocaleString("en-US"));
  });
});

describe("what status and stats print", () => {
  it("a run of a fraction of a second keeps its tenth; under a tenth says so instead of 0.0 s", () => {
    expect(formatDuration(0.3)).toBe("0.3 s");
    expect(formatDuration(0.04)).toBe("under 0.1 s");
    expect(formatDuration(0)).toBe("under 0.1 s");
    expect(formatDuration(12.4)).toBe("12 s");
  });

  it("sizes known but archives not counted: says why and what counts them, never a bare unknown", () => {
    const [archives] = statsLines(persisted(null), PLAIN);
    expect(archives).toMatch(/^archives\s+not counted yet \(the sizes below are from the last create; `backup-drone stats` or the next backup counts them\)$/);
    expect(statsLines(persisted(4), PLAIN)[0]).toMatch(/^archives\s+4 of this drone$/);
  });

  it("stats --json: archive count and sizes in bytes, null where not known", () => {
    expect(statsJson("laptop", persisted(4))).toEqual({
      statistics: { drone_id: "laptop", archive_count: 4, primary: { original_size: 3 * 1024 ** 2, compressed_size: 2 * 1024 ** 2, deduplicated_size: 1024 ** 2 }, offsite: null },
    });
  });
});

describe("a create's result for people", () => {
  it("lists each dump with its size and time, or that it failed", () => {
    const started = new Date("2026-11-30T03:00:00.000Z");
    const result = resultEvent({
      droneId: "nas",
      runId: "r",
      operation: "create",
      trigger: "cli",
      outcome: "warning",
      started,
      finished: new Date(started.getTime() + 12_000),
      warnings: ["dump influx (command) exited with 2: no such container (policy continue: the archive was made without it)"],
      archive: { name: "nas@2026-11-30T03:00:00.000", original_size: 3 * 1024 ** 2, compressed_size: 1024 ** 2, deduplicated_size: 1024, nfiles: 4 },
      dumps: [
        { name: "homeassistant", kind: "sqlite", outcome: "success", bytes: 2 * 1024 ** 2, durationSeconds: 3.2, error: null },
        { name: "influx", kind: "command", outcome: "failed", bytes: 0, durationSeconds: 0.4, error: "dump influx (command) exited with 2: no such container" },
      ],
    });
    const lines = resultLines(result, PLAIN);
    expect(lines.slice(1)).toEqual([
      "  dump homeassistant (sqlite): 2.00 MiB in 3.2 s",
      "  dump influx (command): failed after 0.4 s",
      "  warning: dump influx (command) exited with 2: no such container (policy continue: the archive was made without it)",
    ]);
  });
});
