/**
 * Every timed create starts with the data set on disk and out of the page cache.
 *
 * borg drops from the page cache what it has read of the files it backs up (its chunker calls
 * `posix_fadvise(POSIX_FADV_DONTNEED)` on them), but the kernel only drops clean pages: a file
 * written and not yet written back stays cached. So the first create after a data set is
 * generated or changed finds it cached once written back, and every later create reads it from
 * disk: here a first backup of `small_files` took 5.8 s from the cache and 11–13 s from disk
 * (`inblock` 3,552 against 400,080 in its rusage), which made one variant of each round twice as
 * fast as the rest. After `sync`, this drops the data set's pages the same way, so that every
 * variant reads what it backs up from disk, as a backup of files not read lately does.
 *
 * Node has no `posix_fadvise`; python3 (which Debian's borgbackup depends on) calls it.
 */
import { mustRun } from "./spawn.mjs";

// argv[1]: the folder; prints how many regular files it advised
const EVICT = `
import os, stat, sys
count = 0
for folder, _, names in os.walk(sys.argv[1]):
    for name in names:
        path = os.path.join(folder, name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                count += 1
        finally:
            os.close(fd)
print(count)
`;

/** Write back what is dirty, then drop every regular file under `root` from the page cache; returns how many files. */
export async function evictFromPageCache(root: string, options: { env: NodeJS.ProcessEnv; cwd: string }): Promise<number> {
  await mustRun("sync", [], options);
  const run = await mustRun("python3", ["-c", EVICT, root], options);
  return Number(run.stdout.trim());
}
