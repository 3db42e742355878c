/**
 * Measure the sources before a first backup, honouring the excludes the way borg reads
 * them, so that the first run has a progress estimate too.
 */
import { type Dirent, lstatSync, readdirSync, type Stats } from "node:fs";
import { join } from "node:path";

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

/**
 * Walk the sources and add up the sizes and the number of regular files borg would read.
 * It runs beside borg, so it must cost little: synchronous calls (an awaited call per file
 * costs several times the CPU of the call itself), in slices that leave the event loop free
 * for borg's progress lines in between.
 */
export async function prescan(options: PrescanOptions): Promise<Expectation> {
  const matchers = options.excludes.filter(pattern => !/^(sh|re|pp|pf):/.test(pattern)).map(excludeMatcher);
  const excluded = (path: string) => matchers.some(match => match(path));
  const total: Expectation = { originalSize: 0, nfiles: 0 };
  const pending = [...options.sources].reverse();
  let calls = 0;
  for (let path = pending.pop(); path !== undefined; path = pending.pop()) {
    if (options.signal?.aborted) break;
    if (++calls % SLICE === 0) await new Promise(resolve => setImmediate(resolve));
    if (excluded(path)) continue;
    let stats: Stats;
    try {
      stats = lstatSync(path);
    } catch {
      continue;
    }
    if (stats.isFile()) {
      total.originalSize += stats.size;
      total.nfiles += 1;
      continue;
    }
    if (!stats.isDirectory()) continue;
    let entries: Dirent[];
    try {
      entries = readdirSync(path, { withFileTypes: true });
    } catch {
      continue;
    }
    if (entries.some(entry => options.excludeIfPresent.includes(entry.name))) continue;
    // depth first, in directory order, as the recursive walk did
    for (let index = entries.length - 1; index >= 0; index--) pending.push(join(path, entries[index]!.name));
  }
  return total;
}
