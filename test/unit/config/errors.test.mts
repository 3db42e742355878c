/** The small error helpers both apps share: one text of any thrown value, a schema's complaints, the config-fatal exit. */
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";

import { ConfigError, errorText, issueLines, parseConfigOrExit } from "../../../libs/config/index.mjs";

afterEach(() => {
  process.exitCode = undefined;
});

describe("errorText", () => {
  it("is an Error's message, or anything else as text", () => {
    expect(errorText(new Error("the repository is locked"))).toBe("the repository is locked");
    expect(errorText("plain text")).toBe("plain text");
    expect(errorText(42)).toBe("42");
  });
});

describe("issueLines", () => {
  it("names each field's path and message, and the payload when the whole value is wrong", () => {
    const schema = z.object({ a: z.number(), b: z.object({ c: z.string() }) });
    const fields = schema.safeParse({ a: "x", b: { c: 1 } });
    expect(fields.success).toBe(false);
    expect(fields.error && issueLines(fields.error)).toEqual([expect.stringMatching(/^a: /), expect.stringMatching(/^b\.c: /)]);
    const whole = schema.safeParse(null);
    expect(whole.error && issueLines(whole.error)).toEqual([expect.stringMatching(/^\(payload\): /)]);
  });
});

describe("parseConfigOrExit", () => {
  it("returns what the parse returns", () => {
    const fatal: string[] = [];
    expect(parseConfigOrExit(() => ({ ok: 1 }), { fatal: message => fatal.push(message) })).toEqual({ ok: 1 });
    expect(fatal).toEqual([]);
    expect(process.exitCode).toBeUndefined();
  });

  it("logs an invalid configuration as fatal with every problem, sets exit code 2 and rethrows", () => {
    const fatal: string[] = [];
    const invalid = new ConfigError(["drone.KEEP_DAILY: too big", "drone.REPOSITORY: required"]);
    expect(() =>
      parseConfigOrExit(() => {
        throw invalid;
      }, { fatal: message => fatal.push(message) }),
    ).toThrow(invalid);
    expect(fatal).toEqual([invalid.message]);
    expect(fatal[0]).toContain("drone.REPOSITORY: required");
    expect(process.exitCode).toBe(2);
  });

  it("passes any other error as it is, without an exit code", () => {
    const fatal: string[] = [];
    const other = new Error("disk gone");
    expect(() =>
      parseConfigOrExit(() => {
        throw other;
      }, { fatal: message => fatal.push(message) }),
    ).toThrow(other);
    expect(fatal).toEqual([]);
    expect(process.exitCode).toBeUndefined();
  });
});
