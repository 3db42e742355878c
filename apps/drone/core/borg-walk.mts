/**
 * The walk of `borg create`, for what the drone must know before borg reads the sources: the
 * size of a first backup (./prescan.mts) and the special files borg would open with
 * `--read-special` (./dumps/special-files.mts). It goes where borg goes: each source's path
 * normalised; an excluded path not looked at (borg's default `fm:` patterns; a pattern of
 * another style is not read here, so the walk may go further than borg, never less far); a
 * folder holding a marker (`--exclude-if-present`: a path that exists below it) left out whole;
 * with `oneFileSystem`, no folder of another device entered; a source, once walked, and the
 * `skip` paths (borg's cache, a local repository) left out wherever they appear again.
 */
import { type Dirent, existsSync, lstatSync, readdirSync, type Stats, statSync } from "node:fs";
import { normalize } from "node:path";

/** A regex of one fnmatch `[…]` set (its text between the brackets), as Python's `fnmatch` reads it. */
function setRegex(set: string): string {
  const negated = set.startsWith("!");
  const text = negated ? set.slice(1) : set;
  const literal = (char: string) => char.replace(/[\\\][^-]/g, "\\$&");
  let members = "";
  for (let index = 0; index < text.length; index++) {
    const char = text[index]!;
    // `a-z` is a range unless the `-` ends the set; a range out of order is dropped
    if (text[index + 1] === "-" && index + 2 < text.length) {
      const last = text[index + 2]!;
      if (char <= last) members += `${literal(char)}-${literal(last)}`;
      index += 2;
    } else members += literal(char);
  }
  // nothing left: a set that matches nothing, or any character when negated
  if (members === "") return negated ? "." : "(?!)";
  return `[${negated ? "^" : ""}${members}]`;
}

