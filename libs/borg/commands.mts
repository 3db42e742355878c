/**
 * borg commands as data: each builder returns the argv, the environment, and a parser
 * of the output. Nothing here spawns a process; the runner alone does.
 */
import { z } from "zod";

import { borgError } from "./errors.mjs";
import {
  type ArchiveItem,
  type CreateResult,
  type InfoResult,
  type ListResult,
  type LogMessage,
  rawArchiveItemSchema,
  rawCreateOutputSchema,
  rawInfoOutputSchema,
  rawListOutputSchema,
  toArchiveItem,
  toCreateResult,
  toInfoResult,
  toListResult,
} from "./schemas.mjs";
import { type Secret } from "./secret.mjs";
import { effectiveRsh, isRemote, shellWord, type SshHostKeyPolicy } from "./ssh.mjs";
import { type BorgFeatures, type BorgVersion, parseVersion } from "./version.mjs";

/** Where borg gets the repository passphrase from. */
export type PassphraseSource =
  | { kind: "passphrase"; value: Secret }
  | { kind: "file"; path: string }
  | { kind: "command"; command: string };

/** A repository and how to reach it: everything shared by the commands run against it. */
export interface BorgRepository {
  /** Path or URL (`/srv/borg`, `ssh://user@host:22/./repo`). */
  location: string;
  passphrase?: PassphraseSource;
  /** How a passphrase or passphrase file reaches borg; default `fd` (never visible in /proc/PID/environ). */
  passphraseTransport?: "fd" | "env";
  /** BORG_RSH, e.g. `ssh -i /root/.ssh/borg`; the client appends options so that ssh never asks (see ssh.mts). */
  rsh?: string;
  /** Whether ssh accepts a host not yet in known_hosts (`accept-new`) or refuses it (`known`, the default). */
  sshHostKeyPolicy?: SshHostKeyPolicy;
  /** `--remote-path`: the borg binary on the remote host. */
  remotePath?: string;
  /** BORG_BASE_DIR: where borg keeps its cache, config and security data. */
  baseDir?: string;
  /** BORG_HOST_ID: a stable host id for lock ownership (containers). */
  hostId?: string;
  /** `--lock-wait` seconds (borg's default is 1). */
  lockWaitSeconds?: number;
  /** Answer yes to "the repository was moved" (BORG_RELOCATED_REPO_ACCESS_IS_OK). */
  allowRelocated?: boolean;
  /** Answer yes to "unknown unencrypted repository" (BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK). */
  allowUnknownUnencrypted?: boolean;
}

/** What a command's parser receives from the runner. */
export interface BorgOutput {
  stdout: string;
  exitCode: number;
  /** Every log_message line borg wrote, in order. */
  logs: readonly LogMessage[];
}

/** One borg invocation, as data. */
export interface BorgCommand<T> {
  /** The borg subcommand, for messages (`create`, `list`, …). */
  readonly command: string;
  /** argv after the borg binary. Never holds a secret. */
  readonly args: readonly string[];
  /** Environment variables for borg (no secrets; the runner adds the passphrase). */
  readonly env: Readonly<Record<string, string>>;
  readonly passphrase?: PassphraseSource;
  readonly passphraseTransport: "fd" | "env";
  /** Working directory (extract writes into it). */
  readonly cwd?: string;
  /** For messages: the repository and archive this command names. */
  readonly repository?: string;
  readonly archive?: string;
  /** For a lock timeout's message: `borg break-lock` for this repository, as a person must paste it. */
  readonly breakLockLine?: string;
  readonly parse: (output: BorgOutput) => T;
}

const yesNo = (value: boolean | undefined) => (value ? "yes" : "no");

/**
 * Environment for a repository; unattended answers are always explicit. A remote repository's
 * ssh runs with options that make it fail at once rather than ask (see {@link effectiveRsh}).
 */
export function repositoryEnv(repository: BorgRepository): Record<string, string> {
  const env: Record<string, string> = {
    BORG_EXIT_CODES: "modern",
    BORG_DISPLAY_PASSPHRASE: "no",
    BORG_RELOCATED_REPO_ACCESS_IS_OK: yesNo(repository.allowRelocated),
    BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: yesNo(repository.allowUnknownUnencrypted),
    BORG_CHECK_I_KNOW_WHAT_I_AM_DOING: "NO",
    BORG_DELETE_I_KNOW_WHAT_I_AM_DOING: "NO",
  };
  if (isRemote(repository.location)) env.BORG_RSH = effectiveRsh(repository.rsh, repository.sshHostKeyPolicy);
  else if (repository.rsh !== undefined) env.BORG_RSH = repository.rsh;
  if (repository.baseDir !== undefined) env.BORG_BASE_DIR = repository.baseDir;
  if (repository.hostId !== undefined) env.BORG_HOST_ID = repository.hostId;
  return env;
}

/**
 * `borg break-lock` for a repository as a person must paste it on this machine: with the
 * drone's BORG_BASE_DIR, its BORG_RSH (ssh command, key, options) and `--remote-path` when it is remote. No
 * passphrase: break-lock reads no key.
 */
