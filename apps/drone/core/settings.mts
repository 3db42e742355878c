/**
 * Settings a person changes while the drone runs (from Home Assistant or the CLI): their
 * schema, picked from the configuration's so that each range is written once, the settings in
 * force (the configuration overlaid with what was changed), the checks of a change, the keep
 * rules they give, and what the drone's own schedule makes due.
 */
import dayjs from "dayjs";
import { z } from "zod";

import { KEEP_WITHIN_PATTERN } from "../../../libs/borg/index.mjs";
import { MAX_STATE_LENGTH, nextRegularTime, type Operation, retryTime } from "../../../libs/protocol/index.mjs";
import { DRONE_CONFIGURATION, type DroneConfig, droneConfigSchema, hasKeepRule, type KeepSettings } from "../config.mjs";
import { archiveProblem, canonicalTarget, LATEST, targetProblem } from "./restore.mjs";
import type { PersistedState } from "./state.mjs";

const configured = droneConfigSchema.shape;

/** Settings a person can change while the drone runs. */
export const settingsSchema = z.object({
  mode: configured.MODE,
  frequencyMinutes: configured.FREQUENCY_MINUTES,
  offsiteFrequencyMinutes: configured.OFFSITE_FREQUENCY_MINUTES,
  priority: configured.PRIORITY,
  keepDaily: configured.KEEP_DAILY,
  keepWeekly: configured.KEEP_WEEKLY,
  keepMonthly: configured.KEEP_MONTHLY,
  keepYearly: configured.KEEP_YEARLY,
  /** Empty string: rule off. Checked against borg's syntax when changed (see {@link checkSettingsChange}). */
  keepWithin: z.string(),
  /** What the Restore button restores: `latest`, or an archive name of this drone. */
  restoreArchive: z.string().min(1).max(MAX_STATE_LENGTH),
  /** Where the Restore button restores to: an absolute folder; empty until someone sets it. */
  restoreTarget: z.string().max(MAX_STATE_LENGTH),
});
/** Run-time settings. */
export type Settings = z.infer<typeof settingsSchema>;

/** A change of settings that was refused: which setting (or `keep rules`), and why. */
export class SettingsError extends Error {
  override readonly name = "SettingsError";
  constructor(
    readonly setting: keyof Settings | "keep rules" | "setting",
    readonly reason: string,
  ) {
    super(`${setting}: ${reason}`);
  }
}

/** Settings in force: the configuration overlaid with what was changed at run time. */
export function settingsOf(config: DroneConfig, changed: Partial<Settings>): Settings {
  return {
    mode: config.mode,
    frequencyMinutes: config.frequencyMinutes,
    offsiteFrequencyMinutes: config.offsite?.frequencyMinutes ?? DRONE_CONFIGURATION.OFFSITE_FREQUENCY_MINUTES.default,
    priority: config.priority,
    keepDaily: config.keep.daily,
    keepWeekly: config.keep.weekly,
    keepMonthly: config.keep.monthly,
    keepYearly: config.keep.yearly,
    keepWithin: config.keep.within ?? "",
    restoreArchive: LATEST,
    restoreTarget: "",
    ...changed,
  };
}

/** The keep rules of the primary repository that settings give. */
export function keepRulesOf(settings: Settings): KeepSettings {
  return {
    within: settings.keepWithin || undefined,
    daily: settings.keepDaily,
    weekly: settings.keepWeekly,
    monthly: settings.keepMonthly,
    yearly: settings.keepYearly,
  };
}

/**
 * Check a change against the settings in force; returns the change as it is stored (a restore
 * target made canonical). Throws a {@link SettingsError} naming the first bad setting.
 */
export function checkSettingsChange(patch: Partial<Settings>, current: Settings, archivePrefix: string): Partial<Settings> {
  const parsed = settingsSchema.partial().safeParse(patch);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.join(".");
    throw new SettingsError(path ? (path as keyof Settings) : "setting", issue?.message ?? "invalid");
  }
  const change = parsed.data;
  const next = { ...current, ...change };
  if (next.keepWithin !== "" && !KEEP_WITHIN_PATTERN.test(next.keepWithin)) {
    throw new SettingsError("keepWithin", `must be a number and a unit (H, d, w, m, y), e.g. 14d (got ${JSON.stringify(next.keepWithin)})`);
  }
  if (!hasKeepRule(keepRulesOf(next))) throw new SettingsError("keep rules", "at least one rule must keep archives");
  const archiveIssue = change.restoreArchive === undefined ? undefined : archiveProblem(next.restoreArchive, archivePrefix);
  if (archiveIssue) throw new SettingsError("restoreArchive", archiveIssue);
  // empty is allowed: it unsets the target
  const targetIssue = change.restoreTarget ? targetProblem(next.restoreTarget) : undefined;
  if (targetIssue) throw new SettingsError("restoreTarget", targetIssue);
  if (change.restoreTarget) change.restoreTarget = canonicalTarget(change.restoreTarget);
  return change;
}

type BackupKind = keyof PersistedState["cancelledAt"];

/**
 * When a backup of one kind is due by the drone's own schedule: its last backup plus its
 * frequency (at once when it never backed up); after a cancel, its next regular time; after
 * failures in a row, not before the retry (5 minutes, 10, then a frequency: DEFAULT_RETRY).
 */
function dueTime(persisted: Readonly<PersistedState>, kind: BackupKind, minutes: number): number | null {
  const last = kind === "primary" ? persisted.lastBackup : persisted.lastOffsiteBackup;
  const cancelledAt = persisted.cancelledAt[kind];
  const regular =
    cancelledAt !== null
      ? nextRegularTime(last === null ? null : new Date(last), minutes, new Date(cancelledAt)).getTime()
      : last === null
        ? null
        : dayjs(last).add(minutes, "minute").valueOf();
  const failed = persisted.failedBackups[kind];
  if (failed === null) return regular;
  return Math.max(regular ?? 0, retryTime(new Date(failed.at), failed.attempts, minutes).getTime());
}

/**
 * When the drone's own schedule runs its next backup: its last backup plus Backup Frequency,
 * or now once that has passed (or it never backed up); after a cancel, its next regular time.
 * Null outside standalone mode.
 */
export function nextOwnBackup(settings: Settings, persisted: Readonly<PersistedState>, now: Date): Date | null {
  if (settings.mode !== "standalone") return null;
  const due = dueTime(persisted, "primary", settings.frequencyMinutes);
  return new Date(Math.max(due ?? now.getTime(), now.getTime()));
}

/** Operations due now by the drone's own schedule: only in standalone mode. */
export function dueOperations(settings: Settings, persisted: Readonly<PersistedState>, hasOffsite: boolean, now: Date): Operation[] {
  if (settings.mode !== "standalone") return [];
  const operations: Operation[] = [];
  const overdue = (kind: BackupKind, minutes: number) => (dueTime(persisted, kind, minutes) ?? 0) <= now.getTime();
  if (overdue("primary", settings.frequencyMinutes)) operations.push("scheduled");
  if (hasOffsite && overdue("offsite", settings.offsiteFrequencyMinutes)) operations.push("offsite");
  return operations;
}
