/**
 * Measure the sources before a first backup, honouring the excludes the way borg reads
 * them, so that the first run has a progress estimate too.
 */
import { type Dirent, lstatSync, readdirSync, type Stats } from "node:fs";
import { normalize } from "node:path";

import type { Expectation } from "./estimate.mjs";

/**
 * borg's default `fm:` exclude pattern as a regex: `*` and `?` match any character including
 * `/`, the pattern must match the whole path or a leading part of it up to a `/`, and paths
 * are compared without their leading `/`.
 */
export function excludeMatcher(pattern: string): (path: string) => boolean {
  let body = pattern.replace(/^fm:/, "").replace(/^\/+/, "");
  if (body.endsWith("/")) body += "*";
  let regex = "";
  for (let index = 0; index < body.length; index++) {
    const char = body[index]!;
    if (char === "*") regex += ".*";
    else if (char === "?") regex += ".";
    else if (char === "[") {
      const end = body.indexOf("]", index + 1);
      if (end < 0) regex += "\\[";
      else {
        const set = body.slice(index + 1, end).replace(/^!/, "^").replace(/\\/g, "\\\\");
        regex += `[${set}]`;
        index = end;
      }
    } else regex += char.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  const compiled = new RegExp(`^${regex}(?:/|$)`, "s");
  return path => compiled.test(path.replace(/^\/+/, ""));
}

/** Options of a pre-scan. */
export interface PrescanOptions {
  sources: readonly string[];
  excludes: readonly string[];
  excludeIfPresent: readonly string[];
  signal?: AbortSignal;
}

/** File-system calls between two yields to the event loop (a few milliseconds of work). */
const SLICE = 256;

/** A source as borg walks it: normalised, without a trailing `/` (borg normalises its paths too). */
function sourcePath(source: string): string {
  const path = normalize(source);
  return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
}

/**
 * Walk the sources and add up the sizes and the number of regular files borg would read.
 * It runs beside borg, so it must cost little: synchronous calls (an awaited call per file
 * costs several times the CPU of the call itself), in slices that leave the event loop free
 * for borg's progress lines in between; one `lstat` per regular file and one `readdir` per
 * folder, the type of every other entry taken from its folder's listing; child paths joined
 * by hand (`path.join` normalises each one again). Symbolic links, devices and sockets are not
 * read by borg (without `--read-special`), so they count nothing.
 */
export async function prescan(options: PrescanOptions): Promise<Expectation> {
  const matchers = options.excludes.filter(pattern => !/^(sh|re|pp|pf):/.test(pattern)).map(excludeMatcher);
  const excluded = matchers.length === 0 ? () => false : (path: string) => matchers.some(match => match(path));
  const total: Expectation = { originalSize: 0, nfiles: 0 };
  const folders: string[] = [];
  let calls = 0;
  const slice = async () => {
    if (++calls % SLICE === 0) await new Promise(resolve => setImmediate(resolve));
  };
  const count = (stats: Stats | undefined) => {
    if (!stats?.isFile()) return;
    total.originalSize += stats.size;
    total.nfiles += 1;
  };
  const walk = async () => {
    for (let folder = folders.pop(); folder !== undefined; folder = folders.pop()) {
      if (options.signal?.aborted) return;
      await slice();
      let entries: Dirent[];
      try {
        entries = readdirSync(folder, { withFileTypes: true });
      } catch {
        continue;
      }
      if (entries.some(entry => options.excludeIfPresent.includes(entry.name))) continue;
      const prefix = folder === "/" ? "/" : `${folder}/`;
      for (const entry of entries) {
        const path = prefix + entry.name;
        if (entry.isDirectory()) {
          if (!excluded(path)) folders.push(path);
        } else if (entry.isFile() && !excluded(path)) {
          if (options.signal?.aborted) return;
          await slice();
          try {
            count(lstatSync(path, { throwIfNoEntry: false }));
          } catch {
            // unreadable: borg reports it, the estimate leaves it out
          }
        }
      }
    }
  };
  for (const source of options.sources) {
    const path = sourcePath(source);
    if (options.signal?.aborted) break;
    if (excluded(path)) continue;
    let stats: Stats | undefined;
    try {
      stats = lstatSync(path, { throwIfNoEntry: false });
    } catch {
      continue;
    }
    count(stats);
    if (stats?.isDirectory()) {
      folders.push(path);
      await walk();
    }
  }
  return total;
}
