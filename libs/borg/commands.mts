/**
 * borg commands as data: each builder returns the argv, the environment, and a parser
 * of the output. Nothing here spawns a process; the runner alone does. Here: the repository
 * and its archives (version, init, create, list, info, extract, delete); prune, compact,
 * check and break-lock are in maintenance.mts.
 */
import { archiveLocation, type BorgCommand, type BorgRepository, prefixGlob } from "./command.mjs";
import { jsonParser, option, repositoryCommand } from "./command-builder.mjs";
import { borgError } from "./errors.mjs";
import { type ArchiveItem, type CreateResult, type InfoResult, type ListResult, rawArchiveItemSchema, rawCreateOutputSchema, rawInfoOutputSchema, rawListOutputSchema, toArchiveItem, toCreateResult, toInfoResult, toListResult } from "./schemas.mjs";
import { type BorgVersion, parseVersion } from "./version.mjs";

/** `borg --version`. */
export function versionCommand(): BorgCommand<BorgVersion> {
  return {
    command: "version",
    args: ["--version"],
    env: {},
    passphraseTransport: "env",
    parse: ({ stdout }) => parseVersion(stdout),
  };
}

/** Encryption modes of `borg init`. */
export type EncryptionMode =
  | "none"
  | "authenticated"
  | "authenticated-blake2"
  | "repokey"
  | "keyfile"
  | "repokey-blake2"
  | "keyfile-blake2";

/** Options of `borg init`. */
export interface InitOptions {
  encryption: EncryptionMode;
  appendOnly?: boolean;
  /** e.g. `500G`. */
  storageQuota?: string;
  makeParentDirs?: boolean;
}

/** `borg init`. */
export function initCommand(repository: BorgRepository, options: InitOptions): BorgCommand<void> {
  const args = ["--encryption", options.encryption];
  if (options.appendOnly) args.push("--append-only");
  option(args, "--storage-quota", options.storageQuota);
  if (options.makeParentDirs) args.push("--make-parent-dirs");
  args.push(repository.location);
  return repositoryCommand(repository, "init", args, () => undefined);
}

/** Options of `borg create`. */
export interface CreateOptions {
  archive: string;
  paths: readonly string[];
  /** e.g. `lz4`, `zstd,3`, `auto,zstd`. */
  compression?: string;
  /** Patterns that include, given before every exclude so that none of them can exclude what they match (`--pattern +pp:…`). */
  includes?: readonly string[];
  /** `--exclude` patterns. */
  excludes?: readonly string[];
  /** A file of exclude patterns, one a line (`--exclude-from`). */
  excludeFrom?: string;
  /** Marker files: a folder holding one is skipped. Default `[".nobackup"]`; `[]` for none. */
  excludeIfPresent?: readonly string[];
  excludeCaches?: boolean;
  oneFileSystem?: boolean;
  /** `--checkpoint-interval` seconds. */
  checkpointIntervalSeconds?: number;
  /** `--upload-ratelimit` in KiB/s. */
  uploadRateLimitKiB?: number;
  /** Emit a file_status event per file (`--list --filter AME`). */
  listFiles?: boolean;
  /** Read the contents of devices and FIFOs (`--read-special`), e.g. a database dump piped in. */
  readSpecial?: boolean;
  comment?: string;
  /** The archive's time instead of now (`--timestamp`, UTC): for importing old data, and for tests. */
  timestamp?: Date;
  /** borg's working directory: relative paths are read from it and stored as they are given. */
  cwd?: string;
}

/** `borg create --json` with live progress on stderr. */
export function createCommand(repository: BorgRepository, options: CreateOptions): BorgCommand<CreateResult> {
  if (options.paths.length === 0) throw new Error("borg create needs at least one path");
  const args = ["--progress", "--json"];
  option(args, "--compression", options.compression);
  // borg applies the first pattern that matches, in the order given
  for (const pattern of options.includes ?? []) args.push("--pattern", `+${pattern}`);
  for (const pattern of options.excludes ?? []) args.push("--exclude", pattern);
  option(args, "--exclude-from", options.excludeFrom);
  for (const marker of options.excludeIfPresent ?? [".nobackup"]) args.push("--exclude-if-present", marker);
  if (options.excludeCaches) args.push("--exclude-caches");
  if (options.oneFileSystem) args.push("--one-file-system");
  option(args, "--checkpoint-interval", options.checkpointIntervalSeconds);
  option(args, "--upload-ratelimit", options.uploadRateLimitKiB);
  if (options.listFiles) args.push("--list", "--filter", "AME");
  if (options.readSpecial) args.push("--read-special");
  option(args, "--comment", options.comment);
  // borg reads a naive --timestamp as UTC
  option(args, "--timestamp", options.timestamp?.toISOString().replace(/\.\d{3}Z$/, ""));
  args.push(archiveLocation(repository, options.archive), ...options.paths);
  return repositoryCommand(
    repository,
    "create",
    args,
    jsonParser("create", rawCreateOutputSchema, toCreateResult),
    { archive: options.archive, cwd: options.cwd },
  );
}

