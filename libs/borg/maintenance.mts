/**
 * borg commands that keep a repository in shape, as data: prune (always scoped to one
 * archive-name prefix), compact, check, and break-lock.
 */
import { archiveLocation, type BorgCommand, type BorgRepository, prefixGlob } from "./command.mjs";
import { option, repositoryCommand } from "./command-builder.mjs";
import type { LogMessage } from "./log-lines.mjs";
import { type BorgFeatures } from "./version.mjs";

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
  /** 1.4 only: one archive per 13-week quarter; not together with `quarterly3Monthly`. */
  quarterly13Weekly?: number;
  /** 1.4 only: one archive per 3-month quarter; not together with `quarterly13Weekly`. */
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
  // borg 1.4 accepts one of the two quarterly strategies, never both (a usage error)
  if ((options.keep.quarterly13Weekly ?? 0) > 0 && (options.keep.quarterly3Monthly ?? 0) > 0) {
    throw new Error("--keep-13weekly and --keep-3monthly cannot be combined (borg 1.4 accepts one quarterly rule): keep one of them");
  }
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

/** `borg break-lock`: removes a stale lock. Only when no borg uses the repository. */
export function breakLockCommand(repository: BorgRepository): BorgCommand<void> {
  // break-lock removes lock files only: it reads neither the manifest nor the key
  return repositoryCommand(repository, "break-lock", [repository.location], () => undefined, { readsKey: false });
}
