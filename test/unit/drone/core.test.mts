import { statSync } from "node:fs";
import { link, mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { archivePrefixOf, repositoryHost } from "../../../apps/drone/core/engine.mjs";
import { estimateProgress } from "../../../apps/drone/core/estimate.mjs";
import { excludeMatcher } from "../../../apps/drone/core/borg-walk.mjs";
import { prescan } from "../../../apps/drone/core/prescan.mjs";
import { tempDir } from "../../helpers/fs.mjs";

describe("progress estimate", () => {
  it("has no estimate without an expectation", () => {
    expect(estimateProgress(undefined, { originalSize: 10, nfiles: 1 }, 5)).toEqual({ percent: null, etaSeconds: null });
  });

  it("uses the byte fraction and extrapolates the elapsed time", () => {
    expect(estimateProgress({ originalSize: 1000, nfiles: 10 }, { originalSize: 250, nfiles: 1 }, 10)).toEqual({
      percent: 25,
      etaSeconds: 30,
    });
  });

  it("measures the rate from borg's first progress line, so borg's start-up is not extrapolated", () => {
    const expected = { originalSize: 1000, nfiles: 10 };
    // borg needed 3 s to start; from its first line (100 bytes) to now (500 bytes) took 2 s
    const since = { originalSize: 100, nfiles: 1, elapsedSeconds: 3 };
    expect(estimateProgress(expected, { originalSize: 500, nfiles: 5 }, 5, since)).toEqual({ percent: 50, etaSeconds: 2.5 });
    // extrapolating the whole step would have said 5 s
    expect(estimateProgress(expected, { originalSize: 500, nfiles: 5 }, 5).etaSeconds).toBe(5);
    // no progress since the first line yet: the whole step is extrapolated
    expect(estimateProgress(expected, { originalSize: 100, nfiles: 1 }, 3, since)).toEqual({ percent: 10, etaSeconds: 27 });
  });

  it("gives the ETA to a tenth of a second", () => {
    expect(estimateProgress({ originalSize: 300, nfiles: 3 }, { originalSize: 100, nfiles: 1 }, 1).etaSeconds).toBe(2);
    expect(estimateProgress({ originalSize: 700, nfiles: 7 }, { originalSize: 300, nfiles: 3 }, 1).etaSeconds).toBe(1.3);
  });

  it("falls back to files when the expected size is zero, and caps at 99 % until borg finishes", () => {
    expect(estimateProgress({ originalSize: 0, nfiles: 4 }, { originalSize: 0, nfiles: 1 }, 2).percent).toBe(25);
    expect(estimateProgress({ originalSize: 100, nfiles: 1 }, { originalSize: 300, nfiles: 1 }, 2)).toEqual({
      percent: 99,
      etaSeconds: 0,
    });
  });
});

describe("borg fm: exclude patterns", () => {
  it("match the whole path or a leading part of it, with * crossing /", () => {
    const cache = excludeMatcher("home/*/.cache");
    expect(cache("/home/me/.cache")).toBe(true);
    expect(cache("/home/me/.cache/x/y")).toBe(true);
    expect(cache("/home/me/.cachet")).toBe(false);
    expect(excludeMatcher("*.tmp")("/home/me/a/b.tmp")).toBe(true);
    expect(excludeMatcher("/var/log/")("/var/log/syslog")).toBe(true);
    expect(excludeMatcher("fm:data/[ab]?")("data/ax")).toBe(true);
    expect(excludeMatcher("fm:data/[ab]?")("data/cx")).toBe(false);
  });

  it("are normalised as borg normalises them; a trailing / leaves the folder itself in", () => {
    for (const pattern of ["/data//cache", "/data/./cache", "/data/x/../cache", "data/cache"]) {
      expect(excludeMatcher(pattern)("/data/cache")).toBe(true);
      expect(excludeMatcher(pattern)("/data/cache/file")).toBe(true);
      expect(excludeMatcher(pattern)("/data/cachex")).toBe(false);
    }
    expect(excludeMatcher("/data/cache//")("/data/cache")).toBe(false);
    expect(excludeMatcher("/data/cache//")("/data/cache/file")).toBe(true);
  });

  it("read [] sets as Python's fnmatch does", () => {
    // a ] first in a set is a member; ^ is a member, ! negates
    expect(excludeMatcher("/d/[]x]")("/d/]")).toBe(true);
    expect(excludeMatcher("/d/[]x]")("/d/x")).toBe(true);
    expect(excludeMatcher("/d/[^x]")("/d/^")).toBe(true);
    expect(excludeMatcher("/d/[^x]")("/d/y")).toBe(false);
    expect(excludeMatcher("/d/[!x]")("/d/y")).toBe(true);
    expect(excludeMatcher("/d/[!x]")("/d/x")).toBe(false);
    expect(excludeMatcher("/d/[a-c]")("/d/b")).toBe(true);
    // no closing bracket: a literal [
    expect(excludeMatcher("/d/[ab")("/d/[ab")).toBe(true);
    // a range out of order is dropped, as Python drops it; what is left of the set stays
    expect(excludeMatcher("/d/[z-a]")("/d/m")).toBe(false);
    expect(excludeMatcher("/d/[!z-a]")("/d/m")).toBe(true);
    expect(excludeMatcher("/d/[a-cz-a]")("/d/b")).toBe(true);
    expect(excludeMatcher("/d/[a-cz-a]")("/d/m")).toBe(false);
    // ? is one character, also one outside the basic plane
    expect(excludeMatcher("/d/photo?.jpg")("/d/photo\u{1F600}.jpg")).toBe(true);
  });
});

describe("pre-scan", () => {
  let dir: { path: string; remove: () => Promise<void> };
  beforeAll(async () => {
    dir = await tempDir("prescan");
    await mkdir(join(dir.path, "keep", "deep"), { recursive: true });
    await mkdir(join(dir.path, "skip-marker"), { recursive: true });
    await mkdir(join(dir.path, "skip-pattern"), { recursive: true });
    await writeFile(join(dir.path, "keep", "a"), Buffer.alloc(100));
    await writeFile(join(dir.path, "keep", "deep", "b"), Buffer.alloc(50));
    await writeFile(join(dir.path, "keep", "c.tmp"), Buffer.alloc(1000));
    await writeFile(join(dir.path, "skip-marker", ".nobackup"), "");
    await writeFile(join(dir.path, "skip-marker", "big"), Buffer.alloc(5000));
    await writeFile(join(dir.path, "skip-pattern", "big"), Buffer.alloc(7000));
  });
  afterAll(async () => dir.remove());

  it("counts what borg would read, honouring patterns and marker files", async () => {
    const found = await prescan({
      sources: [dir.path],
      excludes: ["*.tmp", `${dir.path}/skip-pattern`],
      excludeIfPresent: [".nobackup"],
    });
    expect(found).toEqual({ originalSize: 150, nfiles: 2 });
  });

  it("counts regular files only: a link counts nothing, nor what it points to; a source is the same folder however it is written", async () => {
    const links = join(dir.path, "links");
    await mkdir(links);
    await symlink(join(dir.path, "keep", "c.tmp"), join(links, "to-file"));
    await symlink(join(dir.path, "keep"), join(links, "to-folder"));
    const found = { originalSize: 150, nfiles: 2 };
    const options = { excludes: ["*.tmp", `${dir.path}/skip-pattern`], excludeIfPresent: [".nobackup"] };
    // borg keeps links as links, even when one is a source
    expect(await prescan({ ...options, sources: [dir.path, join(links, "to-folder"), join(links, "to-file")] })).toEqual(found);
    // a trailing slash or a "." in the path: the same folder, and the patterns still match
    expect(await prescan({ ...options, sources: [`${dir.path}/`] })).toEqual(found);
    expect(await prescan({ ...options, sources: [`${dir.path}/./keep/../`] })).toEqual(found);
    // a file as a source counts itself
    expect(await prescan({ ...options, sources: [join(dir.path, "keep", "a")] })).toEqual({ originalSize: 100, nfiles: 1 });
  });

  it("walks what borg walks once: a hard-linked file, a source given twice or inside another, a skipped path", async () => {
    const tree = await tempDir("prescan-once");
    try {
      await mkdir(join(tree.path, "sub", "repo"), { recursive: true });
      await writeFile(join(tree.path, "sub", "file"), Buffer.alloc(300));
      await link(join(tree.path, "sub", "file"), join(tree.path, "sub", "same"));
      await writeFile(join(tree.path, "sub", "repo", "data"), Buffer.alloc(4000));
      await writeFile(join(tree.path, "top"), Buffer.alloc(20));
      const none = { excludes: [], excludeIfPresent: [] };
      expect(await prescan({ ...none, sources: [tree.path] })).toEqual({ originalSize: 4320, nfiles: 3 });
      // a source walked already is not walked again, also inside a later one
      expect(await prescan({ ...none, sources: [join(tree.path, "sub"), tree.path, `${tree.path}/`] })).toEqual({ originalSize: 4320, nfiles: 3 });
      // borg leaves out its local repository wherever it lies
      expect(await prescan({ ...none, sources: [tree.path], skip: [join(tree.path, "sub", "repo")] })).toEqual({ originalSize: 320, nfiles: 2 });
    } finally {
      await tree.remove();
    }
  });

  it("skips a folder where a marker path exists below it, as borg does (a link to nothing is no marker)", async () => {
    const tree = await tempDir("prescan-markers");
    try {
      await mkdir(join(tree.path, "a", "deep"), { recursive: true });
      await mkdir(join(tree.path, "b"), { recursive: true });
      await writeFile(join(tree.path, "a", "deep", "mark"), "");
      await writeFile(join(tree.path, "a", "big"), Buffer.alloc(5000));
      await symlink(join(tree.path, "nowhere"), join(tree.path, "b", ".nobackup"));
      await writeFile(join(tree.path, "b", "small"), Buffer.alloc(7));
      const found = await prescan({ sources: [tree.path], excludes: [], excludeIfPresent: [".nobackup", "deep/mark"] });
      expect(found).toEqual({ originalSize: 7, nfiles: 1 });
    } finally {
      await tree.remove();
    }
  });

  it("with oneFileSystem, enters no folder of another file system", async () => {
    // /dev/shm is a tmpfs of its own below /dev
    expect(statSync("/dev/shm").dev).not.toBe(statSync("/dev").dev);
    const file = join("/dev/shm", `prescan-${process.pid}`);
    await writeFile(file, Buffer.alloc(1_000_000));
    try {
      const options = { sources: ["/dev"], excludes: [], excludeIfPresent: [] };
      const across = await prescan(options);
      const within = await prescan({ ...options, oneFileSystem: true });
      expect(across.originalSize - within.originalSize).toBeGreaterThanOrEqual(1_000_000);
      expect(across.nfiles - within.nfiles).toBeGreaterThanOrEqual(1);
    } finally {
      await rm(file, { force: true });
    }
  });

  it("an abort rejects with its reason: no partial total", async () => {
    const controller = new AbortController();
    controller.abort(new Error("stop"));
    await expect(prescan({ sources: [dir.path], excludes: [], excludeIfPresent: [], signal: controller.signal })).rejects.toThrow("stop");
  });
});

describe("repository hosts and archive prefixes", () => {
  it("a local path is the drone's own host; ssh URLs and scp-style give the host", () => {
    expect(repositoryHost("/srv/borg", "laptop")).toBe("local:laptop");
    expect(repositoryHost("ssh://borg@NAS.lan:2222/./repo", "laptop")).toBe("nas.lan");
    expect(repositoryHost("ssh://nas/srv/borg", "laptop")).toBe("nas");
    expect(repositoryHost("borg@nas:repo", "laptop")).toBe("nas");
    expect(repositoryHost("ssh://u@[FD00::1]:22/repo", "laptop")).toBe("fd00::1");
  });

  it("prefixes cannot overlap between drones", () => {
    expect(archivePrefixOf("nas")).toBe("nas@");
    expect(`${archivePrefixOf("nas-backup")}2026`.startsWith(archivePrefixOf("nas"))).toBe(false);
  });
});
