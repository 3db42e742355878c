/**
 * Crash recovery, once at start-up: a run the state file still marks as running belongs to a
 * process that died. Its orphaned borg (still the recorded process) is stopped the way borg
 * keeps a checkpoint, the run is reported as interrupted, and a repository lock its borg may
 * have left on the repository host is remembered (see orphaned-lock.mts).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";

import dayjs from "dayjs";

import { type ResultEvent } from "../../../libs/protocol/index.mjs";
import { type DroneConfig } from "../config.mjs";
import { type OrphanedLock, repositoryOfOperation } from "./orphaned-lock.mjs";
import { isRunning } from "./process-identity.mjs";
import { resultEvent } from "./result.mjs";
import { removeRunFolder, runFolderOf } from "./dumps/stream.mjs";
import { acquireRunLock, runBorgAlive, runOwnerAlive } from "./run-lock.mjs";
import { type DroneLog, toIso } from "./run-context.mjs";
import { type StateStore } from "./state.mjs";

/**
 * Remove the dumps' run folder a crashed run left (its FIFOs and manifests), when no process
 * runs an operation of this drone: the run lock says so. A busy drone keeps it; its next
 * create removes a leftover anyway, under the lock.
 */
export async function removeLeftoverRunFolder(config: DroneConfig, log: DroneLog): Promise<void> {
  const dir = runFolderOf(config.stateDir, config.droneId);
  if (!existsSync(dir)) return;
  const lock = await acquireRunLock(join(config.stateDir, `${config.droneId}.lock`));
  if ("heldBy" in lock) return;
  try {
    await removeRunFolder(dir);
    log.info(`removed ${dir}, the dumps' run folder an interrupted run left`);
  } finally {
    await lock.release();
  }
}

/** Report the run a dead process left, stopping its borg; undefined when there is none (or another process reported it). */
export async function recoverInterruptedRun(config: DroneConfig, store: StateStore, log: DroneLog): Promise<ResultEvent | undefined> {
  const running = store.get().running;
  // a pid alone proves nothing (after a reboot it may be anyone's): the recorded process must still be the same one
  if (!running || (running.pid !== process.pid && runOwnerAlive(running))) return undefined;
  const orphan = () => runBorgAlive(running, config.borgBinary);
  if (orphan()) {
    // a borg orphaned by the crash still holds the repository: let it checkpoint and stop
    log.warn(`stopping borg (pid ${running.borgPid}) left running by the previous drone process`);
    const signal = (name: NodeJS.Signals) => {
      try {
        if (running.borgPid !== null) process.kill(running.borgPid, name);
      } catch {
        // already gone
      }
    };
    signal("SIGINT");
    for (let waited = 0; waited < 100 && orphan(); waited++) await new Promise(r => setTimeout(r, 100));
    if (orphan()) signal("SIGTERM");
    for (let waited = 0; waited < 50 && orphan(); waited++) await new Promise(r => setTimeout(r, 100));
  } else if (running.borgPid !== null && isRunning(running.borgPid)) {
    log.info(`pid ${running.borgPid} of the interrupted run's borg now belongs to another process; leaving it alone`);
  }
  // claimed only when the run saw borg commit one: a borg that died with the drone wrote none
  const message =
    `the drone stopped during ${running.operation} (the process ended unexpectedly)` +
    (running.checkpointAt !== null
      ? `; borg committed a checkpoint at ${dayjs(running.checkpointAt).format("YYYY-MM-DD HH:mm:ss")}, and the next backup reuses what it uploaded until then`
      : "; run it again");
  const result = resultEvent({
    droneId: config.droneId,
    runId: running.runId,
    operation: running.operation,
    trigger: "startup",
    outcome: "interrupted",
    failure: { kind: "crashed", message },
    started: new Date(running.startedAt),
    finished: new Date(),
  });
  // the run's borg is gone, so a lock still held for it on the repository host (its borg
  // serve, orphaned) can only be this run's: remembered for the next lock timeout there.
  // Not when no borg was recorded (it may never have started) or one still runs here.
  const lockLeft: OrphanedLock | undefined =
    running.borgPid !== null && !orphan()
      ? {
          repository: repositoryOfOperation(running.operation),
          runId: running.runId,
          operation: running.operation,
          foundDeadAt: toIso(new Date()),
          cause: "crash",
          borgCommand: running.borgCommand,
        }
      : undefined;
  let claimed = false;
  await store.update(state => {
    // another process may have reported it meanwhile, or started a run of its own
    if (state.running?.runId !== running.runId) return;
    claimed = true;
    state.running = null;
    state.lastResult = "interrupted";
    state.lastError = message;
    if (lockLeft) state.orphanedLocks = [...state.orphanedLocks.filter(lock => lock.repository !== lockLeft.repository), lockLeft];
  });
  if (!claimed) return undefined;
  log.warn(message);
  return result;
}