/** Options of `borg list` over a repository. */
export interface ListOptions {
  /** Only archives whose name starts with this. */
  prefix?: string;
  /** Include `.checkpoint` archives. */
  considerCheckpoints?: boolean;
  /** Only the last N (after filtering). */
  last?: number;
  /**
   * Read without taking the repository's lock (`--bypass-lock`), for a repository another
   * process holds locked. A read only: what it lists may be mid-change.
   */
  bypassLock?: boolean;
}

/** `borg list --json`: the archives of a repository. */
export function listCommand(repository: BorgRepository, options: ListOptions = {}): BorgCommand<ListResult> {
  const args = ["--json"];
  if (options.bypassLock) args.push("--bypass-lock");
  if (options.prefix !== undefined) args.push("--glob-archives", prefixGlob(options.prefix));
  if (options.considerCheckpoints) args.push("--consider-checkpoints");
  option(args, "--last", options.last);
  args.push(repository.location);
  return repositoryCommand(repository, "list", args, jsonParser("list", rawListOutputSchema, toListResult));
}

/**
 * Parse `--json-lines` output: one item per line. A line that is not an item is an error
 * that names the line number, never a silent drop.
 */
export function parseArchiveItems(stdout: string, exitCode = 0): ArchiveItem[] {
  const items: ArchiveItem[] = [];
  for (const [index, line] of stdout.split("\n").entries()) {
    if (line.trim().length === 0) continue;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      json = undefined;
    }
    const parsed = rawArchiveItemSchema.safeParse(json);
    if (!parsed.success) {
      throw borgError("unknown", { command: "list", exitCode, details: [`line ${index + 1} of borg list --json-lines is not an archive item`] });
    }
    items.push(toArchiveItem(parsed.data));
  }
  return items;
}

/**
 * `borg list --json-lines REPO::ARCHIVE [PATTERN...]`: the items of one archive. Each
 * pattern is a path prefix as stored (`home/me`, no leading slash) or carries a borg
 * pattern style (`sh:…` shell-style, `fm:…` fnmatch, `re:…` regex, `pp:…` path prefix, `pf:…` full path).
 */
export function listItemsCommand(
  repository: BorgRepository,
  archive: string,
  paths: readonly string[] = [],
): BorgCommand<ArchiveItem[]> {
  const args = ["--json-lines", archiveLocation(repository, archive), ...paths];
  return repositoryCommand(repository, "list", args, ({ stdout, exitCode }) => parseArchiveItems(stdout, exitCode), { archive });
}

/** Options of `borg info`. */
export interface InfoOptions {
  /** One archive; otherwise the repository (with `last` / `prefix`: those archives too). */
  archive?: string;
  prefix?: string;
  last?: number;
}

/** `borg info --json`: repository totals, and archive details when asked. */
export function infoCommand(repository: BorgRepository, options: InfoOptions = {}): BorgCommand<InfoResult> {
  const args = ["--json"];
  if (options.prefix !== undefined) args.push("--glob-archives", prefixGlob(options.prefix));
  option(args, "--last", options.last);
  args.push(options.archive === undefined ? repository.location : archiveLocation(repository, options.archive));
  return repositoryCommand(repository, "info", args, jsonParser("info", rawInfoOutputSchema, toInfoResult), {
    archive: options.archive,
  });
}

/**
 * `borg delete REPO::ARCHIVE`: deletes one archive, named exactly (never a glob, never the
 * repository). The drone uses it only for an archive it has just created and found empty.
 */
export function deleteArchiveCommand(repository: BorgRepository, archive: string): BorgCommand<void> {
  if (archive.length === 0) throw new Error("deleting an archive needs its exact name");
  return repositoryCommand(repository, "delete", [archiveLocation(repository, archive)], () => undefined, { archive });
}

/** Options of `borg extract`. */
export interface ExtractOptions {
  archive: string;
  /** The folder to extract into (borg extracts into its working directory). */
  target: string;
  /** Only these paths (as stored in the archive, without leading slash). */
  paths?: readonly string[];
  dryRun?: boolean;
  stripComponents?: number;
  /** Emit a file_status event per file. */
  listFiles?: boolean;
}

/** `borg extract` into a target folder. */
export function extractCommand(repository: BorgRepository, options: ExtractOptions): BorgCommand<void> {
  const args = ["--progress"];
  if (options.dryRun) args.push("--dry-run");
  if (options.listFiles) args.push("--list");
  option(args, "--strip-components", options.stripComponents);
  args.push(archiveLocation(repository, options.archive), ...(options.paths ?? []));
  return repositoryCommand(repository, "extract", args, () => undefined, {
    archive: options.archive,
    cwd: options.target,
  });
}

/**
 * `borg extract --stdout REPO::ARCHIVE PATH`: one file's contents on stdout, nothing written to
 * disk. Its value is the text of stdout when the runner keeps it (a small file, e.g. a dump's
 * manifest); with the runner's `stdout` option the bytes stream there instead (a dump into its
 * database tool) and the value is empty.
 */
export function extractStdoutCommand(repository: BorgRepository, archive: string, path: string): BorgCommand<string> {
  if (path.length === 0 || path.startsWith("/")) throw new Error("extract --stdout needs one path as stored in the archive (no leading slash)");
  return repositoryCommand(repository, "extract", ["--stdout", archiveLocation(repository, archive), path], ({ stdout }) => stdout, { archive });
}
