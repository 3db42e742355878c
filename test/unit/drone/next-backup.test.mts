import { describe, expect, it } from "vitest";

import { nextBackupText, statusLines } from "../../../apps/drone/cli/report.mjs";
import { dueOperations, nextOwnBackup, type Settings } from "../../../apps/drone/core/settings.mjs";
import { type PersistedState } from "../../../apps/drone/core/state.mjs";
import { nextBackupState } from "../../../apps/drone/ha/values.mjs";
import { type PlanEvent, PROTOCOL_VERSION } from "../../../libs/protocol/index.mjs";
import { createPaint } from "../../../apps/drone/cli/terminal.mjs";

const PLAIN = createPaint(false);

const NOW = new Date("2026-11-22T12:00:00.000Z");
const settings = (mode: Settings["mode"], frequencyMinutes = 1440) => ({ mode, frequencyMinutes }) as Settings;
const persisted = (lastBackup: string | null, cancelledAt: string | null = null) =>
  ({ lastBackup, lastOffsiteBackup: null, cancelledAt: { primary: cancelledAt, offsite: null }, failedBackups: { primary: null, offsite: null } }) as PersistedState;
const plan: PlanEvent = {
  v: PROTOCOL_VERSION,
  coordinator_id: "backup_coordinator",
  drone_id: "laptop",
  time: NOW.toISOString(),
  next_at: "2026-11-23T02:00:00.000Z",
  reason: "due",
};

