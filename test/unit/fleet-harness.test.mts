import { describe, expect, it } from "vitest";

import { peakConcurrency } from "../fleet/harness.mjs";

const at = (second: number) => new Date(Date.UTC(2026, 10, 22, 2, 0, second));

describe("peak concurrency from borg's archive times (whole seconds)", () => {
  it("counts overlapping runs per host, and sequential ones as one", () => {
    const peaks = peakConcurrency([
      { host: "nas", start: at(0), end: at(5) },
      { host: "nas", start: at(5), end: at(9) },
      { host: "usb", start: at(0), end: at(4) },
      { host: "usb", start: at(3), end: at(6) },
      { host: "cloud", start: at(7), end: at(7) },
    ]);
    expect(Object.fromEntries(peaks)).toEqual({ nas: 1, usb: 2, cloud: 1 });
  });

  it("a run shorter than a second overlaps one that began in the same second", () => {
    expect(peakConcurrency([
      { host: "nas", start: at(3), end: at(3) },
      { host: "nas", start: at(3), end: at(8) },
    ]).get("nas")).toBe(2);
  });
});
