import { describe, expect, it } from "vitest";

import {
  brokenLockNote,
  judgeOrphanedLock,
  type OrphanedLock,
  refusedLockMessage,
  repositoryOfOperation,
  serverMayStillWork,
} from "../../../apps/drone/core/orphaned-lock.mjs";
import { persistedStateSchema } from "../../../apps/drone/core/state.mjs";

const record: OrphanedLock = { repository: "primary", runId: "r-1", operation: "scheduled", foundDeadAt: "2026-11-22T02:00:00.000Z", cause: "crash", borgCommand: "create" };

describe("an orphaned lock is broken only with proof", () => {
  it("proven when every archive, checkpoints included, is this drone's", () => {
    expect(judgeOrphanedLock(["laptop@2026-11-20T01:00:00.000", "laptop@2026-11-21T01:00:00.000.checkpoint"], "laptop@")).toEqual({ proven: true });
  });

  it("not proven with another drone's archive or checkpoint, which the reason names", () => {
    const verdict = judgeOrphanedLock(["laptop@1", "desktop@2026-11-21T01:00:00.000.checkpoint", "laptop@2"], "laptop@");
    expect(verdict).toMatchObject({ proven: false, foreign: ["desktop@2026-11-21T01:00:00.000.checkpoint"] });
    expect(verdict.proven ? "" : verdict.reason).toContain("another drone's archives are in the repository (desktop@2026-11-21T01:00:00.000.checkpoint)");
    // a name that merely starts like the drone id is another drone's (`@` ends the prefix)
    expect(judgeOrphanedLock(["laptop2@1"], "laptop@").proven).toBe(false);
    const many = judgeOrphanedLock(["a@1", "b@1", "c@1", "d@1", "e@1"], "laptop@");
    expect(many.proven ? "" : many.reason).toContain("(a@1, b@1, c@1 and 2 more)");
  });

  it("never while the dead run's borg serve may still be working: a compact or a check, or a command not known", () => {
    expect(serverMayStillWork(record)).toBeUndefined();
    expect(serverMayStillWork({ ...record, borgCommand: "prune" })).toBeUndefined();
    for (const command of ["compact", "check"]) {
      expect(serverMayStillWork({ ...record, borgCommand: command })).toEqual({
        proven: false,
        reason: `it was running borg ${command}, which goes on in the repository host's borg serve after the drone is gone (wait until no "borg serve" of this repository runs there)`,
        foreign: [],
      });
    }
    expect(serverMayStillWork({ ...record, borgCommand: null })).toMatchObject({ proven: false, reason: expect.stringMatching(/does not know which borg command/) as string });
  });

  it("not proven for an empty repository", () => {
    const verdict = judgeOrphanedLock([], "laptop@");
    expect(verdict.proven).toBe(false);
    expect(verdict.proven ? "" : verdict.reason).toContain("holds no archive");
  });

  it("each operation's repository", () => {
    expect(repositoryOfOperation("offsite")).toBe("offsite");
    for (const operation of ["scheduled", "create", "prune", "compact", "check", "verify", "stats", "restore"] as const) {
      expect(repositoryOfOperation(operation)).toBe("primary");
    }
  });

  it("the refusal names the dead run, why, and the command to paste; the note names the run", () => {
    const pasteable = "BORG_RSH='ssh -i /root/.ssh/borg -o BatchMode=yes' borg break-lock ssh://borg@nas/./repo";
    const message = refusedLockMessage(record, "ssh://borg@nas/./repo", "another drone's archives are in the repository (x@1)", pasteable);
    expect(message).toContain("run r-1 (scheduled) died while using it");
    expect(message).toContain("another drone's archives are in the repository (x@1)");
    expect(message).toContain(`run \`${pasteable}\`.`);
    // the dead run's serve still shows on the repository host: the person is told how to tell it apart
    expect(message).toContain(`\`pgrep -a "borg serve"\` also lists the dead run's own serve`);
    expect(message).toContain("one from this machine is the dead run's, one from another may be that machine's backup");
    expect(message).not.toContain("\n");
    expect(brokenLockNote(record, "ssh://borg@nas/./repo")).toContain("run r-1 (scheduled)");
  });

  it("a state file of an older drone, without the field, loads with no record; a bad record is refused", () => {
    const older = { version: 1, settings: {}, lastBackup: null, lastPrune: null, lastCheck: null, lastOffsiteBackup: null, lastResult: null, lastError: null, lastDurationSeconds: null, archiveCount: null, totals: null, offsiteTotals: null, lastArchive: null, lastOffsiteArchive: null, running: null };
    expect(persistedStateSchema.parse(older).orphanedLocks).toEqual([]);
    expect(persistedStateSchema.safeParse({ ...older, orphanedLocks: [{ ...record, repository: "elsewhere" }] }).success).toBe(false);
    // a record of a drone before the command was recorded: the command is not known, so the lock is never broken
    const { borgCommand: _unknown, cause: _older, ...bare } = record;
    const loaded = persistedStateSchema.parse({ ...older, orphanedLocks: [bare] }).orphanedLocks[0];
    expect(loaded).toMatchObject({ cause: "crash", borgCommand: null });
    expect(loaded && serverMayStillWork(loaded)).toMatchObject({ proven: false });
  });
});
