/**
 * A per-drone lock file, so that a one-shot command and the daemon on the same machine never
 * start borg against the same repository at once; and the questions about the processes a
 * run recorded (is its owner still running it, is its borg still the one it started).
 */
import { basename } from "node:path";

import { breakLock, ownerAlive, tryLock } from "./lock-file.mjs";
import { isRecordedAlive } from "./process-identity.mjs";
import { type RunningMarker } from "./state.mjs";

/** Does a process with this pid exist? (Any process: see {@link isRecordedAlive} for "is it the one recorded".) */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Take the lock, or say which live process holds it. A lock whose owner is gone, or whose pid
 * now belongs to another process (after a reboot, say), is taken over.
 */
export async function acquireRunLock(path: string): Promise<{ release: () => Promise<void> } | { heldBy: number }> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const taken = await tryLock(path);
    if ("release" in taken) return taken;
    const { holder } = taken;
    if (holder.owner && holder.owner.pid !== process.pid && ownerAlive(holder)) return { heldBy: holder.owner.pid };
    await breakLock(path, holder);
  }
  throw new Error(`cannot take the run lock ${path}`);
}

/** Whether the process that recorded a run is alive and is still that process. */
export function runOwnerAlive(running: RunningMarker): boolean {
  const startedAt = Date.parse(running.startedAt);
  return isRecordedAlive({ pid: running.pid, identity: running.identity, legacy: { recordedAtMs: startedAt, startedByMs: startedAt } });
}

/** Whether the borg a run started is alive and still that borg (`binary`: the configured BORG_BINARY). */
export function runBorgAlive(running: RunningMarker, binary: string): boolean {
  if (running.borgPid === null) return false;
  const startedAt = Date.parse(running.startedAt);
  return isRecordedAlive({
    pid: running.borgPid,
    identity: running.borgIdentity,
    legacy: { recordedAtMs: startedAt, startedFromMs: startedAt, program: basename(binary) },
  });
}
