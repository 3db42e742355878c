import { mkdir } from "node:fs/promises";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { type ArchiveProgress, type BorgEvent, type CreateResult } from "../../../libs/borg/index.mjs";
import { makeTestRepository, type TestRepository } from "../../helpers/borg.mjs";
import { fileHashes, writeRandomFiles } from "../../helpers/fs.mjs";

const MiB = 1024 * 1024;

describe("borg client against a real repository: create, list, info, extract, compact, check", () => {
  let repo: TestRepository;
  let source: string;
  let dataSize: number;
  let first: CreateResult;
  let second: CreateResult;
  const firstEvents: { event: BorgEvent; at: number }[] = [];
  let firstEndedAt = 0;

  beforeAll(async () => {
    repo = await makeTestRepository();
    source = join(repo.root, "data");
    dataSize = await writeRandomFiles(source, 64, 4 * MiB);
    const run = await repo.client.create(
      { archive: "host1-first", paths: [source], compression: "lz4" },
      { onEvent: event => firstEvents.push({ event, at: Date.now() }) },
    );
    firstEndedAt = Date.now();
    first = run.value;
    second = (await repo.client.create({ archive: "host1-second", paths: [source], compression: "lz4" })).value;
  });

  afterAll(async () => {
    await repo?.remove();
  });

  it("stores the whole source in the first archive", () => {
    expect(first.archive.name).toBe("host1-first");
    // borg counts the archive's own metadata stream on top of the file contents
    expect(first.archive.stats.originalSize).toBeGreaterThanOrEqual(dataSize);
    expect(first.archive.stats.originalSize).toBeLessThan(dataSize + MiB);
    expect(first.archive.stats.nfiles).toBe(64);
    // random data cannot compress or deduplicate much
    expect(first.archive.stats.deduplicatedSize).toBeGreaterThan(dataSize * 0.9);
    expect(first.archive.start).toBeInstanceOf(Date);
    expect(first.archive.end.getTime()).toBeGreaterThanOrEqual(first.archive.start.getTime());
    expect(first.repository.encryption).toBe("repokey");
  });

  it("deduplicates the second archive against the first", () => {
    expect(second.archive.stats.originalSize).toBeGreaterThanOrEqual(dataSize);
    expect(second.archive.stats.deduplicatedSize).toBeLessThan(dataSize * 0.01);
    expect(second.totals.deduplicatedSize).toBeLessThan(first.totals.deduplicatedSize * 1.01);
  });

  it("streams archive progress while borg runs, with growing counters and a final line", () => {
    const progress = firstEvents
      .filter((entry): entry is { event: ArchiveProgress; at: number } => entry.event.type === "archive_progress");
    const running = progress.filter(entry => !entry.event.finished);
    expect(running.length).toBeGreaterThanOrEqual(3);
    // delivered before the run ended, not replayed afterwards
    expect(running[0]!.at).toBeLessThan(firstEndedAt);
    const sizes = running.map(entry => entry.event.originalSize ?? -1);
    expect(sizes.every(size => size >= 0)).toBe(true);
    expect([...sizes].sort((a, b) => a - b)).toEqual(sizes);
    expect(sizes.at(-1)).toBeLessThanOrEqual(dataSize);
    expect(progress.at(-1)?.event.finished).toBe(true);
  });

  it("lists both archives, and info totals agree with create's statistics", async () => {
    const list = (await repo.client.list()).value;
    expect(list.archives.map(archive => archive.name)).toEqual(["host1-first", "host1-second"]);

    const info = (await repo.client.info()).value;
    // the repository totals after the last create are what info reports
    expect(info.totals).toEqual(second.totals);
    // both archives hold the full source once each
    expect(info.totals.totalSize).toBeGreaterThanOrEqual(2 * dataSize);

    const last = (await repo.client.info({ last: 1 })).value;
    expect(last.archives).toHaveLength(1);
    expect(last.archives[0]?.name).toBe("host1-second");
    const archive = last.archives[0]!;
    expect(archive.id).toBe(second.archive.id);
    expect(archive.start).toEqual(second.archive.start);
    expect(archive.stats.nfiles).toBe(second.archive.stats.nfiles);
    // info counts the file contents; create's figure adds the metadata stream written at the end
    expect(archive.stats.originalSize).toBe(dataSize);
    expect(second.archive.stats.originalSize - archive.stats.originalSize).toBeLessThan(MiB);
  });

  it("lists the items of an archive", async () => {
    const items = (await repo.client.listItems("host1-first")).value;
    const files = items.filter(item => item.type === "-");
    expect(files).toHaveLength(64);
    expect(files.every(file => file.size === 4 * MiB)).toBe(true);
  });

  it("extracts a subset of an archive byte for byte", async () => {
    const target = join(repo.root, "restored");
    await mkdir(target);
    const stored = source.replace(/^\//, "");
    const wanted = [`${stored}/file-00000.bin`, `${stored}/file-00063.bin`];
    const run = await repo.client.extract({ archive: "host1-first", target, paths: wanted });
    expect(run.outcome).toBe("success");
    const restored = await fileHashes(target);
    const original = await fileHashes(source);
    expect(Object.keys(restored).sort()).toEqual(wanted);
    expect(restored[wanted[0] ?? ""]).toBe(original["file-00000.bin"]);
    expect(restored[wanted[1] ?? ""]).toBe(original["file-00063.bin"]);
  });

  it("compacts and checks the repository", async () => {
    const compact = await repo.client.compact();
    expect(compact.outcome).toBe("success");
    const check = await repo.client.check({ verifyData: true, last: 1 });
    expect(check.value).toEqual({ healthy: true, problems: [] });
  });
});
