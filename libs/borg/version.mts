/** borg version detection and the features that differ between 1.2 and 1.4. */
import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

import { z } from "zod";

import { borgError } from "./errors.mjs";

/** A parsed `borg --version`. */
export interface BorgVersion {
  major: number;
  minor: number;
  patch: number;
  /** The version as borg printed it, e.g. `1.2.4`. */
  text: string;
}

/** What the client may use with a given borg. */
export interface BorgFeatures {
  /** `BORG_EXIT_CODES=modern`: specific exit codes per error (1.4). */
  modernExitCodes: boolean;
  /** `--keep-13weekly` and `--keep-3monthly` in prune (1.4). */
  quarterlyKeepRules: boolean;
}

const VERSION_PATTERN = /^borg(?:\.exe)?\s+(\d+)\.(\d+)\.(\d+)\S*/m;

/** Parse the output of `borg --version`; throws for text that is not a borg version. */
export function parseVersion(output: string): BorgVersion {
  const match = VERSION_PATTERN.exec(output.trim());
  if (!match) throw new Error(`cannot read a borg version from ${JSON.stringify(output.slice(0, 80))}`);
  const [text, major, minor, patch] = match;
  return {
    major: Number(major),
    minor: Number(minor),
    patch: Number(patch),
    text: text.replace(/^borg(?:\.exe)?\s+/, ""),
  };
}

const atLeast = (version: BorgVersion, major: number, minor: number) =>
  version.major > major || (version.major === major && version.minor >= minor);

/** The supported range is 1.2.x to 1.4.x; anything else is refused with a clear message. */
export function assertSupported(version: BorgVersion): void {
  if (version.major !== 1 || version.minor < 2 || version.minor > 4) {
    throw borgError("unsupported_version", { command: "version", details: [version.text] });
  }
}

/** The feature gates of a version. */
export function featuresOf(version: BorgVersion): BorgFeatures {
  return {
    modernExitCodes: atLeast(version, 1, 4),
    quarterlyKeepRules: atLeast(version, 1, 4),
  };
}

/**
 * What identifies an installed borg binary without running it. A package upgrade or a
 * reinstall replaces the file, which changes its inode and ctime even when size and mtime
 * are carried over from the package.
 */
export interface BinaryIdentity {
  path: string;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
}

/** A remembered version is used for this long at most, then detected again. */
export const VERSION_CACHE_MAX_AGE_MS = 24 * 60 * 60 * 1000;

const identitySchema = z.object({
  path: z.string(),
  size: z.number(),
  mtimeMs: z.number(),
  ctimeMs: z.number(),
  ino: z.number(),
});

const cacheFileSchema = z.object({
  v: z.literal(1),
  entries: z.array(
    z.object({
      binary: identitySchema,
      detectedAt: z.number(),
      version: z.object({ major: z.number().int(), minor: z.number().int(), patch: z.number().int(), text: z.string() }),
    }),
  ),
});

type CacheFile = z.infer<typeof cacheFileSchema>;

/** The identity of the binary at `path` (an absolute path, as resolved on PATH). */
export async function binaryIdentity(path: string): Promise<BinaryIdentity> {
  const stats = await stat(path);
  return { path, size: stats.size, mtimeMs: stats.mtimeMs, ctimeMs: stats.ctimeMs, ino: stats.ino };
}

const sameBinary = (a: BinaryIdentity, b: BinaryIdentity) =>
  a.path === b.path && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino;

async function readCacheFile(file: string): Promise<CacheFile> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, "utf8"));
  } catch {
    return { v: 1, entries: [] };
  }
  const parsed = cacheFileSchema.safeParse(json);
  return parsed.success ? parsed.data : { v: 1, entries: [] };
}

/**
 * The version remembered for this very binary, if it was detected less than
 * {@link VERSION_CACHE_MAX_AGE_MS} ago. A missing, unreadable or foreign file is no entry.
 */
export async function readCachedVersion(file: string, binary: BinaryIdentity, now = Date.now()): Promise<BorgVersion | undefined> {
  const cache = await readCacheFile(file);
  const entry = cache.entries.find(candidate => sameBinary(candidate.binary, binary));
  if (!entry || now - entry.detectedAt > VERSION_CACHE_MAX_AGE_MS || entry.detectedAt > now) return undefined;
  return entry.version;
}

/** Remember a detected version (replacing any entry for the same path); written atomically. */
export async function writeCachedVersion(file: string, binary: BinaryIdentity, version: BorgVersion, now = Date.now()): Promise<void> {
  const cache = await readCacheFile(file);
  const entries = cache.entries.filter(entry => entry.binary.path !== binary.path);
  entries.push({ binary, detectedAt: now, version });
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify({ v: 1, entries } satisfies CacheFile)}\n`, { mode: 0o600 });
  await rename(temporary, file);
}
