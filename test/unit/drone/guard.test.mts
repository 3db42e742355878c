import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { describe, expect, it } from "vitest";

import { type GuardSettings, holdMessage, inspectSources, judgeArchive, nothingToBackUp, vanishedSources } from "../../../apps/drone/core/guard.mjs";

const ON: GuardSettings = { enabled: true, shrinkPercent: 50, changePercent: 50, changeMinBytes: 100 * 1024 * 1024 };
const previous = { name: "d@1", nfiles: 1000, originalSize: 10_000_000_000, compressedSize: 8_000_000_000, deduplicatedSize: 50_000_000 };
const present = [{ path: "/home", state: "present" as const }];

describe("the prune guard's decisions", () => {
  it("passes an ordinary incremental backup, and any first backup", () => {
    const current = { ...previous, name: "d@2", nfiles: 1010, deduplicatedSize: 20_000_000 };
    expect(judgeArchive({ settings: ON, previous, current, sourcesBefore: present, sourcesNow: present })).toEqual([]);
    expect(judgeArchive({ settings: ON, previous: null, current: { ...current, nfiles: 1 }, sourcesBefore: null, sourcesNow: present })).toEqual([]);
  });

  it("holds when files or size fall by more than the limit, and not at the limit", () => {
    const fewer = judgeArchive({ settings: ON, previous, current: { ...previous, name: "d@2", nfiles: 499 }, sourcesBefore: present, sourcesNow: present });
    expect(fewer).toEqual([expect.stringContaining("file count fell by 50 %")]);
    expect(judgeArchive({ settings: ON, previous, current: { ...previous, nfiles: 500 }, sourcesBefore: present, sourcesNow: present })).toEqual([]);
    const smaller = judgeArchive({ settings: ON, previous, current: { ...previous, originalSize: 1_000_000_000 }, sourcesBefore: present, sourcesNow: present });
    expect(smaller).toEqual([expect.stringContaining("size read fell by 90 %")]);
  });

  it("holds on a mass change above both the share and the floor of new data", () => {
    const rewritten = { ...previous, deduplicatedSize: 7_000_000_000 };
    expect(judgeArchive({ settings: ON, previous, current: rewritten, sourcesBefore: present, sourcesNow: present })).toEqual([
      expect.stringContaining("88 % of the archive is new data"),
    ]);
    const small = { ...previous, compressedSize: 10_000_000, deduplicatedSize: 9_000_000 };
    // 90 % new, but under the floor: small archives churn their metadata
    expect(judgeArchive({ settings: ON, previous, current: small, sourcesBefore: present, sourcesNow: present })).toEqual([]);
  });

  it("holds when a source that had files is gone, not when it was already gone", () => {
    const before = [...present, { path: "/mnt/photos", state: "present" as const }];
    const now = [...present, { path: "/mnt/photos", state: "empty" as const }];
    expect(vanishedSources(before, now)).toEqual([{ path: "/mnt/photos", state: "empty" }]);
    expect(judgeArchive({ settings: ON, previous, current: previous, sourcesBefore: before, sourcesNow: now })).toEqual([
      expect.stringContaining("/mnt/photos (an empty folder)"),
    ]);
    expect(judgeArchive({ settings: ON, previous, current: previous, sourcesBefore: now, sourcesNow: now })).toEqual([]);
  });

  it("off holds nothing; the message tells how to release", () => {
    const off = { ...ON, enabled: false };
    expect(judgeArchive({ settings: off, previous, current: { ...previous, nfiles: 1 }, sourcesBefore: present, sourcesNow: present })).toEqual([]);
    expect(holdMessage(["x"])).toMatch(/backup-drone release.*Release Prune Hold/);
  });

  it("refuses a backup only when no source has anything in it, naming each", () => {
    expect(nothingToBackUp([{ path: "/a", state: "missing" }, { path: "/b", state: "present" }])).toBeUndefined();
    const message = nothingToBackUp([{ path: "/a", state: "missing" }, { path: "/b", state: "empty" }, { path: "/c", state: "unreadable" }]);
    expect(message).toContain("/a (missing), /b (an empty folder), /c (unreadable)");
  });
});

describe("inspectSources on a real folder tree", () => {
  it("tells present, missing, empty and file sources apart", async () => {
    const root = await mkdtemp(join(tmpdir(), "guard-"));
    try {
      await mkdir(join(root, "empty"));
      await mkdir(join(root, "full"));
      await writeFile(join(root, "full", "f"), "x");
      await writeFile(join(root, "file"), "x");
      const report = await inspectSources([join(root, "full"), join(root, "empty"), join(root, "gone"), join(root, "file"), join(root, "file", "under")]);
      expect(report.map(source => source.state)).toEqual(["present", "empty", "missing", "present", "missing"]);
      // borg stores a source that is a link as the link: nothing it points to is backed up
      await symlink(join(root, "full"), join(root, "link"));
      const links = await inspectSources([join(root, "link"), `${join(root, "link")}/`, join(root, "link", "f")]);
      expect(links.map(source => source.state)).toEqual(["link", "link", "present"]);
      // beside dumps, an archive of a link still holds the dumps: no refusal
      expect(nothingToBackUp(links.slice(0, 1), { dumps: true })).toBeUndefined();
      const refusal = nothingToBackUp(links.slice(0, 1));
      expect(refusal).toContain(`${join(root, "link")} (a symbolic link, which borg stores as a link without what it points to: put the path it points to in SOURCES)`);
    } finally {
      await rm(root, { recursive: true });
    }
  });
});