/** An fnmatch pattern as a regex body: `*` and `?` match any character including `/`. */
function fnmatchRegex(pattern: string): string {
  let regex = "";
  for (let index = 0; index < pattern.length; ) {
    const char = pattern[index++]!;
    if (char === "*") regex += ".*";
    else if (char === "?") regex += ".";
    else if (char === "[") {
      // `]` first in a set (after a `!`) is one of its members
      let end = index;
      if (pattern[end] === "!") end++;
      if (pattern[end] === "]") end++;
      while (end < pattern.length && pattern[end] !== "]") end++;
      if (end >= pattern.length) regex += "\\[";
      else {
        regex += setRegex(pattern.slice(index, end));
        index = end + 1;
      }
    } else regex += char.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return regex;
}

/**
 * borg's default `fm:` exclude pattern as a matcher of paths: borg normalises the pattern,
 * then `P` matches P and everything below it, `P/` only what is below it; paths and
 * patterns are compared without their leading `/`.
 */
export function excludeMatcher(pattern: string): (path: string) => boolean {
  const body = pattern.replace(/^fm:/, "");
  const folder = normalize(body).replace(/\/+$/, "");
  const prepared = `${folder}/*${body.endsWith("/") ? "/" : ""}`.replace(/^\/+/, "");
  let compiled: RegExp;
  try {
    // u: `?` and a set match one character, as in Python, not half of one
    compiled = new RegExp(`^${fnmatchRegex(prepared)}$`, "su");
  } catch {
    // not expected of any pattern; matching nothing walks further than borg, never less far
    return () => false;
  }
  return path => compiled.test(`${path.replace(/^\/+/, "")}/`);
}

/** Where to walk, and what to leave out, as the drone's `borg create` is told. */
export interface BorgWalk {
  sources: readonly string[];
  excludes: readonly string[];
  excludeIfPresent: readonly string[];
  /** Stay on each source's file system (`--one-file-system`). */
  oneFileSystem?: boolean;
  /** Paths borg leaves out wherever they are found (its cache, a local repository), by device and inode as borg compares. */
  skip?: readonly string[];
  /** Stops the walk where it is. */
  signal?: AbortSignal;
}

/** What the walk knows of an entry that is not a folder: its folder's listing, or its lstat for a source. */
export type EntryKind = Pick<Dirent | Stats, "isFile" | "isFIFO" | "isCharacterDevice" | "isBlockDevice" | "isSymbolicLink">;

/** Sees each entry that is not a folder; `skipped` tells whether borg leaves out the entry of these stats. */
export type WalkVisitor = (path: string, kind: EntryKind, skipped: (stats: Stats) => boolean) => void;

/** A source's path as `borg create` takes it: normalised, without a trailing `/` (a link's own path, then). */
export function borgPath(source: string): string {
  const path = normalize(source);
  return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
}

/** lstat, or nothing where the entry is gone or cannot be looked at (borg warns of it and goes on). */
export function lstatOf(path: string): Stats | undefined {
  try {
    return lstatSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/** Entries looked at between two turns of the event loop (a few milliseconds of work). */
const SLICE = 256;

/** Inodes by number, each with its devices: no string made per file. */
export class Inodes {
  private readonly byInode = new Map<number, Set<number>>();
  has(stats: Stats): boolean {
    return this.byInode.get(stats.ino)?.has(stats.dev) ?? false;
  }
  add(stats: Stats): void {
    this.byInode.set(stats.ino, (this.byInode.get(stats.ino) ?? new Set()).add(stats.dev));
  }
}

/** A marker below a folder, joined as Python joins it (an absolute marker is itself). */
const markerPath = (folder: string, marker: string) => (marker.startsWith("/") ? marker : `${folder === "/" ? "" : folder}/${marker}`);

/**
 * Walk the sources as borg does and show `visit` every entry that is not a folder. Synchronous
 * calls in slices that leave the event loop a turn in between (an awaited call per entry costs
 * several times the call itself); one `readdir` and one `lstat` per folder, none per other
 * entry (its type comes from its folder's listing). Returns how many entries it looked at.
 */
export async function walkAsBorg(walk: BorgWalk, visit: WalkVisitor): Promise<number> {
  const { signal } = walk;
  // a pattern of another style, or a line of a patterns file, is not read here
  const matchers = walk.excludes.filter(pattern => !/^((sh|re|pp|pf):|[+\-!] )/.test(pattern)).map(excludeMatcher);
  const excluded = matchers.length === 0 ? () => false : (path: string) => matchers.some(match => match(path));
  const skipped = new Inodes();
  for (const path of walk.skip ?? []) {
    try {
      // borg follows a link here (os.stat)
      const stats = statSync(path, { throwIfNoEntry: false });
      if (stats) skipped.add(stats);
    } catch {
      // nothing there to leave out
    }
  }
  const isSkipped = (stats: Stats) => skipped.has(stats);
  let looked = 0;
  const pause = () => new Promise(resolve => setImmediate(resolve));
  const marked = (folder: string) => walk.excludeIfPresent.some(marker => existsSync(markerPath(folder, marker)));

  const folders = async (source: string, device: number) => {
    const pending = [source];
    for (let folder = pending.pop(); folder !== undefined; folder = pending.pop()) {
      if (marked(folder)) continue;
      let entries: Dirent[];
      try {
        entries = readdirSync(folder, { withFileTypes: true });
      } catch {
        continue;
      }
      const prefix = folder === "/" ? "/" : folder === "." ? "" : `${folder}/`;
      for (const entry of entries) {
        if (++looked % SLICE === 0) await pause();
        if (signal?.aborted) return;
        const path = prefix + entry.name;
        if (excluded(path)) continue;
        if (!entry.isDirectory()) {
          visit(path, entry, isSkipped);
          continue;
        }
        const stats = lstatOf(path);
        if (stats?.isDirectory() && !skipped.has(stats) && (!walk.oneFileSystem || stats.dev === device)) pending.push(path);
      }
    }
  };

  for (const source of walk.sources) {
    if (signal?.aborted) break;
    const path = borgPath(source);
    looked++;
    if (excluded(path)) continue;
    const stats = lstatOf(path);
    if (!stats || skipped.has(stats)) continue;
    if (stats.isDirectory()) await folders(path, stats.dev);
    else visit(path, stats, isSkipped);
    // walked once: not again, as a later source or inside one
    skipped.add(stats);
  }
  return looked;
}
