/**
 * Every timed create starts with the data set written back and whole in the page cache.
 *
 * borg drops from the page cache what it has read of the files it backs up (its chunker calls
 * `posix_fadvise(POSIX_FADV_DONTNEED)` on them), but the kernel only drops clean pages: a file
 * written and not yet written back stays cached. Left alone, the first create after a data set
 * is generated or changed finds it cached, and every later one reads it from disk; one variant
 * of each round then ran twice as fast as the rest. Every variant has to start from the same
 * state, and this is the one chosen over reading from disk: from this VM's disk, a first backup of
 * `small_files` (50,000 files) took 11.7 s, 4.5 s of CPU more than from the cache (reading
 * the virtual disk costs the guest CPU), and varied twice as much from run to run (standard
 * deviation 0.36 s against 0.15 s of 5.3 s, 8 alternating runs each) — noise that buries the
 * few tenths of a second the comparison is about. With the data cached, borg is busy on its
 * core the whole run, so whatever the drone does beside it shows.
 */
import { closeSync, constants, openSync, readdirSync, readSync } from "node:fs";
import { join } from "node:path";

import { mustRun } from "./spawn.mjs";

/** Write back what is dirty, then read every regular file under `root` into the page cache; returns how many files. */
export async function fillPageCache(root: string, options: { env: NodeJS.ProcessEnv; cwd: string }): Promise<number> {
  await mustRun("sync", [], options);
  const buffer = Buffer.allocUnsafe(1 << 20);
  let files = 0;
  for (const entry of readdirSync(root, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const fd = openSync(join(entry.parentPath, entry.name), constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      while (readSync(fd, buffer, 0, buffer.length, null) > 0);
      files += 1;
    } finally {
      closeSync(fd);
    }
  }
  return files;
}
