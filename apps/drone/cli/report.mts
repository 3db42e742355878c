/** What the commands print for people: results, statistics, status, archive lists. Pure functions. */
import { nextRegularTime, type Outcome, type ResultEvent } from "../../../libs/protocol/index.mjs";
import { DUMPS_DIR } from "../core/dumps/manifest.mjs";
import { dumpsInItems } from "../core/dumps/restore.mjs";
import { type FoundVersion } from "../core/find.mjs";
import { type HistoryOutcome, type HistoryRecord } from "../core/history.mjs";
import { type PersistedState } from "../core/state.mjs";
import { keepRulesOf, nextOwnBackup, type Settings } from "../core/settings.mjs";
import { formatBytes, formatCount, formatDuration, formatFrequency, formatRatio, formatWhen, plural } from "./format.mjs";
import { EXIT_CODES, type ExitCode } from "./spec.mjs";
import { type Paint } from "./terminal.mjs";

/** The exit code of a result. */
export function exitCodeOf(result: Pick<ResultEvent, "outcome" | "error_kind">): ExitCode {
  if (result.outcome === "failed" && result.error_kind === "busy") return EXIT_CODES.refused;
  if (result.outcome === "failed" && result.error_kind === "target_not_empty") return EXIT_CODES.not_empty;
  const codes: Record<Outcome, ExitCode> = {
    success: EXIT_CODES.success,
    warning: EXIT_CODES.warning,
    failed: EXIT_CODES.failed,
    interrupted: EXIT_CODES.interrupted,
    held: EXIT_CODES.held,
  };
  return codes[result.outcome];
}

const MARKS: Record<Outcome, (paint: Paint) => string> = {
  success: paint => paint.green("✔"),
  warning: paint => paint.yellow("⚠"),
  failed: paint => paint.red("✖"),
  interrupted: paint => paint.yellow("■"),
  held: paint => paint.yellow("⏸"),
};

const VERBS: Record<Outcome, string> = {
  success: "succeeded",
  warning: "finished with warnings",
  failed: "failed",
  interrupted: "was interrupted",
  held: "finished with prune held",
};

/** What a successful run did, in a few words. */
function achievements(result: ResultEvent): string[] {
  const parts: string[] = [];
  const archive = result.archive;
  if (archive) {
    parts.push(
      `archive ${archive.name}: ${plural(archive.nfiles, "file")}, ${formatBytes(archive.original_size)} read, ${formatBytes(archive.deduplicated_size)} new`,
    );
  }
  if (result.operation === "prune" || result.operation === "scheduled" || result.operation === "offsite") {
    const pruned = result.pruned_count ?? result.pruned.length;
    if (result.outcome === "held") parts.push("nothing pruned");
    else parts.push(pruned > 0 ? `pruned ${plural(pruned, "archive")}` : "nothing to prune");
  }
  const checks = result.checks ?? [];
  if (checks.length > 0 && checks.every(check => check.healthy)) parts.push(`${plural(checks.length, "check")} found no damage`);
  const restored = result.restore;
  if (restored) {
    const paths = restored.paths_count ?? restored.paths.length;
    const what = paths > 0 ? `${plural(paths, "path")} of ${restored.archive}` : restored.archive;
    parts.push(`restored ${what} into ${restored.target}`);
  }
  return parts;
}

/** One line per dump of the run: its name, size and time, or why it failed. */
function dumpLines(result: ResultEvent, paint: Paint): string[] {
  return (result.dumps ?? []).map(dump => {
    const head = `  dump ${paint.bold(dump.name)} (${dump.kind}):`;
    if (dump.outcome === "success") return `${head} ${formatBytes(dump.size)} in ${formatDuration(dump.duration_seconds)}`;
    if (dump.outcome === "not_run") return paint.dim(`${head} not run`);
    return `${head} ${paint.red("failed")} after ${formatDuration(dump.duration_seconds)}`;
  });
}

