/**
 * The "What Home Assistant stores" section of docs/benchmarks.md, from bench/ha-cost.mts's
 * windows: the recorder's rows and bytes grouped by what wrote them, a 10-minute run projected
 * from the measured one, and the idle cost per hour.
 */
import { type HaCost, type HaCostWindow } from "./lib/results.mjs";

type Measured = Extract<HaCost, { status: "measured" }>;

/**
 * How a group's rows grow: with the create's minutes, with the clock, with the idle minutes
 * only (the heartbeat, left out while a run sends progress), once per run, the first time
 * only; `home` is Home Assistant's own.
 */
export type Growth = "progress" | "clock" | "idle" | "once" | "first" | "home";

/** What wrote a set of rows, as a person reads it, and how it grows. */
export interface Group {
  label: string;
  growth: Growth;
}

const DRONE_PROGRESS_SENSORS = new Set(["drone progress", "drone eta"]);
const COORDINATOR_PROGRESS_SENSORS = new Set(["coordinator progress", "coordinator eta", "coordinator bytes_processed", "coordinator files_processed"]);
/** Tables that give ids to new names: a row the first time an entity, event type or statistic is seen. */
const ID_TABLES = new Set(["states_meta", "event_types", "statistics_meta"]);

/**
 * The group of a recorder row (table and owner as bench/ha-cost.mts labels them). An entity's
 * group holds its states, its attributes and the `synapse/update` event (with its data) that
 * the synapse integration fires for each of the app's writes.
 */
export function recorderGroup(table: string, owner: string): Group {
  if (table === "statistics_short_term") return { label: "5-minute statistics of sensors with a state class", growth: "clock" };
  if (table === "statistics") return { label: "hourly (long-term) statistics of sensors with a state class", growth: "clock" };
  if (ID_TABLES.has(table)) return { label: "ids of names seen for the first time (entities, event types, statistics)", growth: "first" };
  if (DRONE_PROGRESS_SENSORS.has(owner)) return { label: "the drone's Progress and ETA sensors", growth: "progress" };
  if (owner === "drone last_result") return { label: "the drone's Last Result (with its `recent_runs` attribute)", growth: "once" };
  if (owner.startsWith("drone ")) return { label: "the drone's other entities (state, times, sizes, …)", growth: "once" };
  if (COORDINATOR_PROGRESS_SENSORS.has(owner)) return { label: "the coordinator's Progress, ETA, Bytes and Files sensors", growth: "progress" };
  if (owner.startsWith("coordinator ")) return { label: "the coordinator's other entities (Running Now, Queue, Last Round, …)", growth: "once" };
  if (table === "events" || table === "event_data") {
    if (owner === "backup_drone_progress") return { label: "`backup_drone_progress` events", growth: "progress" };
    if (owner === "backup_drone_status") return { label: "`backup_drone_status` events (heartbeats and changes)", growth: "idle" };
    if (owner === "backup_drone_result") return { label: "`backup_drone_result` event", growth: "once" };
    if (owner.startsWith("backup_coordinator_")) return { label: "the coordinator's events (plan, run started, run finished)", growth: "once" };
    if (owner === "call_service") return { label: "`call_service` event (the coordinator's press)", growth: "once" };
    if (owner === "recorder_5min_statistics_generated") return { label: "Home Assistant's own (statistics runs)", growth: "home" };
    return { label: `other events (${owner})`, growth: "once" };
  }
  if (table === "states" || table === "state_attributes") return { label: `other entities (${owner})`, growth: "once" };
  if (table === "statistics_runs" || table === "recorder_runs") return { label: "Home Assistant's own (statistics runs)", growth: "home" };
  return { label: `other rows (${table})`, growth: "once" };
}

/** Rows and bytes per group, biggest first. */
export function grouped(window: HaCostWindow): { group: Group; rows: number; bytes: number }[] {
  const groups = new Map<string, { group: Group; rows: number; bytes: number }>();
  for (const row of window.recorder) {
    const group = recorderGroup(row.table, row.owner);
    const entry = groups.get(group.label) ?? { group, rows: 0, bytes: 0 };
    entry.rows += row.rows;
    entry.bytes += row.bytes;
    groups.set(group.label, entry);
  }
  return [...groups.values()].sort((a, b) => b.rows - a.rows);
}