export function breakLockLine(repository: BorgRepository): string {
  const remote = isRemote(repository.location);
  const words: string[] = [];
  // break-lock also frees borg's cache lock, which lives under the drone's BORG_BASE_DIR
  if (repository.baseDir !== undefined) words.push(`BORG_BASE_DIR=${shellWord(repository.baseDir)}`);
  if (remote && repository.rsh !== undefined) words.push(`BORG_RSH=${shellWord(repository.rsh)}`);
  words.push("borg", "break-lock");
  if (remote && repository.remotePath !== undefined) words.push("--remote-path", shellWord(repository.remotePath));
  words.push(shellWord(repository.location));
  return words.join(" ");
}

/** Options every repository command shares, placed after the subcommand. */
export function commonArgs(repository: BorgRepository): string[] {
  const args = ["--log-json"];
  if (repository.lockWaitSeconds !== undefined) args.push("--lock-wait", String(repository.lockWaitSeconds));
  if (repository.remotePath !== undefined) args.push("--remote-path", repository.remotePath);
  return args;
}

/** `REPO::ARCHIVE`. */
export const archiveLocation = (repository: BorgRepository, archive: string) =>
  `${repository.location}::${archive}`;

/**
 * A glob that matches archive names starting with `prefix` and nothing else: the
 * prefix's own glob characters are escaped so that a name can never widen the match.
 */
export function prefixGlob(prefix: string): string {
  if (prefix.length === 0) throw new Error("an archive prefix must not be empty");
  return `${prefix.replace(/[*?[\]]/g, char => `[${char}]`)}*`;
}

/** Push `--flag value` when the value is set. */
function option(args: string[], flag: string, value: string | number | undefined): void {
  if (value !== undefined) args.push(flag, String(value));
}

function jsonParser<S extends z.ZodType, T>(command: string, schema: S, normalise: (raw: z.infer<S>) => T) {
  return ({ stdout, exitCode }: BorgOutput): T => {
    let json: unknown;
    try {
      json = JSON.parse(stdout);
    } catch {
      throw borgError("unknown", { command, exitCode, details: ["borg printed no JSON result"] });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw borgError("unknown", {
        command,
        exitCode,
        details: [`unexpected JSON from borg: ${z.prettifyError(parsed.error)}`],
      });
    }
    return normalise(parsed.data);
  };
}

function repositoryCommand<T>(
  repository: BorgRepository,
  command: string,
  args: string[],
  parse: (output: BorgOutput) => T,
  extra: { archive?: string; cwd?: string } = {},
): BorgCommand<T> {
  return {
    command,
    args: [command, ...commonArgs(repository), ...args],
    env: repositoryEnv(repository),
    passphrase: repository.passphrase,
    passphraseTransport: repository.passphraseTransport ?? "fd",
    repository: repository.location,
    breakLockLine: breakLockLine(repository),
    ...extra,
    parse,
  };
}

// ---------------------------------------------------------------- commands

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
  /** `--exclude` patterns. */
  excludes?: readonly string[];
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
}

