import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { makeTestRepository, type TestRepository } from "../../helpers/borg.mjs";
import { writeRandomFiles } from "../../helpers/fs.mjs";

describe("prune scoped to an archive-name prefix", () => {
  let repo: TestRepository;
  const names = ["alpha-1", "beta-1", "alpha-2", "beta-2", "alpha-3"];

  beforeAll(async () => {
    repo = await makeTestRepository();
    const source = join(repo.root, "data");
    await writeRandomFiles(source, 4, 64 * 1024);
    for (const archive of names) await repo.client.create({ archive, paths: [source] });
  });

  afterAll(async () => {
    await repo?.remove();
  });

  it("a dry run reports what would go and deletes nothing", async () => {
    const run = await repo.client.prune({ prefix: "alpha-", keep: { last: 1 }, dryRun: true });
    expect(run.value.dryRun).toBe(true);
    expect(run.value.pruned.sort()).toEqual(["alpha-1", "alpha-2"]);
    expect(run.value.kept).toEqual([{ archive: "alpha-3", rule: "secondly #1" }]);
    const list = (await repo.client.list()).value;
    expect(list.archives.map(archive => archive.name)).toEqual(names);
  });

  it("prunes only the prefix's archives and leaves the other prefix untouched", async () => {
    const run = await repo.client.prune({ prefix: "alpha-", keep: { last: 1 } });
    expect(run.value.pruned.sort()).toEqual(["alpha-1", "alpha-2"]);
    const left = (await repo.client.list()).value.archives.map(archive => archive.name);
    expect(left).toEqual(["beta-1", "beta-2", "alpha-3"]);
    expect((await repo.client.list({ prefix: "beta-" })).value.archives.map(archive => archive.name)).toEqual([
      "beta-1",
      "beta-2",
    ]);
  });

  it("compact then frees the pruned space and the repository checks clean", async () => {
    const before = (await repo.client.info()).value.totals;
    await repo.client.compact();
    const check = await repo.client.check();
    expect(check.value.healthy).toBe(true);
    const after = (await repo.client.info()).value.totals;
    expect(after.totalSize).toBeLessThanOrEqual(before.totalSize);
  });
});

describe("the quarterly keep rules of borg 1.4", () => {
  let repo: TestRepository;
  const days = ["2026-01-10", "2026-02-20", "2026-04-05", "2026-05-30", "2026-07-15", "2026-09-01", "2026-10-20"];

  beforeAll(async () => {
    repo = await makeTestRepository();
    const source = join(repo.root, "data");
    await writeRandomFiles(source, 1, 4 * 1024);
    for (const day of days) await repo.client.create({ archive: `q-${day}`, paths: [source], timestamp: new Date(`${day}T02:00:00Z`) });
  });

  afterAll(async () => {
    await repo?.remove();
  });

  it("on 1.4 prune keeps one archive a quarter and names the rule; on 1.2 the rule is refused before borg starts", async () => {
    const version = await repo.client.version();
    if (version.minor < 4) {
      await expect(repo.client.prune({ prefix: "q-", keep: { quarterly13Weekly: 2 }, dryRun: true })).rejects.toThrow("--keep-13weekly needs borg 1.4 or newer");
      expect((await repo.client.list()).value.archives).toHaveLength(days.length);
      return;
    }
    const weekly = await repo.client.prune({ prefix: "q-", keep: { quarterly13Weekly: 2 }, dryRun: true });
    expect(weekly.value.kept).toEqual([
      { archive: "q-2026-10-20", rule: "quarterly_13weekly #1" },
      { archive: "q-2026-09-01", rule: "quarterly_13weekly #2" },
    ]);
    const monthly = await repo.client.prune({ prefix: "q-", keep: { quarterly3Monthly: 3, daily: 1 } });
    expect(monthly.value.kept.map(kept => kept.rule)).toEqual(["daily #1", "quarterly_3monthly #1", "quarterly_3monthly #2", "quarterly_3monthly #3"]);
    const left = (await repo.client.list()).value.archives.map(archive => archive.name);
    expect(left).toEqual(monthly.value.kept.map(kept => kept.archive).sort());
    expect(left).toHaveLength(4);
  });
});
