/**
 * The special files of the sources: FIFOs, character and block devices, and symbolic links to
 * them. With `--read-special` (which the dumps need) borg opens and reads them as if they were
 * files: a FIFO nobody writes to would hang the backup, and a device would be read whole. So
 * when dumps are configured they are found first and excluded (an exclude file, one `pf:` pattern
 * a line), as borg without `--read-special` would store them: as what they are, without content
 * — here, not at all. Sockets need nothing: borg always skips them.
 */
import { type Dirent, lstatSync, readdirSync, type Stats, statSync } from "node:fs";
import { join } from "node:path";

import { excludeMatcher } from "../prescan.mjs";

/** Where to look, as borg create walks it. */
export interface SpecialFileScan {
  sources: readonly string[];
  /** EXCLUDES: a folder borg excludes is not walked (only `fm:` patterns, borg's default style, are read; a pattern of another style only costs a longer walk). */
  excludes: readonly string[];
  excludeIfPresent: readonly string[];
  /** ONE_FILE_SYSTEM: do not walk into another file system than the source's. */
  oneFileSystem: boolean;
  signal?: AbortSignal;
}

/** What the walk found. */
export interface SpecialFiles {
  /** Absolute paths of the special files (and of the links to them) borg would open. */
  paths: string[];
  /** Entries walked, for the log. */
  walked: number;
}

/** File-system calls between two yields to the event loop. */
const SLICE = 256;

const isSpecial = (stats: Stats) => stats.isFIFO() || stats.isCharacterDevice() || stats.isBlockDevice();

/**
 * Walk the sources for special files. Synchronous calls in slices (an awaited call per file
 * costs several times the call itself); a file that vanishes or cannot be read is passed over,
 * as borg passes over it with a warning.
 */
export async function findSpecialFiles(scan: SpecialFileScan): Promise<SpecialFiles> {
  const matchers = scan.excludes.filter(pattern => !/^(sh|re|pp|pf|[+\-!] )/.test(pattern)).map(excludeMatcher);
  const excluded = (path: string) => matchers.some(match => match(path));
  const found: string[] = [];
  let walked = 0;
  // each entry carries the device of its source, for ONE_FILE_SYSTEM
  const pending: { path: string; device: number | undefined }[] = [...scan.sources].reverse().map(path => ({ path, device: undefined }));
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (scan.signal?.aborted) break;
    if (++walked % SLICE === 0) await new Promise(resolve => setImmediate(resolve));
    const { path } = next;
    if (excluded(path)) continue;
    let stats: Stats;
    try {
      stats = lstatSync(path);
    } catch {
      continue;
    }
    if (isSpecial(stats)) {
      found.push(path);
      continue;
    }
    if (stats.isSymbolicLink()) {
      // borg follows a link to a special file with --read-special
      try {
        if (isSpecial(statSync(path))) found.push(path);
      } catch {
        // a dangling link is stored as a link
      }
      continue;
    }
    if (!stats.isDirectory()) continue;
    const device = next.device ?? stats.dev;
    if (scan.oneFileSystem && stats.dev !== device) continue;
    let entries: Dirent[];
    try {
      entries = readdirSync(path, { withFileTypes: true });
    } catch {
      continue;
    }
    if (entries.some(entry => scan.excludeIfPresent.includes(entry.name))) continue;
    for (let index = entries.length - 1; index >= 0; index--) {
      const entry = entries[index]!;
      // a regular file needs no lstat: the directory entry says what it is
      if (entry.isFile()) continue;
      pending.push({ path: join(path, entry.name), device });
    }
  }
  return { paths: found, walked };
}

/**
 * The exclude file's text: one full-path pattern a line. A name with a line break cannot be
 * written as a line: it is returned apart, for the run to refuse rather than hang.
 */
export function excludeFileText(paths: readonly string[]): { text: string; unwritable: string[] } {
  const lines: string[] = [];
  const unwritable: string[] = [];
  for (const path of paths) {
    if (/[\r\n]/.test(path)) unwritable.push(path);
    else lines.push(`pf:${path}`);
  }
  return { text: lines.map(line => `${line}\n`).join(""), unwritable };
}