/** `borg create --json` with live progress on stderr. */
export function createCommand(repository: BorgRepository, options: CreateOptions): BorgCommand<CreateResult> {
  if (options.paths.length === 0) throw new Error("borg create needs at least one path");
  const args = ["--progress", "--json"];
  option(args, "--compression", options.compression);
  for (const pattern of options.excludes ?? []) args.push("--exclude", pattern);
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
    { archive: options.archive },
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

/** Retention rules of prune (`--keep-*`). */
export interface KeepRules {
  /** borg interval, e.g. `14d`, `6m`, `1y`. */
  within?: string;
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
  /** 1.4 only. */
  quarterly13Weekly?: number;
  /** 1.4 only. */
  quarterly3Monthly?: number;
}

/** Options of `borg prune`. Scoping by prefix is mandatory. */
export interface PruneOptions {
  /** Only archives whose names start with this are considered; others are never touched. */
  prefix: string;
  keep: KeepRules;
  dryRun?: boolean;
  /** The features of the installed borg (for the 1.4-only rules). */
  features?: BorgFeatures;
}

/** What prune kept and removed (or would remove, in a dry run). */
export interface PruneResult {
  kept: { archive: string; rule: string }[];
  pruned: string[];
  dryRun: boolean;
}

const KEEP_FLAGS: readonly [keyof KeepRules, string][] = [
  ["within", "--keep-within"],
  ["last", "--keep-last"],
  ["hourly", "--keep-hourly"],
  ["daily", "--keep-daily"],
  ["weekly", "--keep-weekly"],
  ["monthly", "--keep-monthly"],
  ["yearly", "--keep-yearly"],
  ["quarterly13Weekly", "--keep-13weekly"],
  ["quarterly3Monthly", "--keep-3monthly"],
];

/** borg's `--keep-within` syntax, unanchored (for patterns that embed it): a positive number and a unit (H hours, d, w, m, y). */
export const KEEP_WITHIN_SYNTAX = "[1-9][0-9]*[Hdwmy]";
/** borg's `--keep-within` syntax: a positive number and a unit (H hours, d, w, m, y). */
export const KEEP_WITHIN_PATTERN = new RegExp(`^${KEEP_WITHIN_SYNTAX}$`);

const KEEPING = /^Keeping archive \(rule: (.+?)\):\s+(\S+)/;
const PRUNING = /^(?:Pruning archive(?: \(\d+\/\d+\))?|Would prune):\s+(\S+)/;

/** Read prune's `--list` lines. */
export function parsePruneList(logs: readonly LogMessage[], dryRun: boolean): PruneResult {
  const result: PruneResult = { kept: [], pruned: [], dryRun };
  for (const log of logs) {
    const keeping = KEEPING.exec(log.message);
    if (keeping?.[1] !== undefined && keeping[2] !== undefined) {
      result.kept.push({ rule: keeping[1], archive: keeping[2] });
      continue;
    }
    const pruning = PRUNING.exec(log.message);
    if (pruning?.[1] !== undefined) result.pruned.push(pruning[1]);
  }
  return result;
}

/** `borg prune --list`, scoped to one archive-name prefix. */
export function pruneCommand(repository: BorgRepository, options: PruneOptions): BorgCommand<PruneResult> {
  const args = ["--progress", "--list"];
  if (options.dryRun) args.push("--dry-run");
  args.push("--glob-archives", prefixGlob(options.prefix));
  let rules = 0;
  for (const [key, flag] of KEEP_FLAGS) {
    const value = options.keep[key];
    if (value === undefined) continue;
    if (key === "within" && !KEEP_WITHIN_PATTERN.test(String(value))) {
      throw new Error(`keep within must look like 14d, 6m or 1y (got ${JSON.stringify(value)})`);
    }
    if ((key === "quarterly13Weekly" || key === "quarterly3Monthly") && !options.features?.quarterlyKeepRules) {
      throw new Error(`${flag} needs borg 1.4 or newer`);
    }
    if (typeof value === "number" && value <= 0) continue;
    args.push(flag, String(value));
    rules++;
  }
  if (rules === 0) throw new Error("prune needs at least one keep rule; without one borg would refuse to run");
  args.push(repository.location);
  return repositoryCommand(repository, "prune", args, ({ logs }) => parsePruneList(logs, options.dryRun ?? false));
}

/** Options of `borg compact`. */
export interface CompactOptions {
  /** Only compact segments with at least this percentage of freeable space (borg default 10). */
  thresholdPercent?: number;
}

/** `borg compact`: frees the space prune released. */
export function compactCommand(repository: BorgRepository, options: CompactOptions = {}): BorgCommand<void> {
  const args = ["--progress"];
  option(args, "--threshold", options.thresholdPercent);
  args.push(repository.location);
  return repositoryCommand(repository, "compact", args, () => undefined);
}

/** Options of `borg check`. */
export interface CheckOptions {
  /** `repository` (segments only), `archives` (metadata only), or `all` (default). */
  scope?: "repository" | "archives" | "all";
  /** Read and verify every data chunk (slow). */
  verifyData?: boolean;
  /** Only the last N archives. */
  last?: number;
  /** Only archives whose name starts with this. */
  prefix?: string;
  /** One archive. */
  archive?: string;
}

/** What a check found. */
export interface CheckResult {
  /** True when borg found no problem (exit 0). */
  healthy: boolean;
  /** Warning and error lines borg reported. */
  problems: string[];
}

/** `borg check`. A damaged repository is a result (healthy: false), not a throw. */
export function checkCommand(repository: BorgRepository, options: CheckOptions = {}): BorgCommand<CheckResult> {
  const args = ["--progress"];
  if (options.scope === "repository") args.push("--repository-only");
  if (options.scope === "archives") args.push("--archives-only");
  if (options.verifyData) args.push("--verify-data");
  option(args, "--last", options.last);
  if (options.prefix !== undefined) args.push("--glob-archives", prefixGlob(options.prefix));
  args.push(options.archive === undefined ? repository.location : archiveLocation(repository, options.archive));
  return repositoryCommand(
    repository,
    "check",
    args,
    ({ exitCode, logs }) => ({
      healthy: exitCode === 0,
      problems: logs.filter(log => log.level === "WARNING" || log.level === "ERROR").map(log => log.message),
    }),
    { archive: options.archive },
  );
}

/**
 * `borg delete REPO::ARCHIVE`: deletes one archive, named exactly (never a glob, never the
 * repository). The drone uses it only for an archive it has just created and found empty.
 */
export function deleteArchiveCommand(repository: BorgRepository, archive: string): BorgCommand<void> {
  if (archive.length === 0) throw new Error("deleting an archive needs its exact name");
  return repositoryCommand(repository, "delete", [archiveLocation(repository, archive)], () => undefined, { archive });
}

/** `borg break-lock`: removes a stale lock. Only when no borg uses the repository. */
export function breakLockCommand(repository: BorgRepository): BorgCommand<void> {
  return repositoryCommand(repository, "break-lock", [repository.location], () => undefined);
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
