/**
 * Measure the sources before a first backup as `borg create` walks them (./borg-walk.mts), so
 * that the first run has a progress estimate too.
 */
import { type Stats } from "node:fs";

import { type BorgWalk, Inodes, lstatOf, walkAsBorg } from "./borg-walk.mjs";
import type { Expectation } from "./estimate.mjs";

/** Options of a pre-scan: the walk; its signal ends it, and the pre-scan then rejects with the signal's reason. */
export type PrescanOptions = BorgWalk;

/**
 * Add up the sizes and the number of the regular files borg would read: one `lstat` per
 * regular file; a hard-linked file counted once (borg reads it once, its other names are
 * links to it). Links, devices and sockets are not read (borg runs without `--read-special`
 * here), so they count nothing. It runs beside borg, so it must cost little (see
 * {@link walkAsBorg}).
 */
export async function prescan(options: PrescanOptions): Promise<Expectation> {
  const total: Expectation = { originalSize: 0, nfiles: 0 };
  const linked = new Inodes();
  const count = (stats: Stats) => {
    if (stats.nlink > 1) {
      if (linked.has(stats)) return;
      linked.add(stats);
    }
    total.originalSize += stats.size;
    total.nfiles += 1;
  };
  await walkAsBorg(options, (path, kind, skipped) => {
    if (!kind.isFile()) return;
    const stats = lstatOf(path);
    if (stats?.isFile() && !skipped(stats)) count(stats);
  });
  options.signal?.throwIfAborted();
  return total;
}