const sum = (rows: readonly { rows: number; bytes: number }[]) => rows.reduce((total, row) => ({ rows: total.rows + row.rows, bytes: total.bytes + row.bytes }), { rows: 0, bytes: 0 });

/** Our rows of every run: Home Assistant's own bookkeeping and the ids of the first run are left out. */
const ours = (rows: { group: Group; rows: number; bytes: number }[]) => rows.filter(row => row.group.growth !== "home" && row.group.growth !== "first");

/** Rows and bytes per minute of the idle window, per group label. */
function idleRates(cost: Measured): Map<string, { rows: number; bytes: number }> {
  const minutes = cost.idle.seconds / 60;
  return new Map(grouped(cost.idle).map(({ group, rows, bytes }) => [group.label, { rows: rows / minutes, bytes: bytes / minutes }]));
}

/**
 * A scheduled run of `minutes` projected from the measured one: the rows that come once as
 * measured; those that follow progress at their rate per minute of create, for the create's
 * share of the longer run (the other steps keep their measured length); statistics at the
 * idle window's rate for `minutes`, plus what the measured window had beyond that rate; status
 * events as the run had them (its changes: no heartbeat goes out while progress events do),
 * less the heartbeats of the window's idle minutes before and after the run.
 */
export function projectRun(cost: Measured, minutes: number): { rows: number; bytes: number } {
  const { run } = cost;
  const createMinutes = run.createSeconds / 60;
  const otherMinutes = Math.max(0, run.runSeconds - run.createSeconds) / 60;
  const windowMinutes = run.seconds / 60;
  const idleMinutes = Math.max(0, run.seconds - run.runSeconds) / 60;
  const longerCreate = Math.max(createMinutes, minutes - otherMinutes);
  const rates = idleRates(cost);
  let rows = 0;
  let bytes = 0;
  for (const { group, rows: r, bytes: b } of ours(grouped(run))) {
    if (group.growth === "clock") {
      const rate = rates.get(group.label) ?? { rows: 0, bytes: 0 };
      rows += Math.max(0, r - rate.rows * windowMinutes) + rate.rows * minutes;
      bytes += Math.max(0, b - rate.bytes * windowMinutes) + rate.bytes * minutes;
      continue;
    }
    if (group.growth === "idle") {
      const rate = rates.get(group.label) ?? { rows: 0, bytes: 0 };
      rows += Math.max(0, r - rate.rows * idleMinutes);
      bytes += Math.max(0, b - rate.bytes * idleMinutes);
      continue;
    }
    const factor = group.growth === "progress" && createMinutes > 0 ? longerCreate / createMinutes : 1;
    rows += r * factor;
    bytes += b * factor;
  }
  return { rows: Math.round(rows), bytes: Math.round(bytes) };
}

/** The idle window per hour: what grows with the clock, each group scaled to 3,600 s. */
export function idlePerHour(cost: Measured): { label: string; rows: number; bytes: number }[] {
  const scale = 3600 / cost.idle.seconds;
  return grouped(cost.idle)
    .filter(({ group }) => group.growth === "clock" || group.growth === "idle")
    .map(({ group, rows, bytes }) => ({ label: group.label, rows: rows * scale, bytes: bytes * scale }));
}

const GROWTH_WORDS: Record<Growth, string> = {
  progress: "the create's minutes",
  clock: "the clock",
  idle: "the idle minutes",
  once: "once per run",
  first: "the first run only",
  home: "Home Assistant's own",
};

type RecorderRow = HaCostWindow["recorder"][number];

const isEntityOwner = (owner: string) => owner.startsWith("drone ") || owner.startsWith("coordinator ");
const PROGRESS_ENTITY_OWNERS = new Set([...DRONE_PROGRESS_SENSORS, ...COORDINATOR_PROGRESS_SENSORS]);

/** A recorder exclusion a person can add (docs/homeassistant.md), and the rows it keeps out. */
export interface Exclusion {
  /** What goes under `recorder: exclude:`. */
  yaml: string;
  what: string;
  excludes: (row: RecorderRow) => boolean;
}

