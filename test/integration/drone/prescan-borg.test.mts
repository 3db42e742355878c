/**
 * The pre-scan against borg itself: on a tree that exercises borg's rules (exclude patterns
 * as borg normalises and reads them, markers, hard links, a FIFO, links, sources given twice
 * or one inside another, a link as a source, the repository inside a source), it finds the
 * very files and bytes `borg create` stores.
 */
import { spawnSync } from "node:child_process";
import { link, mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { prescan, type PrescanOptions } from "../../../apps/drone/core/prescan.mjs";
import { type BorgClient, createBorgClient, Secret } from "../../../libs/borg/index.mjs";
import { TEST_PASSPHRASE } from "../../helpers/borg.mjs";
import { tempDir } from "../../helpers/fs.mjs";

let root: { path: string; remove: () => Promise<void> };
let data: string;
let repository: string;
let client: BorgClient;

beforeAll(async () => {
  root = await tempDir("prescan-borg");
  data = join(root.path, "data");
  // the repository lies inside the data: borg leaves it out
  repository = join(data, "repo");
  client = createBorgClient({
    location: repository,
    passphrase: { kind: "passphrase", value: new Secret(TEST_PASSPHRASE) },
    passphraseTransport: "fd",
    baseDir: join(root.path, "borg-base"),
    lockWaitSeconds: 1,
  });
  const files: [string, number][] = [
    ["docs/a.txt", 100],
    ["docs/b.tmp", 1000],
    ["docs/sub/c", 50],
    ["cache/big", 7000],
    ["marked/big", 5000],
    ["dangling/f", 11],
    ["deepmark/x/mark", 0],
    ["deepmark/f", 13],
    ["hard/one", 300],
    ["brackets/]", 3],
    ["brackets/^", 4],
    ["brackets/y", 5],
  ];
  for (const [path, size] of files) {
    await mkdir(join(data, path, ".."), { recursive: true });
    await writeFile(join(data, path), Buffer.alloc(size, 7));
  }
  await writeFile(join(data, "marked", ".nobackup"), "");
  // a marker that is a link to nothing marks nothing (borg asks whether the path exists)
  await symlink(join(data, "nowhere"), join(data, "dangling", ".nobackup"));
  await link(join(data, "hard", "one"), join(data, "hard", "two"));
  await mkdir(join(data, "links"));
  await symlink(join(data, "docs", "a.txt"), join(data, "links", "to-file"));
  await symlink(join(data, "docs"), join(data, "links", "to-folder"));
  expect(spawnSync("mkfifo", [join(data, "docs", "fifo")]).status).toBe(0);
  await client.init({ encryption: "repokey" });
}, 60_000);

afterAll(async () => {
  await root?.remove();
});

/** The regular files an archive holds, as `borg list` shows them (a hard link's other names have a mode starting with h). */
async function stored(archive: string): Promise<{ originalSize: number; nfiles: number }> {
  const { value: items } = await client.listItems(archive, []);
  const files = items.filter(item => item.type === "-" && !item.mode.startsWith("h"));
  return { originalSize: files.reduce((sum, item) => sum + (item.size ?? 0), 0), nfiles: files.length };
}

const cases: { name: string; options: () => Omit<PrescanOptions, "skip" | "signal"> }[] = [
  {
    name: "patterns normalised and [] sets, markers by path, hard links, links and a FIFO",
    options: () => ({
      sources: [data],
      excludes: ["*.tmp", `${data}//cache`, `${data}/./brackets/[]^]`],
      excludeIfPresent: [".nobackup", "x/mark"],
    }),
  },
  {
    name: "sources given twice, one inside another, and a link as a source",
    options: () => ({
      sources: [join(data, "docs"), `${data}/`, join(data, "links", "to-folder"), data],
      excludes: [],
      excludeIfPresent: [".nobackup"],
    }),
  },
  {
    name: "a pattern with a trailing / keeps the folder and leaves out what is in it",
    options: () => ({ sources: [data], excludes: [`${data}/docs/`, "fm:*/big"], excludeIfPresent: [] }),
  },
];

describe("the pre-scan finds what borg create stores", () => {
  cases.forEach(({ name, options }, index) => {
    it(name, async () => {
      const walk = options();
      const archive = `case-${index}`;
      const { value: created } = await client.create({
        archive,
        paths: walk.sources,
        compression: "none",
        excludes: walk.excludes,
        excludeIfPresent: walk.excludeIfPresent,
      });
      const expected = await stored(archive);
      // borg's own count agrees with its listing: a hard link's second name is no file read
      expect(created.archive.stats.nfiles).toBe(expected.nfiles);
      expect(expected.nfiles).toBeGreaterThan(0);
      expect(await prescan({ ...walk, skip: [repository] })).toEqual(expected);
    });
  });
});
