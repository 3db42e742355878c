import { describe, expect, it } from "vitest";

import { deferRelativeTimeFormat } from "../../../libs/process/deferred-intl.mjs";

describe("Intl.RelativeTimeFormat deferred while a module loads", () => {
  const Real = Intl.RelativeTimeFormat;

  it("a formatter built while loading formats as the real one does, and the real class is back afterwards", async () => {
    const built = await deferRelativeTimeFormat(() => Promise.resolve(new Intl.RelativeTimeFormat("en", { numeric: "auto", style: "short" })));
    expect(built).not.toBeInstanceOf(Real);
    const real = new Real("en", { numeric: "auto", style: "short" });
    for (const [value, unit] of [[-1, "day"], [3, "hour"], [-42, "second"], [0, "minute"]] as const) {
      expect(built.format(value, unit)).toBe(real.format(value, unit));
      expect(built.formatToParts(value, unit)).toEqual(real.formatToParts(value, unit));
    }
    expect(built.resolvedOptions()).toEqual(real.resolvedOptions());
    expect(Intl.RelativeTimeFormat).toBe(Real);
    expect(new Intl.RelativeTimeFormat("en")).toBeInstanceOf(Real);
  });

  it("the real formatter is built on first use: bad arguments throw then, not while loading", async () => {
    const built = await deferRelativeTimeFormat(() => Promise.resolve(new Intl.RelativeTimeFormat("en", { style: "enormous" as "long" })));
    expect(() => built.format(1, "day")).toThrow(RangeError);
    expect(() => new Intl.RelativeTimeFormat("en", { style: "enormous" as "long" })).toThrow(RangeError);
  });

  it("the real class is back when loading fails too", async () => {
    await expect(deferRelativeTimeFormat(() => Promise.reject(new Error("no such module")))).rejects.toThrow("no such module");
    expect(Intl.RelativeTimeFormat).toBe(Real);
  });
});
