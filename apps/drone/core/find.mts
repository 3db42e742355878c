/**
 * Finding files across this drone's archives: which archives hold paths that match a
 * pattern, grouped into versions (archives whose matches are identical share one), newest
 * first. borg lists one archive per call, so the search stops once it has enough versions.
 */
import { type ArchiveItem, type ArchiveListEntry } from "../../../libs/borg/index.mjs";

/** borg's pattern styles (`sh:`, `fm:`, `re:`, `pp:`, `pf:`). */
const STYLED = /^(?:sh|fm|re|pp|pf):/;

/**
 * The borg pattern for what a person typed: a pattern with a borg style is used as is;
 * otherwise it is a shell-style pattern on the path as stored (leading `/` dropped), and
 * a bare name (no `/`) matches that name in any folder.
 */
export function borgPattern(pattern: string): string {
  const trimmed = pattern.trim();
  if (trimmed.length === 0) throw new Error("the pattern is empty: give a file name, a path or a borg pattern (sh:home/**/*.txt)");
  if (STYLED.test(trimmed)) return trimmed;
  const stored = trimmed.replace(/^\/+/, "");
  if (stored.length === 0) throw new Error(`"${pattern}" matches everything; name a file or a folder`);
  return stored.includes("/") ? `sh:${stored}` : `sh:**/${stored}`;
}

/** One version of the matching paths: the archives that hold it, newest first. */
export interface FoundVersion {
  /** The newest archive holding this version (the one to restore from). */
  archive: string;
  start: Date;
  /** Every archive seen holding exactly this version, newest first. */
  archives: { name: string; start: Date }[];
  /** The matching items in it. */
  items: ArchiveItem[];
}

/** What tells two versions apart: each item's path, type, size and modification time. */
export function itemsSignature(items: readonly ArchiveItem[]): string {
  return items
    .map(item => `${item.type}\u0000${item.path}\u0000${item.size ?? ""}\u0000${item.mtime?.getTime() ?? ""}`)
    .sort()
    .join("\n");
}

/**
 * Walk `archives` newest first, list the matching items of each, and group identical
 * matches into versions. With `versions`, stop when one more version than asked is found.
 */
export async function findVersions(options: {
  /** Candidate archives (this drone's, already filtered by age). Any order: sorted here. */
  archives: readonly ArchiveListEntry[];
  list: (archive: string) => Promise<ArchiveItem[]>;
  versions?: number;
}): Promise<FoundVersion[]> {
  const newestFirst = [...options.archives].sort((a, b) => b.start.getTime() - a.start.getTime());
  const found = new Map<string, FoundVersion>();
  for (const archive of newestFirst) {
    const items = await options.list(archive.name);
    if (items.length === 0) continue;
    const signature = itemsSignature(items);
    const known = found.get(signature);
    if (known) {
      known.archives.push({ name: archive.name, start: archive.start });
      continue;
    }
    if (options.versions !== undefined && found.size >= options.versions) break;
    found.set(signature, { archive: archive.name, start: archive.start, archives: [{ name: archive.name, start: archive.start }], items });
  }
  return [...found.values()];
}
