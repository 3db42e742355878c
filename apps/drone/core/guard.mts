/**
 * The prune guard: the checks that stand between a new archive and `borg prune`.
 *
 * Prune ages out old archives by count and date; it cannot tell a good new archive from a
 * bad one. An unmounted disk, a typo in SOURCES, a folder wiped by mistake or a home folder
 * encrypted by ransomware all produce an archive that borg reports as fine, and the prune
 * that follows would then delete the real backups one rule at a time. So before prune runs,
 * the new archive is compared with the drone's previous one and with what the sources looked
 * like then; anything suspicious holds prune (every archive is kept) until a person has
 * looked and released the hold.
 *
 * The decisions are pure functions; `inspectSources` is the only part that touches the disk.
 */
import { constants } from "node:fs";
import { access, lstat, opendir } from "node:fs/promises";

import { type PruneHold } from "../../../libs/protocol/index.mjs";
import { borgPath } from "./borg-walk.mjs";

/** What a configured source looked like when a backup started. */
export const SOURCE_STATES = ["present", "missing", "empty", "unreadable", "link"] as const;
/** One source state. */
export type SourceState = (typeof SOURCE_STATES)[number];

/** Each configured source and its state, in configuration order. */
export type SourceReport = readonly { path: string; state: SourceState }[];

/** The guard's settings (from the configuration). */
export interface GuardSettings {
  /** Hold prune on a suspicious archive (the all-sources-missing check always applies). */
  enabled: boolean;
  /** Hold when the file count or the original size fell by more than this percentage. */
  shrinkPercent: number;
  /** Hold when new data is more than this percentage of the archive's compressed size… */
  changePercent: number;
  /** …and at least this many bytes (small archives churn their metadata on every run). */
  changeMinBytes: number;
}

/** What the guard compares: an archive's statistics. */
export interface ArchiveFigures {
  name: string;
  nfiles: number;
  originalSize: number;
  compressedSize?: number;
  deduplicatedSize?: number;
}

/** Why prune is held (each a sentence for people), or nothing when the archive looks right. */
export type GuardReasons = string[];

const describeState: Record<Exclude<SourceState, "present">, string> = {
  missing: "missing",
  empty: "an empty folder",
  unreadable: "unreadable",
  link: "a symbolic link, which borg stores as a link without what it points to: put the path it points to in SOURCES",
};

/**
 * The state of one source: a missing path, an empty folder (an unmounted mount point looks
 * like one), one this process cannot read, or a symbolic link (borg keeps a source that is a
 * link as the link itself, so nothing it points to is backed up).
 */
async function sourceState(path: string): Promise<SourceState> {
  const info = await lstat(borgPath(path)).catch((error: NodeJS.ErrnoException) => error);
  if (info instanceof Error) return info.code === "ENOENT" || info.code === "ENOTDIR" ? "missing" : "unreadable";
  if (info.isSymbolicLink()) return "link";
  if (!info.isDirectory()) {
    return (await access(path, constants.R_OK).then(() => true, () => false)) ? "present" : "unreadable";
  }
  const dir = await opendir(path).catch(() => undefined);
  if (!dir) return "unreadable";
  try {
    const first = await dir.read();
    return first === null ? "empty" : "present";
  } finally {
    await dir.close().catch(() => undefined);
  }
}

/** Look at every configured source (cheap: one stat and at most one directory entry each). */
export async function inspectSources(paths: readonly string[]): Promise<SourceReport> {
  return Promise.all(paths.map(async path => ({ path, state: await sourceState(path) })));
}

/** `/mnt/photos (missing), /home/x (an empty folder)`. */
export function describeSources(report: SourceReport): string {
  return report
    .filter(source => source.state !== "present")
    .map(source => `${source.path} (${describeState[source.state as Exclude<SourceState, "present">]})`)
    .join(", ");
}

/**
 * Before a backup: the reason to refuse it when no source has anything to back up, else
 * undefined. An archive of nothing would be recorded as a fresh backup and, once pruned
 * against, would push real backups out of the keep rules.
 */
export function nothingToBackUp(report: SourceReport, options: { dumps?: boolean } = {}): string | undefined {
  // with dumps, an archive of links still holds the dumps: the links are warned of, not refused
  if (report.some(source => source.state === "present" || (options.dumps === true && source.state === "link"))) return undefined;
  return (
    `no source has anything to back up: ${describeSources(report)}; nothing was backed up and no archive was pruned. ` +
    "Mount the disk or fix SOURCES, then run the backup again"
  );
}

/** Sources that had content at the previous backup and have none now. */
export function vanishedSources(before: SourceReport | null, now: SourceReport): SourceReport {
  if (!before) return [];
  const hadContent = new Set(before.filter(source => source.state === "present").map(source => source.path));
  return now.filter(source => source.state !== "present" && hadContent.has(source.path));
}

