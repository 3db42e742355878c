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