/** The result as lines for people: one headline, then the dumps, warnings, notes, the error, or the pruned archives. */
export function resultLines(result: ResultEvent, paint: Paint, verbose = false): string[] {
  const lines: string[] = [];
  if (exitCodeOf(result) === EXIT_CODES.refused) {
    return [`${paint.yellow("■")} ${paint.bold(`${result.operation} was refused`)}: ${result.error ?? "another operation runs"}`];
  }
  const mark = MARKS[result.outcome](paint);
  const preposition = result.outcome === "failed" || result.outcome === "interrupted" ? "after" : "in";
  const what = `${result.operation} ${VERBS[result.outcome]} ${preposition} ${formatDuration(result.duration_seconds)}`;
  if (result.outcome === "failed" || result.outcome === "interrupted") {
    lines.push(`${mark} ${paint.bold(what)}: ${result.error ?? "no reason given"}`);
  } else {
    const done = achievements(result);
    lines.push(`${mark} ${paint.bold(what)}${done.length > 0 ? ` — ${done.join("; ")}` : ""}`);
  }
  if (result.outcome === "held") lines.push(`  ${paint.yellow("held:")} ${result.error ?? "prune is held"}`);
  lines.push(...dumpLines(result, paint));
  for (const warning of result.warnings) lines.push(`  ${paint.yellow("warning:")} ${warning}`);
  for (const note of result.notes ?? []) lines.push(`  ${paint.dim("note:")} ${note}`);
  if (verbose || result.pruned.length <= 5) for (const name of result.pruned) lines.push(paint.dim(`  pruned ${name}`));
  const unlisted = (result.pruned_count ?? result.pruned.length) - result.pruned.length;
  if (verbose && unlisted > 0) lines.push(paint.dim(`  and ${plural(unlisted, "more archive")}`));
  return lines;
}

/** What `find` found, for people: each version's archive and time, then its matching files. */
export function findLines(versions: readonly FoundVersion[], paint: Paint, now = new Date()): string[] {
  const lines: string[] = [];
  for (const version of versions) {
    const older = version.archives.length - 1;
    const also = older > 0 ? paint.dim(`  (also in ${plural(older, "older archive")})`) : "";
    lines.push(`${paint.bold(version.archive)}  ${formatWhen(version.start.toISOString(), now)}${also}`);
    // a dump's manifest and data show as the dump, by name
    const dumps = dumpsInItems(version.items);
    const shown = new Set(dumps.flatMap(dump => [`${DUMPS_DIR}/${dump.name}.json`, ...(dump.file === null ? [] : [`${DUMPS_DIR}/${dump.file}`])]));
    for (const dump of dumps) lines.push(`  dump ${dump.name}  ${paint.dim(dump.size === null ? "no data" : formatBytes(dump.size))}`);
    for (const item of version.items) {
      if (shown.has(item.path)) continue;
      const size = item.type === "d" ? "folder" : formatBytes(item.size ?? 0);
      const mtime = item.mtime ? `  modified ${formatWhen(item.mtime.toISOString(), now)}` : "";
      lines.push(`  ${item.path}  ${paint.dim(`${size}${mtime}`)}`);
    }
  }
  return lines;
}

/** Repository statistics for people. */
export function statsLines(persisted: Readonly<PersistedState>, paint: Paint): string[] {
  const totals = persisted.totals;
  if (!totals) return ["no statistics yet: run `backup-drone stats`"];
  // create records the repository's sizes but counts archives only from a known count
  const archives =
    persisted.archiveCount === null
      ? "not counted yet (the sizes below are from the last create; `backup-drone stats` or the next backup counts them)"
      : `${formatCount(persisted.archiveCount)} of this drone`;
  return [
    `${paint.bold("archives")}      ${archives}`,
    `${paint.bold("original")}      ${formatBytes(totals.totalSize)}  (every archive in the repository, as read)`,
    `${paint.bold("compressed")}    ${formatBytes(totals.compressedSize)}`,
    `${paint.bold("on disk")}       ${formatBytes(totals.deduplicatedSize)}  (deduplicated; ratio ${formatRatio(totals.totalSize, totals.deduplicatedSize)})`,
  ];
}

