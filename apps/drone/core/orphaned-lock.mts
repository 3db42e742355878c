/**
 * A repository lock left by this drone's own dead run, and when the drone may break it.
 *
 * Over ssh, the lock of a run belongs to the repository host's `borg serve` (hostid@pid on the
 * NAS), not to the drone's borg. When the drone dies (kill -9, a power cut) while the link is
 * silent, that serve lives on until the NAS's TCP gives up (minutes to hours) and keeps the lock; borg's
 * own removal of stale locks only applies to a dead process of the same host id, so it never
 * applies here. Every later run would fail with `lock_timeout` until a person ran break-lock.
 *
 * Breaking that lock is safe only while all of these hold, and the drone breaks it on no
 * other evidence:
 * - the run that died was this drone's, used this repository, and got as far as starting borg
 *   (the state file recorded it; {@link OrphanedLock});
 * - its borg on this machine is gone (recover() found the drone process dead and stopped or
 *   found gone its borg; or the run's borg itself ended with `connection_lost` or was stopped
 *   for making no progress, while the host may not have noticed: a blackholed link tells the
 *   NAS nothing), so the serve it talked to has no client left: nothing can send it
 *   another command, so it can write nothing more. When its TCP finally gives up it closes
 *   the repository without committing, and its release of the lock fails as "not my lock"
 *   (borg checks its own unique name in the lock), so it cannot release a later holder's lock;
 * - every archive in the repository, checkpoints included, carries this drone's prefix, so no
 *   other drone backs up into it: the lock is not another drone's live run;
 * - whatever the dead run wrote and did not commit is discarded by the next transaction (borg
 *   deletes segments after the last commit when a writer opens the repository), so the
 *   repository stays consistent; `borg check` after a recovery is clean.
 *
 * What remains unprovable, and so is written down for people (docs/troubleshooting.md): a borg
 * a person runs by hand on the repository at that very moment, or another drone's very first
 * backup into it that has not yet written a checkpoint.
 */
import { z } from "zod";

import { OPERATIONS, type Operation, REPOSITORY_ROLES } from "../../../libs/protocol/index.mjs";

/** A lock the drone's dead run may have left on one of its repositories. */
export const orphanedLockSchema = z.object({
  /** Which of the drone's repositories the run used. */
  repository: z.enum(REPOSITORY_ROLES),
  runId: z.string().min(1),
  operation: z.enum(OPERATIONS),
  /** When the drone found the run dead (it died at or before). */
  foundDeadAt: z.iso.datetime({ offset: true }),
  /**
   * How the run's borg ended: with the drone (`crash`), or on its own when its connection to
   * the repository host was lost (`connection_lost`: ssh gave up on a silent link, or the
   * drone stopped a borg that made no progress). Either way no client of that run is left to
   * talk to the host's `borg serve`. Older state files have no field: a crash.
   */
  cause: z.enum(["crash", "connection_lost"]).default("crash"),
  /** The borg subcommand the run was running (null: not known, as in older state files). */
  borgCommand: z.string().nullable().default(null),
});
/** A recorded orphaned lock. */
export type OrphanedLock = z.output<typeof orphanedLockSchema>;

/**
 * The repository an operation opens. Every operation opens one and holds its lock while borg
 * runs: exclusive for a writer (create, prune, compact, check), shared for a reader (stats,
 * restore), and a shared lock an orphaned serve keeps blocks the next writer just the same.
 */
export const repositoryOfOperation = (operation: Operation): OrphanedLock["repository"] =>
  operation === "offsite" ? "offsite" : "primary";

/** Whether the drone may break the lock: proven, or why not. */
export type LockVerdict = { proven: true } | { proven: false; reason: string; foreign: string[] };

/**
 * borg subcommands whose work goes on inside the repository host's `borg serve` after its
 * client is gone: the last request it received (a compact of the segments, a check of the
 * whole repository) runs to its end, for minutes or hours, holding the lock and writing.
 * Breaking that lock would let a second writer in beside it. Every other command's requests
 * are short (a chunk, a commit), done long before the drone's lock wait ends.
 */
const LONG_SERVER_WORK: ReadonlySet<string> = new Set(["compact", "check"]);

/** Why the dead run's `borg serve` may still be working (so the lock must stay), if it may. */
export function serverMayStillWork(record: OrphanedLock): LockVerdict | undefined {
  if (record.borgCommand === null) {
    return { proven: false, reason: "the drone does not know which borg command that run was running, so its borg serve may still be working", foreign: [] };
  }
  if (LONG_SERVER_WORK.has(record.borgCommand)) {
    return {
      proven: false,
      reason: `it was running borg ${record.borgCommand}, which goes on in the repository host's borg serve after the drone is gone (wait until no "borg serve" of this repository runs there)`,
      foreign: [],
    };
  }
  return undefined;
}

/** At most this many other archive names in a message. */
const NAMED = 3;

/**
 * Judge a repository's archive names (listed with `--bypass-lock --consider-checkpoints`)
 * for an orphaned lock of this drone. Proven only when there are archives and every one is
 * this drone's. A checkpoint (`NAME.checkpoint`, `NAME.checkpoint.N`) counts like an archive:
 * one of another drone shows another drone's backup got under way here; this drone's own are
 * most likely the dead run's. An empty repository proves nothing: a drone that shares it may
 * be making its very first backup.
 */
export function judgeOrphanedLock(names: readonly string[], prefix: string): LockVerdict {
  if (names.length === 0) {
    return { proven: false, reason: "the repository holds no archive, so nothing shows that only this drone uses it", foreign: [] };
  }
  const foreign = names.filter(name => !name.startsWith(prefix));
  if (foreign.length === 0) return { proven: true };
  const shown = foreign.slice(0, NAMED).join(", ");
  const more = foreign.length > NAMED ? ` and ${foreign.length - NAMED} more` : "";
  return {
    proven: false,
    reason: `another drone's archives are in the repository (${shown}${more}), so the lock may be that drone's running backup`,
    foreign,
  };
}

/** How the record's run ended, in words. */
const ended = (record: OrphanedLock) => (record.cause === "connection_lost" ? "which lost its connection to the repository host" : "which died with the drone");

/** The one log line of a lock broken. */
export function brokenLockLine(record: OrphanedLock, location: string, command: string): string {
  return (
    `${location} was still locked for run ${record.runId} (${record.operation}), ${ended(record)} (found ${record.foundDeadAt}); ` +
    `every archive in it is this drone's, so the lock was broken (borg break-lock) and borg ${command} runs again`
  );
}

/** The note in the run's result: what was done that needed nobody. */
export function brokenLockNote(record: OrphanedLock, location: string): string {
  return `the lock on ${location} left by run ${record.runId} (${record.operation}), ${ended(record)}, was broken and the run went on`;
}

/** The failure when the lock may not be broken: why, and the command to paste once a person is sure. */
export function refusedLockMessage(record: OrphanedLock, location: string, reason: string, pasteable: string): string {
  return (
    `${location} is locked. The drone's run ${record.runId} (${record.operation}) ${record.cause === "connection_lost" ? "lost its connection" : "died"} while using it (found ${record.foundDeadAt}), ` +
    `but the drone cannot prove the lock is that run's: ${reason}. ` +
    `Check that no borg uses the repository (\`pgrep -a borg\` on every machine that uses it; on the repository host \`pgrep -a "borg serve"\` also lists the dead run's own serve, ` +
    `which lives on until its connection times out, possibly for hours; \`ss -tnp\` there shows which machine each ssh connection comes from: one from this machine is the dead run's, one from another may be that machine's backup); ` +
    `then run \`${pasteable}\`.`
  );
}
