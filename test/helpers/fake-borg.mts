/**
 * A borg client that runs no borg: each command is a function the test gives, and every call
 * is recorded (command and options). A command the test did not give fails the call, so a
 * test sees at once when the engine runs more than it expects.
 */
import {
  type ArchiveDetail,
  type BorgClient,
  type BorgRun,
  type CreateResult,
  type InfoResult,
  type ListResult,
  type RepositoryTotals,
} from "../../libs/borg/index.mjs";

/** The commands a fake client can be given. */
export type FakeCommands = Partial<Omit<BorgClient, "repository">>;

/** A fake client and what was called on it, in order. */
export interface FakeBorg {
  client: BorgClient;
  calls: { command: string; args: unknown[] }[];
}

/** A successful run of a value, as the real runner returns it. */
export const ran = <T,>(value: T, warnings: string[] = []): BorgRun<T> => ({
  value,
  outcome: warnings.length > 0 ? "warning" : "success",
  exitCode: warnings.length > 0 ? 1 : 0,
  warnings: warnings.map(message => ({ type: "log_message", time: new Date(), level: "WARNING", logger: "borg", message })),
  notes: [],
  durationMs: 1,
});

const totals: RepositoryTotals = { totalSize: 10, totalCompressedSize: 8, deduplicatedSize: 5, uniqueSize: 6, totalChunks: 3, uniqueChunks: 2 };
/** The repository every fake command describes. */
export const fakeRepository = { id: "0".repeat(64), location: "/fake", lastModified: new Date(0), encryption: "repokey" };
const repository = fakeRepository;

/** An archive as create and info describe it. */
export const archiveDetail = (name: string, nfiles = 3): ArchiveDetail => ({
  name,
  id: "1".repeat(64),
  start: new Date(),
  end: new Date(),
  durationSeconds: 1,
  stats: { originalSize: 100, compressedSize: 80, deduplicatedSize: 10, nfiles },
});

/** Commands that succeed like a healthy repository with no archive of this drone yet. */
export const healthyCommands = (): FakeCommands => ({
  create: options => Promise.resolve(ran<CreateResult>({ archive: archiveDetail(options.archive), totals, repository })),
  info: () => Promise.resolve(ran<InfoResult>({ archives: [], totals, repository })),
  list: () => Promise.resolve(ran<ListResult>({ archives: [], repository })),
  prune: () => Promise.resolve(ran({ kept: [], pruned: [], dryRun: false })),
  compact: () => Promise.resolve(ran(undefined)),
  check: () => Promise.resolve(ran({ healthy: true, problems: [] })),
});

/** A fake client with these commands; every call is recorded before the command runs. */
export function fakeBorg(commands: FakeCommands): FakeBorg {
  const calls: FakeBorg["calls"] = [];
  const command =
    <K extends keyof FakeCommands>(name: K) =>
    async (...args: unknown[]): Promise<never> => {
      calls.push({ command: name, args });
      const given = commands[name] as ((...args: unknown[]) => Promise<never>) | undefined;
      if (!given) throw new Error(`the test expected no borg ${name}`);
      return await given(...args);
    };
  const client = {
    repository: { location: "/fake" },
    version: command("version"),
    features: command("features"),
    init: command("init"),
    create: command("create"),
    list: command("list"),
    listItems: command("listItems"),
    info: command("info"),
    prune: command("prune"),
    compact: command("compact"),
    check: command("check"),
    breakLock: command("breakLock"),
    deleteArchive: command("deleteArchive"),
    extract: command("extract"),
    extractStdout: command("extractStdout"),
  } satisfies BorgClient;
  return { client, calls };
}
