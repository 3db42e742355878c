/**
 * A per-drone lock file, so that a one-shot command and the daemon on the same machine never
 * start borg against the same repository at once.
 */
import { open, readFile, unlink } from "node:fs/promises";

/** Is a process with this pid alive? */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Take the lock, or say which live process holds it. A lock of a dead process is taken over. */
export async function acquireRunLock(path: string): Promise<{ release: () => Promise<void> } | { heldBy: number }> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, "wx", 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      return { release: () => unlink(path).catch(() => undefined) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = Number((await readFile(path, "utf8").catch(() => "")).trim());
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) return { heldBy: holder };
      await unlink(path).catch(() => undefined);
    }
  }
  throw new Error(`cannot take the run lock ${path}`);
}
