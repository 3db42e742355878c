/** The pure rules of find and restore: patterns, versions, ages, targets, archive names. */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { type ArchiveItem } from "../../../libs/borg/index.mjs";
import { ageCutoff } from "../../../apps/drone/core/duration.mjs";
import { borgPattern, findVersions, itemsSignature } from "../../../apps/drone/core/find.mjs";
import { archivePaths, archiveProblem, canonicalTarget, inspectTarget, targetProblem } from "../../../apps/drone/core/restore.mjs";
import { archiveOptions } from "../../../apps/drone/ha/entities.mjs";
import { tempDir } from "../../helpers/fs.mjs";

const NOW = new Date("2026-11-22T12:00:00Z");
const day = (n: number) => new Date(NOW.getTime() - n * 86_400_000);
const item = (path: string, size: number, mtime: Date): ArchiveItem => ({ type: "-", mode: "-rw-r--r--", path, size, mtime });

describe("find", () => {
  it("turns what a person types into a borg pattern", () => {
    expect(borgPattern("notes.txt")).toBe("sh:**/notes.txt");
    expect(borgPattern("/home/me/notes.txt")).toBe("sh:home/me/notes.txt");
    expect(borgPattern("home/*/docs/*.pdf")).toBe("sh:home/*/docs/*.pdf");
    expect(borgPattern("re:\\.jpe?g$")).toBe("re:\\.jpe?g$");
    expect(borgPattern("pp:home/me")).toBe("pp:home/me");
    expect(() => borgPattern("  ")).toThrow(/empty/);
    expect(() => borgPattern("/")).toThrow(/matches everything/);
  });

  it("groups identical matches into versions, newest first, and stops after the versions asked for", async () => {
    const v1 = [item("home/notes.txt", 10, day(9))];
    const v2 = [item("home/notes.txt", 12, day(4))];
    const v3 = [item("home/notes.txt", 15, day(1))];
    const contents: Record<string, ArchiveItem[]> = { a1: v1, a2: v1, a3: [], a4: v2, a5: v3, a6: v3 };
    const archives = Object.keys(contents).map((name, index) => ({ name, id: name, start: day(10 - index * 2) }));
    const listed: string[] = [];
    const list = (name: string) => {
      listed.push(name);
      return Promise.resolve(contents[name] ?? []);
    };
    // given in any order: sorted newest first
    const all = await findVersions({ archives: [...archives].reverse(), list });
    expect(all.map(version => version.archive)).toEqual(["a6", "a4", "a2"]);
    expect(all[0]?.archives.map(archive => archive.name)).toEqual(["a6", "a5"]);
    expect(all[2]?.archives.map(archive => archive.name)).toEqual(["a2", "a1"]);

    listed.length = 0;
    const two = await findVersions({ archives, list, versions: 2 });
    expect(two.map(version => version.archive)).toEqual(["a6", "a4"]);
    // stopped at the first archive of a third version: the oldest was never listed
    expect(listed).toEqual(["a6", "a5", "a4", "a3", "a2"]);
  });

  it("a version is the paths, types, sizes and times of every match, whatever the order", () => {
    const a = item("x", 1, day(1));
    const b = item("y", 2, day(2));
    expect(itemsSignature([a, b])).toBe(itemsSignature([b, a]));
    expect(itemsSignature([a])).not.toBe(itemsSignature([{ ...a, size: 3 }]));
    expect(itemsSignature([a])).not.toBe(itemsSignature([{ ...a, mtime: day(3) }]));
  });

  it("ages count back from now in borg's units; anything else says what to write", () => {
    expect(ageCutoff("7d", NOW)).toEqual(day(7));
    expect(ageCutoff("2w", NOW)).toEqual(day(14));
    expect(ageCutoff("1m", NOW)).toEqual(new Date("2026-10-22T12:00:00Z"));
    expect(ageCutoff("12H", NOW)).toEqual(new Date("2026-11-22T00:00:00Z"));
    expect(ageCutoff("1y", NOW)).toEqual(new Date("2025-11-22T12:00:00Z"));
    for (const bad of ["7", "d", "0d", "7 days", "-1d", "1.5w"]) expect(() => ageCutoff(bad, NOW), bad).toThrow(/e\.g\. 7d, 2w, 1m/);
  });
});

describe("restore safety rules", () => {
  const dirs: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const remove of dirs.splice(0)) await remove();
  });

  it("a target is an absolute folder without .. or control characters; empty means not set", () => {
    expect(targetProblem("/srv/restore")).toBeUndefined();
    expect(targetProblem("")).toMatch(/no restore target is set/);
    expect(targetProblem("restore")).toMatch(/absolute/);
    expect(targetProblem("/srv/../etc")).toMatch(/\.\./);
    expect(targetProblem("/srv/a\nb")).toMatch(/control characters/);
    expect(targetProblem(`/${"x".repeat(300)}`)).toMatch(/255/);
    expect(canonicalTarget("/srv//restore/")).toBe("/srv/restore");
    expect(canonicalTarget("/")).toBe("/");
  });

  it("only this drone's archives (or latest); the message says how to restore another drone's", () => {
    expect(archiveProblem("latest", "laptop@")).toBeUndefined();
    expect(archiveProblem("laptop@2026-11-22T02:00:00.000", "laptop@")).toBeUndefined();
    expect(archiveProblem("nas@2026-11-22T02:00:00.000", "laptop@")).toMatch(/not one of this drone's.*--DRONE_ID=/);
    expect(archiveProblem("laptop@", "laptop@")).toMatch(/not one of this drone's/);
    expect(archiveProblem("laptop-old@2026", "laptop@")).toMatch(/not one of this drone's/);
    expect(archiveProblem("laptop@x::y", "laptop@")).toMatch(/not an archive name/);
    expect(archiveProblem("", "laptop@")).toMatch(/no archive given/);
  });

  it("paths are taken as stored (no leading slash), and never climb out with ..", () => {
    expect(archivePaths(["/home/me/notes.txt", "etc/", "srv"])).toEqual(["home/me/notes.txt", "etc", "srv"]);
    expect(() => archivePaths(["/"])).toThrow(/not a path inside the archive/);
    expect(() => archivePaths(["home/../etc"])).toThrow(/\.\./);
  });

  it("tells a missing, empty, non-empty target and a file apart", async () => {
    const { path, remove } = await tempDir("target");
    dirs.push(remove);
    expect(await inspectTarget(join(path, "new"))).toBe("missing");
    expect(await inspectTarget(path)).toBe("empty");
    await mkdir(join(path, "sub"));
    expect(await inspectTarget(path)).toBe("not_empty");
    await writeFile(join(path, "file"), "x");
    expect(await inspectTarget(join(path, "file"))).toBe("not_a_folder");
  });

  it("Restore Archive offers latest and the recent archives, and keeps an older choice visible", () => {
    expect(archiveOptions(["l@2", "l@1"], "latest")).toEqual(["latest", "l@2", "l@1"]);
    expect(archiveOptions(["l@2", "l@1"], "l@1")).toEqual(["latest", "l@2", "l@1"]);
    expect(archiveOptions(["l@3", "l@2"], "l@1")).toEqual(["latest", "l@3", "l@2", "l@1"]);
  });
});