describe("the drone's next backup", () => {
  it("standalone: last backup + frequency, now once it has passed or when it never backed up; none in other modes", () => {
    expect(nextOwnBackup(settings("standalone", 60), persisted("2026-11-22T11:30:00.000Z"), NOW)).toEqual(new Date("2026-11-22T12:30:00.000Z"));
    expect(nextOwnBackup(settings("standalone", 60), persisted("2026-11-22T10:00:00.000Z"), NOW)).toEqual(NOW);
    expect(nextOwnBackup(settings("standalone"), persisted(null), NOW)).toEqual(NOW);
    expect(nextOwnBackup(settings("coordinated"), persisted(null), NOW)).toBeNull();
  });

  it("standalone after a cancel: the next regular time (last backup + whole frequencies after the cancel), not now; never backed up: cancel + frequency", () => {
    const cancelled = persisted("2026-11-22T09:10:00.000Z", "2026-11-22T11:50:00.000Z");
    expect(nextOwnBackup(settings("standalone", 60), cancelled, NOW)).toEqual(new Date("2026-11-22T12:10:00.000Z"));
    expect(nextOwnBackup(settings("standalone", 60), persisted(null, "2026-11-22T11:50:00.000Z"), NOW)).toEqual(new Date("2026-11-22T12:50:00.000Z"));
    expect(dueOperations(settings("standalone", 60), cancelled, false, NOW)).toEqual([]);
    expect(dueOperations(settings("standalone", 60), cancelled, false, new Date("2026-11-22T12:10:00.000Z"))).toEqual(["scheduled"]);
    // without the cancel the same drone is overdue
    expect(dueOperations(settings("standalone", 60), persisted("2026-11-22T09:10:00.000Z"), false, NOW)).toEqual(["scheduled"]);
    const offsite = { ...persisted(null), lastOffsiteBackup: null, cancelledAt: { primary: null, offsite: "2026-11-22T11:59:00.000Z" } } as PersistedState;
    expect(dueOperations({ ...settings("standalone", 60), offsiteFrequencyMinutes: 60 }, offsite, true, NOW)).toEqual(["scheduled"]);
  });

  it("standalone after failed backups: tries again after 5 minutes, then 10, then a whole frequency, never sooner than the regular time", () => {
    const failed = (attempts: number, at: string, lastBackup: string | null = "2026-11-20T12:00:00.000Z") =>
      ({ ...persisted(lastBackup), failedBackups: { primary: { attempts, at }, offsite: null } }) as PersistedState;
    const standalone = settings("standalone", 1440);
    expect(nextOwnBackup(standalone, failed(1, "2026-11-22T11:58:00.000Z"), NOW)).toEqual(new Date("2026-11-22T12:03:00.000Z"));
    expect(dueOperations(standalone, failed(1, "2026-11-22T11:58:00.000Z"), false, NOW)).toEqual([]);
    expect(dueOperations(standalone, failed(1, "2026-11-22T11:55:00.000Z"), false, NOW)).toEqual(["scheduled"]);
    expect(nextOwnBackup(standalone, failed(2, "2026-11-22T11:58:00.000Z"), NOW)).toEqual(new Date("2026-11-22T12:08:00.000Z"));
    expect(nextOwnBackup(standalone, failed(3, "2026-11-22T11:58:00.000Z"), NOW)).toEqual(new Date("2026-11-23T11:58:00.000Z"));
    // a drone that never backed up waits too
    expect(nextOwnBackup(standalone, failed(1, "2026-11-22T11:58:00.000Z", null), NOW)).toEqual(new Date("2026-11-22T12:03:00.000Z"));
    // the retry never brings a backup forward: a fresh backup whose prune failed waits for its frequency
    expect(nextOwnBackup(standalone, failed(1, "2026-11-22T11:58:00.000Z", "2026-11-22T11:57:00.000Z"), NOW)).toEqual(new Date("2026-11-23T11:57:00.000Z"));
    // the offsite copy keeps its own count
    const offsite = { ...persisted("2026-11-22T11:00:00.000Z"), failedBackups: { primary: null, offsite: { attempts: 1, at: "2026-11-22T11:59:00.000Z" } } } as PersistedState;
    expect(dueOperations({ ...standalone, offsiteFrequencyMinutes: 60 }, offsite, true, NOW)).toEqual([]);
    expect(dueOperations({ ...standalone, offsiteFrequencyMinutes: 60 }, offsite, true, new Date("2026-11-22T12:04:00.000Z"))).toEqual(["offsite"]);
  });

  it("status says when a backup was cancelled and its next regular time", () => {
    const lines = statusLines(
      {
        droneId: "laptop",
        repository: "/repo",
        offsiteRepository: null,
        settings: { ...settings("standalone", 60), keepDaily: 7 },
        persisted: { ...persisted("2026-11-22T09:10:00.000Z", "2026-11-22T11:50:00.000Z"), lastResult: "interrupted", lastError: null, lastPrune: null, lastCheck: null, lastCheckResult: null, pruneHold: null, lastArchive: null, totals: null, offsiteTotals: null, lastDurationSeconds: null },
        live: { state: "idle", operation: null, queue: [] } as never,
        due: [],
      },
      PLAIN,
      NOW,
    );
    const line = lines.find(text => text.startsWith("last cancel"));
    expect(line).toMatch(/^last cancel {3}cancelled at \S+ \S+ \(10m 00s ago\), next regular time \S+ \S+ \(in 10m 00s\)$/);
  });

  it("the Next Backup sensor: standalone its own, coordinated the coordinator's plan (unknown until one came), paused unknown", () => {
    expect(nextBackupState(settings("standalone", 60), persisted("2026-11-22T11:30:00.000Z"), plan, NOW)).toBe("2026-11-22T12:30:00.000Z");
    expect(nextBackupState(settings("coordinated"), persisted(null), plan, NOW)).toBe("2026-11-23T02:00:00.000Z");
    expect(nextBackupState(settings("coordinated"), persisted(null), null, NOW)).toBeNull();
    expect(nextBackupState(settings("coordinated"), persisted(null), { ...plan, next_at: null, reason: "offline" }, NOW)).toBeNull();
    expect(nextBackupState(settings("paused"), persisted(null), plan, NOW)).toBeNull();
  });

  it("status prints it: the drone's own time, `now (due)`, the coordinator's to plan, none when paused", () => {
    expect(nextBackupText(settings("standalone", 60), persisted("2026-11-22T11:30:00.000Z"), NOW)).toMatch(/ \(in 30m 00s\)$/);
    expect(nextBackupText(settings("standalone"), persisted(null), NOW)).toBe("now (due)");
    expect(nextBackupText(settings("coordinated"), persisted(null), NOW)).toBe("planned by the coordinator");
    expect(nextBackupText(settings("paused"), persisted(null), NOW)).toBe("none (paused)");
  });
});
