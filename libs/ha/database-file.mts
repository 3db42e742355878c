/**
 * synapse keeps its entities in a sqlite file, created by better-sqlite3 with the process's
 * umask (usually 0644: readable by every user). It holds what the app published to Home
 * Assistant; like the drone's state file it is for its owner only.
 */
import { chmodSync, closeSync, openSync } from "node:fs";

/** The sqlite file of a synapse DATABASE_URL as synapse opens it (`file:PATH` or a path); undefined for `:memory:`. */
export function sqliteDatabasePath(url: string): string | undefined {
  const path = url.replace("file:", "");
  return path.length === 0 || path === ":memory:" ? undefined : path;
}

/**
 * Create the database file with mode 0600 before sqlite opens it, and force an existing one
 * (and its journals, which sqlite creates with the database's mode) to 0600. Returns the
 * files it could not secure: sqlite reports a path it cannot open itself.
 */
export function secureDatabaseFile(path: string): string[] {
  const missed: string[] = [];
  try {
    closeSync(openSync(path, "a", 0o600));
  } catch {
    missed.push(path);
  }
  for (const file of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) {
    try {
      chmodSync(file, 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT" && !missed.includes(file)) missed.push(file);
    }
  }
  return missed;
}