/** The exclusions docs/homeassistant.md proposes, each judged on the measured rows. */
export const EXCLUSIONS: readonly Exclusion[] = [
  {
    yaml: "event_types: [synapse/update]",
    what: "the synapse integration's event of every entity write (nothing reads it back)",
    excludes: row => (row.table === "events" || row.table === "event_data") && isEntityOwner(row.owner),
  },
  { yaml: "event_types: [backup_drone_progress]", what: "the drones' progress events", excludes: row => row.owner === "backup_drone_progress" },
  { yaml: "event_types: [backup_drone_status]", what: "the drones' heartbeats and status changes", excludes: row => row.owner === "backup_drone_status" },
  {
    yaml: "entity_globs: [sensor.*_progress, sensor.*_eta, sensor.backup_coordinator_*_processed]",
    what: "the history (and statistics) of the progress sensors",
    excludes: row => row.table !== "events" && row.table !== "event_data" && PROGRESS_ENTITY_OWNERS.has(row.owner),
  },
];

/** A window without the rows an exclusion keeps out. */
const without = <W extends HaCostWindow>(window: W, exclusion: Exclusion): W => ({ ...window, recorder: window.recorder.filter(row => !exclusion.excludes(row)) });

/** What each exclusion, and all of them, save of a projected run and of an idle hour. */
export function exclusionSavings(cost: Measured, minutes = HA_COST_TARGET.minutes) {
  const full = projectRun(cost, minutes);
  const hour = sum(idlePerHour(cost));
  const saving = (excluded: Exclusion) => {
    const measured = { ...cost, run: without(cost.run, excluded), idle: without(cost.idle, excluded) };
    const run = projectRun(measured, minutes);
    const idle = sum(idlePerHour(measured));
    return { run: { rows: full.rows - run.rows, bytes: full.bytes - run.bytes }, idle: { rows: hour.rows - idle.rows, bytes: hour.bytes - idle.bytes } };
  };
  const all: Exclusion = { yaml: "all of the above", what: "", excludes: row => EXCLUSIONS.some(exclusion => exclusion.excludes(row)) };
  return [...EXCLUSIONS, all].map(exclusion => ({ exclusion, ...saving(exclusion) }));
}

const kb = (bytes: number) => `${(bytes / 1000).toFixed(1)} kB`;
const count = (value: number) => (value >= 10 ? value.toFixed(0) : value.toFixed(1));
const table = (header: readonly string[], rows: readonly (readonly string[])[]) =>
  [`| ${header.join(" | ")} |`, `| ${header.map(() => "---").join(" | ")} |`, ...rows.map(row => `| ${row.join(" | ")} |`)].join("\n");

/** How long bench/ha-cost.mts waits after a run for the last writes to be committed. */
export const SETTLE_SECONDS = 20;

/** The targets of a 10-minute scheduled run at the shipped defaults. */
export const HA_COST_TARGET = { minutes: 10, rows: 200, bytes: 100_000 } as const;

/** The projected 10-minute run against its targets (undefined when not measured). */
export function haCostHeadline(cost: HaCost | undefined) {
  if (cost?.status !== "measured") return undefined;
  const projected = projectRun(cost, HA_COST_TARGET.minutes);
  return { ...projected, rowsMet: projected.rows < HA_COST_TARGET.rows, bytesMet: projected.bytes < HA_COST_TARGET.bytes };
}

