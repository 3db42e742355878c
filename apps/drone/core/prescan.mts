/**
 * Measure the sources before a first backup, honouring the excludes the way borg reads
 * them, so that the first run has a progress estimate too.
 */
import { type Dirent } from "node:fs";
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";

import { type Expectation } from "./estimate.mjs";

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

/** Walk the sources and add up the sizes and the number of regular files borg would read. */
export async function prescan(options: PrescanOptions): Promise<Expectation> {
  const matchers = options.excludes.filter(pattern => !/^(sh|re|pp|pf):/.test(pattern)).map(excludeMatcher);
  const excluded = (path: string) => matchers.some(match => match(path));
  const total: Expectation = { originalSize: 0, nfiles: 0 };
  const walk = async (path: string): Promise<void> => {
    if (options.signal?.aborted || excluded(path)) return;
    const stats = await lstat(path).catch(() => undefined);
    if (!stats) return;
    if (stats.isFile()) {
      total.originalSize += stats.size;
      total.nfiles += 1;
      return;
    }
    if (!stats.isDirectory()) return;
    const entries: Dirent[] = await readdir(path, { withFileTypes: true }).catch(() => []);
    if (entries.some(entry => options.excludeIfPresent.includes(entry.name))) return;
    for (const entry of entries) await walk(join(path, entry.name));
  };
  for (const source of options.sources) await walk(source);
  return total;
}
