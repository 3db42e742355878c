/**
 * zod schemas of the JSON results borg 1.2 / 1.4 prints on stdout (`--json`, `--json-lines`),
 * and their normalisation into camelCase domain types with real dates. Raw schemas mirror
 * borg's own field names; nothing outside this file sees snake_case. The stderr log lines
 * are in log-lines.mts.
 */
import dayjs from "dayjs";
import { z } from "zod";

/** borg prints naive local timestamps (1.2) or ISO with offset (1.4); both become a Date. */
const borgTimestamp = z.string().transform((value, ctx) => {
  const parsed = dayjs(value);
  if (!parsed.isValid()) {
    ctx.addIssue({ code: "custom", message: `not a borg timestamp: ${value}` });
    return z.NEVER;
  }
  return parsed.toDate();
});

const rawArchiveStats = z.object({
  original_size: z.number(),
  compressed_size: z.number(),
  deduplicated_size: z.number(),
  nfiles: z.number(),
});

const rawCacheStats = z.object({
  total_chunks: z.number(),
  total_csize: z.number(),
  total_size: z.number(),
  total_unique_chunks: z.number(),
  unique_csize: z.number(),
  unique_size: z.number(),
});

const rawRepository = z.object({
  id: z.string(),
  last_modified: borgTimestamp,
  location: z.string(),
});

const rawEncryption = z.object({ mode: z.string() });

const rawCache = z.object({ path: z.string().optional(), stats: rawCacheStats });

const rawArchiveDetail = z.object({
  name: z.string(),
  id: z.string(),
  start: borgTimestamp,
  end: borgTimestamp,
  duration: z.number(),
  stats: rawArchiveStats,
  hostname: z.string().optional(),
  username: z.string().optional(),
  comment: z.string().optional(),
  command_line: z.array(z.string()).optional(),
});

/** `borg create --json` stdout. */
export const rawCreateOutputSchema = z.object({
  archive: rawArchiveDetail,
  cache: rawCache,
  encryption: rawEncryption,
  repository: rawRepository,
});

/** `borg info --json` stdout, for the repository or for archives. */
export const rawInfoOutputSchema = z.object({
  archives: z.array(rawArchiveDetail).optional(),
  cache: rawCache,
  encryption: rawEncryption,
  repository: rawRepository,
});

/** `borg list --json` stdout (archives of a repository). */
export const rawListOutputSchema = z.object({
  archives: z.array(
    z.object({
      archive: z.string().optional(),
      name: z.string(),
      id: z.string(),
      start: borgTimestamp,
      time: borgTimestamp,
      barchive: z.string().optional(),
    }),
  ),
  encryption: rawEncryption,
  repository: rawRepository,
});

/** One line of `borg list --json-lines REPO::ARCHIVE`. */
export const rawArchiveItemSchema = z.object({
  type: z.string(),
  mode: z.string(),
  path: z.string(),
  size: z.number().optional(),
  mtime: borgTimestamp.optional(),
  healthy: z.boolean().optional(),
  source: z.string().optional(),
  user: z.string().optional(),
  group: z.string().optional(),
});

/** Sizes of one archive. */
export interface ArchiveStats {
  originalSize: number;
  compressedSize: number;
  deduplicatedSize: number;
  nfiles: number;
}

/** An archive with its statistics (create, info). */
export interface ArchiveDetail {
  name: string;
  id: string;
  start: Date;
  end: Date;
  durationSeconds: number;
  stats: ArchiveStats;
  hostname?: string;
}

/** Repository-wide totals from borg's cache. */
export interface RepositoryTotals {
  /** Sum of the original sizes of all archives. */
  totalSize: number;
  /** Sum of the compressed sizes of all archives. */
  totalCompressedSize: number;
  /** Size of the unique chunks after compression: what the repository really takes on disk. */
  deduplicatedSize: number;
  /** Original size of the unique chunks. */
  uniqueSize: number;
  totalChunks: number;
  uniqueChunks: number;
}

/** Where the repository is and how it is encrypted. */
export interface RepositoryInfo {
  id: string;
  location: string;
  lastModified: Date;
  encryption: string;
}

/** Result of `borg create`. */
export interface CreateResult {
  archive: ArchiveDetail;
  totals: RepositoryTotals;
  repository: RepositoryInfo;
}

/** Result of `borg info`. */
export interface InfoResult {
  archives: ArchiveDetail[];
  totals: RepositoryTotals;
  repository: RepositoryInfo;
}

/** One archive in `borg list`. */
export interface ArchiveListEntry {
  name: string;
  id: string;
  start: Date;
}

/** Result of `borg list`. */
export interface ListResult {
  archives: ArchiveListEntry[];
  repository: RepositoryInfo;
}

/** One file or directory inside an archive. */
export interface ArchiveItem {
  type: string;
  mode: string;
  path: string;
  size?: number;
  mtime?: Date;
}

function toArchiveDetail(raw: z.infer<typeof rawArchiveDetail>): ArchiveDetail {
  return {
    name: raw.name,
    id: raw.id,
    start: raw.start,
    end: raw.end,
    durationSeconds: raw.duration,
    stats: {
      originalSize: raw.stats.original_size,
      compressedSize: raw.stats.compressed_size,
      deduplicatedSize: raw.stats.deduplicated_size,
      nfiles: raw.stats.nfiles,
    },
    hostname: raw.hostname,
  };
}

function toTotals(raw: z.infer<typeof rawCacheStats>): RepositoryTotals {
  return {
    totalSize: raw.total_size,
    totalCompressedSize: raw.total_csize,
    deduplicatedSize: raw.unique_csize,
    uniqueSize: raw.unique_size,
    totalChunks: raw.total_chunks,
    uniqueChunks: raw.total_unique_chunks,
  };
}

function toRepository(
  raw: z.infer<typeof rawRepository>,
  encryption: z.infer<typeof rawEncryption>,
): RepositoryInfo {
  return {
    id: raw.id,
    location: raw.location,
    lastModified: raw.last_modified,
    encryption: encryption.mode,
  };
}

/** Normalise `borg create --json`. */
export function toCreateResult(raw: z.infer<typeof rawCreateOutputSchema>): CreateResult {
  return {
    archive: toArchiveDetail(raw.archive),
    totals: toTotals(raw.cache.stats),
    repository: toRepository(raw.repository, raw.encryption),
  };
}

/** Normalise `borg info --json`. */
export function toInfoResult(raw: z.infer<typeof rawInfoOutputSchema>): InfoResult {
  return {
    archives: (raw.archives ?? []).map(toArchiveDetail),
    totals: toTotals(raw.cache.stats),
    repository: toRepository(raw.repository, raw.encryption),
  };
}

/** Normalise `borg list --json`. */
export function toListResult(raw: z.infer<typeof rawListOutputSchema>): ListResult {
  return {
    archives: raw.archives.map(archive => ({
      name: archive.name,
      id: archive.id,
      start: archive.start,
    })),
    repository: toRepository(raw.repository, raw.encryption),
  };
}

/** Normalise one `--json-lines` archive item. */
export function toArchiveItem(raw: z.infer<typeof rawArchiveItemSchema>): ArchiveItem {
  return { type: raw.type, mode: raw.mode, path: raw.path, size: raw.size, mtime: raw.mtime };
}
