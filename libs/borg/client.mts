/**
 * A borg client bound to one repository: the command builders and the runner together,
 * with the installed version detected once and its feature gates applied.
 */
import { type Writable } from "node:stream";

import { type BorgCommand, type BorgRepository } from "./command.mjs";
import {
  createCommand,
  type CreateOptions,
  deleteArchiveCommand,
  extractCommand,
  type ExtractOptions,
  extractStdoutCommand,
  infoCommand,
  type InfoOptions,
  initCommand,
  type InitOptions,
  listCommand,
  listItemsCommand,
  type ListOptions,
  versionCommand,
} from "./commands.mjs";
import {
  breakLockCommand,
  checkCommand,
  type CheckOptions,
  type CheckResult,
  compactCommand,
  type CompactOptions,
  pruneCommand,
  type PruneOptions,
  type PruneResult,
} from "./maintenance.mjs";
import { type BorgRun, resolveBinary, runBorg, type RunOptions } from "./runner.mjs";
import { type ArchiveItem, type CreateResult, type InfoResult, type ListResult } from "./schemas.mjs";
import {
  assertSupported,
  binaryIdentity,
  type BorgFeatures,
  type BorgVersion,
  featuresOf,
  readCachedVersion,
  writeCachedVersion,
} from "./version.mjs";

/** Per-call options: cancellation and progress. */
export type CallOptions = Pick<RunOptions, "signal" | "terminate" | "parentDeathSignal" | "onEvent" | "inactivityTimeoutMs" | "onSpawn">;

/** What to extract to stdout, and where the bytes go (kept as the value's text when `to` is not given). */
export interface ExtractStdoutOptions {
  archive: string;
  /** One path as stored in the archive. */
  path: string;
  /** Stream the bytes here (never ended by the client). */
  to?: Writable;
}

/** How the client runs borg, for every call. */
export type ClientOptions = Omit<RunOptions, "signal" | "terminate" | "parentDeathSignal" | "onEvent" | "onSpawn"> & {
  /**
   * A file where the detected borg version is remembered between processes, keyed by the
   * binary's path, size, mtime, ctime and inode (and detected again after a day): a
   * short-lived process then skips `borg --version`, a whole borg start. Without it the
   * version is detected once per client.
   */
  versionCacheFile?: string;
};

/** A borg client for one repository. */
export interface BorgClient {
  readonly repository: BorgRepository;
  /** The installed borg version (detected once, checked to be 1.2–1.4). */
  version(): Promise<BorgVersion>;
  features(): Promise<BorgFeatures>;
  init(options: InitOptions, call?: CallOptions): Promise<BorgRun<void>>;
  create(options: CreateOptions, call?: CallOptions): Promise<BorgRun<CreateResult>>;
  list(options?: ListOptions, call?: CallOptions): Promise<BorgRun<ListResult>>;
  listItems(archive: string, paths?: readonly string[], call?: CallOptions): Promise<BorgRun<ArchiveItem[]>>;
  info(options?: InfoOptions, call?: CallOptions): Promise<BorgRun<InfoResult>>;
  prune(options: Omit<PruneOptions, "features">, call?: CallOptions): Promise<BorgRun<PruneResult>>;
  compact(options?: CompactOptions, call?: CallOptions): Promise<BorgRun<void>>;
  check(options?: CheckOptions, call?: CallOptions): Promise<BorgRun<CheckResult>>;
  breakLock(call?: CallOptions): Promise<BorgRun<void>>;
  /** Delete one archive by its exact name. */
  deleteArchive(archive: string, call?: CallOptions): Promise<BorgRun<void>>;
  extract(options: ExtractOptions, call?: CallOptions): Promise<BorgRun<void>>;
  /** One file of an archive on stdout (`borg extract --stdout`): its text, or streamed to `to`. */
  extractStdout(options: ExtractStdoutOptions, call?: CallOptions): Promise<BorgRun<string>>;
}

function run<T>(command: BorgCommand<T>, client: Omit<ClientOptions, "versionCacheFile">, call: CallOptions = {}): Promise<BorgRun<T>> {
  return runBorg(command, { ...client, ...call });
}

/** `borg --version`, or what the cache file remembers for this very binary. */
async function detectVersion(binary: string | undefined, cacheFile: string | undefined): Promise<BorgVersion> {
  if (cacheFile === undefined) return (await runBorg(versionCommand(), { binary })).value;
  const path = await resolveBinary(binary, "version");
  const identity = await binaryIdentity(path).catch(() => undefined);
  const cached = identity ? await readCachedVersion(cacheFile, identity) : undefined;
  if (cached) return cached;
  const { value } = await runBorg(versionCommand(), { binary: path });
  // a cache that cannot be written only costs the next process a `borg --version`
  if (identity) await writeCachedVersion(cacheFile, identity, value).catch(() => undefined);
  return value;
}

/** Bind a repository and run options into a client. */
export function createBorgClient(repository: BorgRepository, clientOptions: ClientOptions = {}): BorgClient {
  const { versionCacheFile, ...options } = clientOptions;
  let detected: Promise<BorgVersion> | undefined;
  const version = () => {
    detected ??= detectVersion(options.binary, versionCacheFile).then(value => {
      assertSupported(value);
      return value;
    });
    detected.catch(() => (detected = undefined));
    return detected;
  };
  const features = async () => featuresOf(await version());

  return {
    repository,
    version,
    features,
    init: (init, call) => run(initCommand(repository, init), options, call),
    create: (create, call) => run(createCommand(repository, create), options, call),
    list: (list, call) => run(listCommand(repository, list), options, call),
    listItems: (archive, paths, call) => run(listItemsCommand(repository, archive, paths), options, call),
    info: (info, call) => run(infoCommand(repository, info), options, call),
    prune: async (prune, call) => run(pruneCommand(repository, { ...prune, features: await features() }), options, call),
    compact: (compact, call) => run(compactCommand(repository, compact), options, call),
    check: (check, call) => run(checkCommand(repository, check), options, call),
    breakLock: call => run(breakLockCommand(repository), options, call),
    deleteArchive: (archive, call) => run(deleteArchiveCommand(repository, archive), options, call),
    extract: (extract, call) => run(extractCommand(repository, extract), options, call),
    extractStdout: ({ archive, path, to }, call) => run(extractStdoutCommand(repository, archive, path), { ...options, ...(to ? { stdout: to } : {}) }, call),
  };
}