const percent = (value: number) => `${Math.round(value)} %`;

/** How far a figure fell, in percent of its previous value (0 when it did not fall). */
const fallPercent = (previous: number, now: number) => (previous > 0 && now < previous ? ((previous - now) / previous) * 100 : 0);

/** The dumps of a new archive, for the guard. */
export interface ArchiveDumps {
  /** What the state recorded: the dumps earlier archives hold (see {@link dumpsHeldAfter}). */
  expected: readonly string[];
  /** Every configured dump with how it went in this run (a failed one is not in the archive). */
  results: readonly { name: string; outcome: string; error: string | null }[];
}

/** Dumps that earlier archives hold, still configured, and missing from the new archive, with why. */
export function missingDumps(dumps: ArchiveDumps): { name: string; error: string | null }[] {
  return dumps.results.filter(result => result.outcome !== "success" && dumps.expected.includes(result.name)).map(({ name, error }) => ({ name, error }));
}

/**
 * The dumps recorded after an archive: those it holds, and those earlier archives hold that
 * are still configured and failed now (a dump taken out of DUMPS is dropped: no hold for it).
 */
export function dumpsHeldAfter(dumps: ArchiveDumps): string[] {
  const held = dumps.results.filter(result => result.outcome === "success").map(result => result.name);
  const missing = missingDumps(dumps).map(result => result.name);
  return [...new Set([...held, ...missing])].sort();
}

/**
 * After a backup: why prune must wait, comparing the new archive with the drone's previous
 * one. Empty when the archive looks right, when the guard is off, or for a first backup
 * (nothing older of this drone is there to lose).
 */
export function judgeArchive(input: {
  settings: GuardSettings;
  previous: ArchiveFigures | null;
  current: ArchiveFigures;
  sourcesBefore: SourceReport | null;
  sourcesNow: SourceReport;
  dumps?: ArchiveDumps;
}): GuardReasons {
  const { settings, previous, current } = input;
  if (!settings.enabled) return [];
  const reasons: GuardReasons = [];
  const vanished = vanishedSources(input.sourcesBefore, input.sourcesNow);
  if (vanished.length > 0) reasons.push(`sources that had files at the previous backup are now ${describeSources(vanished)}`);
  for (const dump of input.dumps ? missingDumps(input.dumps) : []) {
    reasons.push(
      `the dump ${dump.name} is not in this archive (${dump.error ?? "it failed"}) but earlier archives hold it: pruned against, archives without it would age them out; ` +
        `fix the dump, or take it out of DUMPS if it is gone for good`,
    );
  }
  if (!previous) return reasons;
  const filesFell = fallPercent(previous.nfiles, current.nfiles);
  if (filesFell > settings.shrinkPercent) {
    reasons.push(
      `the file count fell by ${percent(filesFell)} (${previous.nfiles} in ${previous.name}, ${current.nfiles} now; the limit is ${settings.shrinkPercent} %)`,
    );
  }
  const sizeFell = fallPercent(previous.originalSize, current.originalSize);
  if (sizeFell > settings.shrinkPercent) {
    reasons.push(
      `the size read fell by ${percent(sizeFell)} (${previous.originalSize} B in ${previous.name}, ${current.originalSize} B now; the limit is ${settings.shrinkPercent} %)`,
    );
  }
  const compressed = current.compressedSize ?? 0;
  const added = current.deduplicatedSize ?? 0;
  if (compressed > 0 && added >= settings.changeMinBytes && (added / compressed) * 100 > settings.changePercent) {
    reasons.push(
      `${percent((added / compressed) * 100)} of the archive is new data (${added} B of ${compressed} B; the limit is ${settings.changePercent} %): ` +
        "many files changed at once, as when files are encrypted by ransomware",
    );
  }
  return reasons;
}

/**
 * The message of a held prune: what to do first (Home Assistant shows 255 characters of it),
 * then why.
 */
export function holdMessage(reasons: readonly string[]): string {
  return (
    "prune held, every archive kept; look at the newest archive (`backup-drone list`, `find`) and, if it is right, " +
    `release with \`backup-drone release\` or the Release Prune Hold button. Why: ${reasons.join("; ")}`
  );
}

/** Most reasons a hold keeps (the first ones: a later suspicious archive adds to them). */
export const MAX_HOLD_REASONS = 10;

/**
 * The hold after a suspicious archive: a new one, or the standing one with this archive's
 * reasons added (a release then clears what the person was shown, all of it).
 */
export function addToHold(hold: PruneHold | null, archive: string, reasons: readonly string[], now: string): PruneHold {
  const named = reasons.map(reason => (hold ? `${archive}: ${reason}` : reason).slice(0, 500));
  if (!hold) return { since: now, archive, reasons: named.slice(0, MAX_HOLD_REASONS) };
  return { ...hold, reasons: [...hold.reasons, ...named].slice(0, MAX_HOLD_REASONS) };
}