/** The statistics `stats --json` prints before its result event: sizes in bytes, null where not known. */
export function statsJson(droneId: string, persisted: Readonly<PersistedState>) {
  const sizes = (totals: PersistedState["totals"]) =>
    totals === null ? null : { original_size: totals.totalSize, compressed_size: totals.compressedSize, deduplicated_size: totals.deduplicatedSize };
  return { statistics: { drone_id: droneId, archive_count: persisted.archiveCount, primary: sizes(persisted.totals), offsite: sizes(persisted.offsiteTotals) } };
}

/** Whether another process runs an operation for this drone now. */
export interface LiveRun {
  busy: boolean;
  operation: string | null;
  run_id: string | null;
  started_at: string | null;
  pid: number | null;
}

/**
 * The next backup as `status` prints it: standalone, the drone's own schedule; coordinated,
 * the coordinator decides (its plan reaches the drone's Next Backup sensor through Home
 * Assistant, which the command does not hear); paused, none.
 */
export function nextBackupText(settings: Settings, persisted: Readonly<PersistedState>, now = new Date()): string {
  if (settings.mode === "paused") return "none (paused)";
  if (settings.mode === "coordinated") return "planned by the coordinator";
  const next = nextOwnBackup(settings, persisted, now);
  return next === null || next.getTime() <= now.getTime() ? "now (due)" : formatWhen(next.toISOString(), now);
}

/** A backup cancelled and not run since: when, and when its schedule runs it again. */
function cancelledLines(settings: Settings, persisted: Readonly<PersistedState>, hasOffsite: boolean, paint: Paint, now: Date): string[] {
  const line = (label: string, cancelledAt: string | null, last: string | null, minutes: number) =>
    cancelledAt === null
      ? []
      : [
          `${paint.bold(label)} ${paint.yellow(`cancelled at ${formatWhen(cancelledAt, now)}`)}, next regular time ${formatWhen(
            nextRegularTime(last === null ? null : new Date(last), minutes, new Date(cancelledAt)).toISOString(),
            now,
          )}`,
        ];
  return [
    ...line("last cancel  ", persisted.cancelledAt.primary, persisted.lastBackup, settings.frequencyMinutes),
    ...(hasOffsite ? line("offsite cancel", persisted.cancelledAt.offsite, persisted.lastOffsiteBackup, settings.offsiteFrequencyMinutes) : []),
  ];
}

