/**
 * What the drone remembers of its archives (the newest names, for the Restore Archive choice;
 * the repository totals), and the reads that need no queue: this drone's archives, and the
 * versions of a file among them.
 */
import { type ArchiveListEntry, type BorgClient, type RepositoryTotals } from "../../../libs/borg/index.mjs";
import { borgPattern, findVersions, type FoundVersion } from "./find.mjs";
import { type StateStore } from "./state.mjs";

/** How many archive names the Restore Archive choice offers. */
export const RECENT_ARCHIVES = 20;

/** What to look for among this drone's archives. */
export interface FindQuery {
  /** A file name, a path (leading slash optional), a shell pattern, or a borg pattern with its style. */
  pattern: string;
  /** At most this many versions. */
  versions?: number;
  /** Only archives made before this moment. */
  olderThan?: Date;
}

/** The repository totals the state file keeps. */
export const storedTotals = (totals: RepositoryTotals) => ({
  totalSize: totals.totalSize,
  compressedSize: totals.totalCompressedSize,
  deduplicatedSize: totals.deduplicatedSize,
});

/** Remember this drone's newest archive names (the Restore Archive options); notifies on a change. */
export async function rememberArchives(store: StateStore, notify: () => void, newestFirst: readonly string[]): Promise<void> {
  const recent = newestFirst.slice(0, RECENT_ARCHIVES);
  if (JSON.stringify(recent) === JSON.stringify(store.get().recentArchives)) return;
  await store.update(state => void (state.recentArchives = recent));
  notify();
}

/** This drone's archives in the primary repository, newest first; the recent names are remembered. */
export async function listArchives(client: BorgClient, store: StateStore, notify: () => void, archivePrefix: string): Promise<ArchiveListEntry[]> {
  const run = await client.list({ prefix: archivePrefix });
  const newestFirst = [...run.value.archives].reverse();
  await rememberArchives(store, notify, newestFirst.map(archive => archive.name));
  return newestFirst;
}

/** Which of the given archives (newest first) hold paths matching a query, as versions, newest first. */
export async function findInArchives(client: BorgClient, archives: readonly ArchiveListEntry[], query: FindQuery): Promise<FoundVersion[]> {
  const pattern = borgPattern(query.pattern);
  const candidates = archives.filter(archive => query.olderThan === undefined || archive.start < query.olderThan);
  return await findVersions({
    archives: candidates,
    list: async archive => (await client.listItems(archive, [pattern])).value,
    versions: query.versions,
  });
}
