/**
 * The prune guard and dumps: an archive made without a dump that earlier archives hold (it
 * failed with policy continue) holds prune, for as long as the dump fails; a dump that never
 * made it into an archive, or that was taken out of DUMPS, holds nothing.
 */
import { describe, expect, it } from "vitest";

import { dumpsHeldAfter, type GuardSettings, judgeArchive, missingDumps } from "../../../apps/drone/core/guard.mjs";

const ON: GuardSettings = { enabled: true, shrinkPercent: 50, changePercent: 50, changeMinBytes: 100 * 1024 * 1024 };
const previous = { name: "d@1", nfiles: 1000, originalSize: 10_000_000, compressedSize: 8_000_000, deduplicatedSize: 50_000 };
const current = { ...previous, name: "d@2" };
const present = [{ path: "/home", state: "present" as const }];
const ok = (name: string) => ({ name, outcome: "success", error: null });
const failed = (name: string) => ({ name, outcome: "failed", error: `dump ${name} (command) exited with 1: no route to host` });

const judge = (expected: string[], results: { name: string; outcome: string; error: string | null }[], settings = ON) =>
  judgeArchive({ settings, previous, current, sourcesBefore: present, sourcesNow: present, dumps: { expected, results } });

describe("the prune guard and dumps", () => {
  it("holds when a dump that earlier archives hold is missing from the new one, naming it and its error", () => {
    expect(judge(["cloud", "ha"], [ok("ha"), failed("cloud")])).toEqual([
      "the dump cloud is not in this archive (dump cloud (command) exited with 1: no route to host) but earlier archives hold it: pruned against, archives without it would age them out; fix the dump, or take it out of DUMPS if it is gone for good",
    ]);
    expect(judge(["cloud", "ha"], [ok("ha"), ok("cloud")])).toEqual([]);
  });

  it("holds nothing for a dump no archive ever held (new, failing from the start), nor with the guard off", () => {
    expect(judge(["ha"], [ok("ha"), failed("cloud")])).toEqual([]);
    expect(judge(["cloud"], [failed("cloud")], { ...ON, enabled: false })).toEqual([]);
  });

  it("records the dumps of the archive and keeps those still failing, so that every archive without them holds again", () => {
    // first failure: cloud stays recorded
    expect(dumpsHeldAfter({ expected: ["cloud", "ha"], results: [ok("ha"), failed("cloud")] })).toEqual(["cloud", "ha"]);
    // after a release, the next archive that still lacks it holds again
    expect(missingDumps({ expected: ["cloud", "ha"], results: [ok("ha"), failed("cloud")] }).map(dump => dump.name)).toEqual(["cloud"]);
    // a dump taken out of DUMPS is no longer among the results: dropped, no hold
    expect(dumpsHeldAfter({ expected: ["cloud", "ha"], results: [ok("ha")] })).toEqual(["ha"]);
    expect(missingDumps({ expected: ["cloud", "ha"], results: [ok("ha")] })).toEqual([]);
    // a new dump that failed from the start is not recorded
    expect(dumpsHeldAfter({ expected: ["ha"], results: [ok("ha"), failed("new")] })).toEqual(["ha"]);
  });
});