/** The `status` view for people. */
export function statusLines(
  view: {
    droneId: string;
    repository: string;
    offsiteRepository: string | null;
    settings: Settings;
    persisted: Readonly<PersistedState>;
    live: LiveRun;
    due: string[];
  },
  paint: Paint,
  now = new Date(),
): string[] {
  const { settings, persisted, live } = view;
  const rules = keepRulesOf(settings);
  const keep = [
    rules.within ? `within ${rules.within}` : undefined,
    ...(["daily", "weekly", "monthly", "yearly"] as const).map(rule => (rules[rule] ? `${rule} ${rules[rule]}` : undefined)),
  ].filter(part => part !== undefined);
  const lastResult =
    persisted.lastResult === null
      ? "none yet"
      : `${persisted.lastResult}${persisted.lastDurationSeconds !== null ? ` in ${formatDuration(persisted.lastDurationSeconds)}` : ""}`;
  const lines = [
    `${paint.bold("drone")}         ${view.droneId}`,
    `${paint.bold("repository")}    ${view.repository}`,
    ...(view.offsiteRepository ? [`${paint.bold("offsite")}       ${view.offsiteRepository}`] : []),
    `${paint.bold("mode")}          ${settings.mode} (${formatFrequency(settings.frequencyMinutes)})`,
    `${paint.bold("keep")}          ${keep.join(", ")}`,
    `${paint.bold("running now")}   ${
      live.busy ? `${live.operation ?? "?"} (pid ${live.pid ?? "?"}, since ${formatWhen(live.started_at, now)})` : "nothing"
    }`,
    `${paint.bold("last backup")}   ${formatWhen(persisted.lastBackup, now)}`,
    `${paint.bold("next backup")}   ${nextBackupText(settings, persisted, now)}`,
    `${paint.bold("last prune")}    ${formatWhen(persisted.lastPrune, now)}`,
    `${paint.bold("last check")}    ${formatWhen(persisted.lastCheck, now)}${persisted.lastCheckResult ? ` (${persisted.lastCheckResult === "failed" ? paint.red("damage found") : "no damage"})` : ""}`,
    ...(view.offsiteRepository ? [`${paint.bold("last offsite")}  ${formatWhen(persisted.lastOffsiteBackup, now)}`] : []),
    `${paint.bold("last result")}   ${lastResult}`,
    ...cancelledLines(settings, persisted, view.offsiteRepository !== null, paint, now),
  ];
  if (persisted.lastError && persisted.lastResult !== "success" && persisted.lastResult !== "held") {
    lines.push(`${paint.bold("last error")}    ${paint.red(persisted.lastError)}`);
  }
  const hold = persisted.pruneHold;
  if (hold) {
    lines.push(
      `${paint.bold("prune held")}    ${paint.yellow(`since ${formatWhen(hold.since, now)}, every archive kept`)}: ${hold.reasons.join("; ")}`,
      `              look at the newest archive (list, find); if it is right: backup-drone release`,
    );
  }
  if (persisted.lastArchive) {
    const archive = persisted.lastArchive;
    lines.push(
      `${paint.bold("last archive")}  ${archive.name}: ${plural(archive.nfiles, "file")}, ${formatBytes(archive.originalSize)}, ${formatDuration(archive.durationSeconds)}`,
    );
  }
  if (settings.mode === "standalone") lines.push(`${paint.bold("due now")}       ${view.due.length > 0 ? view.due.join(", ") : "nothing"}`);
  lines.push(...statsLines(persisted, paint));
  return lines;
}

const HISTORY_MARKS: Record<HistoryOutcome, (paint: Paint) => string> = { ...MARKS, running: paint => paint.dim("…") };

/** A local time to the minute, `2026-11-22 10:04`. */
const localMinute = (date: Date) => {
  const pad = (value: number) => String(value).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
};

/** The run history as a table, newest first: when, operation, trigger, outcome, duration, files, added, error kind. */
export function historyLines(records: readonly HistoryRecord[], paint: Paint): string[] {
  const header = ["WHEN", "OPERATION", "TRIGGER", "OUTCOME", "DURATION", "FILES", "ADDED", "ERROR KIND"];
  const rows = records.map(record => [
    localMinute(record.startedAt),
    record.operation,
    record.trigger,
    record.outcome,
    record.durationSeconds === null ? "–" : formatDuration(record.durationSeconds),
    record.archive === null ? "–" : formatCount(record.archive.nfiles),
    record.addedBytes === null ? "–" : formatBytes(record.addedBytes),
    record.errorKind ?? "",
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map(row => row[column]?.length ?? 0)));
  // numbers right-aligned; the mark before the outcome is painted after padding (colour codes have no width)
  const RIGHT = new Set([4, 5, 6]);
  const cells = (row: readonly string[]) =>
    row.map((cell, column) => (RIGHT.has(column) ? cell.padStart(widths[column] ?? 0) : cell.padEnd(widths[column] ?? 0))).join("  ").trimEnd();
  return [
    paint.bold(`  ${cells(header)}`),
    ...rows.map((row, index) => {
      const record = records[index];
      return `${record ? HISTORY_MARKS[record.outcome](paint) : " "} ${cells(row)}`;
    }),
  ];
}