/** The section's body. */
export function haCostSection(cost: HaCost | undefined): string {
  if (cost === undefined) return "_Not run (older results)._";
  if (cost.status !== "measured") return `_${cost.status === "skipped" ? "Skipped" : "Failed"}: ${cost.reason}._`;
  const { run, idle, settings } = cost;
  const runGroups = grouped(run);
  const runTotal = sum(ours(runGroups));
  const projected = projectRun(cost, HA_COST_TARGET.minutes);
  const perHour = idlePerHour(cost);
  const idleTotal = sum(perHour);
  const busRun = sum(run.bus.map(row => ({ rows: row.events, bytes: row.bytes })));
  const busIdle = sum(idle.bus.map(row => ({ rows: row.events, bytes: row.bytes })));
  const hourly = 3600 / idle.seconds;
  const runMinutes = (run.runSeconds / 60).toFixed(1);
  const createMinutes = (run.createSeconds / 60).toFixed(1);
  return [
    `Home Assistant ${cost.haVersion} with its recorder on SQLite and the synapse integration ${cost.synapseVersion}, one drone and the coordinator (the built bins, shipped defaults: PROGRESS_INTERVAL_MS ${settings.progressIntervalMs}, STATUS_INTERVAL_SECONDS ${settings.statusIntervalSeconds}, the drone's Progress/ETA sensors at most every ${settings.droneProgressEntityMs / 1000} s, the coordinator's progress sensors at most every ${settings.coordinatorProgressMs / 1000} s), added through the integration's config flow. The scheduled run starts as scheduled runs do: the coordinator's own look finds the drone due (when its backup window opens) and presses its Scheduled Backup: a first backup of ${cost.data.files.toLocaleString("en")} files (${(cost.data.bytes / 1e6).toFixed(0)} MB) with its pre-scan, then prune, compact and stats. borg's create is slowed to last minutes: a wrapper lets it work ${settings.borgDutyPercent.toFixed(0)} % of the time (SIGSTOP/SIGCONT, 10 ms a second), and borg writes a progress line each time it works, once a second. Rows are counted by the ids the recorder gave them between two snapshots of its database; bytes are what SQLite stores of each row (text at its length, numbers 8 bytes), without its pages and indexes, which are counted apart (SQLite's \`dbstat\`).`,
    "",
    `### One scheduled run: ${runMinutes} minutes, of which ${createMinutes} creating`,
    "",
    table(
      ["what wrote it", "grows with", "rows", "stored bytes"],
      [
        ...ours(runGroups).map(({ group, rows, bytes }) => [group.label, GROWTH_WORDS[group.growth], String(rows), kb(bytes)]),
        ["**all of every run**", "", `**${runTotal.rows}**`, `**${kb(runTotal.bytes)}**`],
        ...runGroups.filter(row => !ours([row]).length).map(({ group, rows, bytes }) => [group.label, GROWTH_WORDS[group.growth], String(rows), kb(bytes)]),
      ],
    ),
    "",
    `The recorder's tables and indexes grew by ${kb(run.diskBytes)} in SQLite's pages over the window (${(run.seconds / 60).toFixed(1)} minutes: the last idle minutes before the press, the run, and ${SETTLE_SECONDS} s after the coordinator's run-finished event). On the bus: ${busRun.rows} events, ${kb(busRun.bytes)} as a subscriber receives them:`,
    "",
    table(
      ["event type", "events", "bytes"],
      run.bus.map(row => [row.type.startsWith("state_changed") ? row.type : `\`${row.type}\``, String(row.events), kb(row.bytes)]),
    ),
    "",
    `**A ${HA_COST_TARGET.minutes}-minute scheduled run, projected** from this one: what comes once per run as measured, the progress rows at their rate per minute of create for a create of ${HA_COST_TARGET.minutes} minutes less the other steps' time, statistics at their rate per minute, the status events as the run had them (no heartbeat goes out while progress events do) less the heartbeats of the window's idle minutes: **${projected.rows} rows, ${kb(projected.bytes)}** (target: under ${HA_COST_TARGET.rows} rows and ${HA_COST_TARGET.bytes / 1000} kB).`,
    "",
    `### Idle, per hour (measured over ${(idle.seconds / 60).toFixed(0)} minutes, scaled)`,
    "",
    table(
      ["what wrote it", "rows per hour", "stored bytes per hour"],
      [...perHour.map(row => [row.label, count(row.rows), kb(row.bytes)]), ["**all**", `**${count(idleTotal.rows)}**`, `**${kb(idleTotal.bytes)}**`]],
    ),
    "",
    `On the bus while idle: ${count(busIdle.rows * hourly)} events per hour, ${kb(busIdle.bytes * hourly)}. The hourly statistics are written on the hour: a window that holds no full hour shows none of them; each sensor with a state class adds one such row per hour, kept for good (the 5-minute ones and the states are purged after the recorder's \`purge_keep_days\`, 10 by default).`,
    "",
    "### What the recorder exclusions save",
    "",
    `Each exclusion of [homeassistant.md](homeassistant.md#what-the-recorder-keeps), judged on the rows measured above (the rows it keeps out, taken away from the same projection and the same idle hour):`,
    "",
    table(
      ["`recorder: exclude:`", `${HA_COST_TARGET.minutes}-minute run: rows saved`, "bytes saved", "idle hour: rows saved", "bytes saved"],
      exclusionSavings(cost).map(({ exclusion, run: r, idle: i }) => [
        exclusion.yaml === "all of the above" ? "**all of them**" : `\`${exclusion.yaml}\``,
        `${r.rows} of ${projected.rows}`,
        kb(r.bytes),
        count(i.rows),
        kb(i.bytes),
      ]),
    ),
  ].join("\n");
}
