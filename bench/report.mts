/**
 * docs/benchmarks.md from a results file, so that the tables never drift from the numbers.
 * `npm run bench` calls it at the end; `npx tsx bench/report.mts [bench/results/X.json]`
 * regenerates the page from any results file (default: latest.json).
 */
import { readFile, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";

import { HA_COST_TARGET, haCostHeadline, haCostSection } from "./ha-cost-report.mjs";
import { median, quantile } from "./lib/stats.mjs";
import { type Results, resultsSchema } from "./lib/results.mjs";

const ROOT = join(import.meta.dirname, "..");

const seconds = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : "—");
const millis = (ms: number, decimals = 1) => (Number.isFinite(ms) ? `${ms.toFixed(decimals)} ms` : "—");
const mib = (bytes: number | null) => (bytes !== null && Number.isFinite(bytes) ? `${(bytes / 2 ** 20).toFixed(0)} MiB` : "—");
const percent = (value: number) => (Number.isFinite(value) ? `${value.toFixed(1)} %` : "—");
const table = (header: readonly string[], rows: readonly (readonly string[])[]) =>
  [`| ${header.join(" | ")} |`, `| ${header.map(() => "---").join(" | ")} |`, ...rows.map(row => `| ${row.join(" | ")} |`)].join("\n");
const verdict = (ok: boolean | undefined) => (ok === undefined ? "not measured" : ok ? "met" : "**missed**");

const VARIANT_LABELS: Record<string, string> = {
  raw_borg: "raw `borg create`",
  borg_drone_args: "raw borg with the drone's arguments",
  drone_library: "drone, library call (in process)",
  drone_one_shot: "`backup-drone create` (one-shot)",
  borgmatic: "`borgmatic create`",
  borgmatic2: "`borgmatic create` (2.x)",
};

/** A variant's label, with the borgmatic versions the run measured. */
function variantLabel(results: Results, variant: string): string {
  if (variant === "borgmatic" && results.machine.borgmatic) return `\`borgmatic create\` ${results.machine.borgmatic} (Debian)`;
  if (variant === "borgmatic2" && results.machine.borgmatic2) return `\`borgmatic create\` ${results.machine.borgmatic2} (PyPI)`;
  return VARIANT_LABELS[variant] ?? variant;
}

/** The borg version a timing ran on (results before borg 1.4 was compared ran on the machine's borg). */
const borgOf = (results: Results, timing: Results["create"][number]) => timing.borg ?? results.machine.borg;

/** The borg versions of the create comparison, in the order they ran. */
const borgsOf = (results: Results) => [...new Set(results.create.map(t => borgOf(results, t)))];

const STARTUP_LABELS: Record<string, string> = {
  node_empty: "`node -e 0` (Node's own start)",
  drone_version: "`backup-drone --version` (no drone booted)",
  drone_status: "`backup-drone status` (drone booted, no borg)",
  drone_list: "`backup-drone list`",
  borg_list: "raw `borg list`",
  borgmatic_list: "`borgmatic list`",
};

/** The ETA a run reported when its own percent first reached 50 %, against its real end. */
export function etaError(run: Results["eta"][number]): { errorPercent: number; durationMs: number } | undefined {
  const half = run.progress.find(sample => !sample.finished && sample.percent !== null && sample.percent >= 50 && sample.etaSeconds !== null);
  if (!half || half.etaSeconds === null) return undefined;
  const end = run.progress.find(sample => sample.finished)?.receivedAt ?? run.startedAt + run.ms;
  const stepStart = half.receivedAt - half.elapsedSeconds * 1000;
  const durationMs = end - stepStart;
  if (durationMs <= 0) return undefined;
  return { errorPercent: (Math.abs(half.receivedAt + half.etaSeconds * 1000 - end) / durationMs) * 100, durationMs };
}

/**
 * A variant against raw borg in the same round: the median over rounds of its time divided by
 * (or minus) raw borg's. Pairing by round takes out what changes between rounds (the page
 * cache, other load on the machine); NaN when the variant did not run.
 */
export function paired(
  results: Results,
  dataset: string,
  phase: string,
  variant: string,
  borg = results.machine.borg,
): { ratio: number; overheadMs: number; rounds: number; ratioMiddle: [number, number]; overheadMiddleMs: [number, number] } {
  const rows = results.create.filter(t => t.dataset === dataset && t.phase === phase && borgOf(results, t) === borg);
  const rawByRound = new Map(rows.filter(t => t.variant === "raw_borg").map(t => [t.round, t.ms]));
  const pairs = rows.flatMap(t => {
    const raw = rawByRound.get(t.round);
    return t.variant === variant && raw !== undefined ? [{ ratio: t.ms / raw, overheadMs: t.ms - raw }] : [];
  });
  const ratios = pairs.map(pair => pair.ratio);
  const overheads = pairs.map(pair => pair.overheadMs);
  return {
    ratio: median(ratios),
    overheadMs: median(overheads),
    rounds: pairs.length,
    // the middle half of the rounds: how far one median can be read on this machine
    ratioMiddle: [quantile(ratios, 0.25), quantile(ratios, 0.75)],
    overheadMiddleMs: [quantile(overheads, 0.25), quantile(overheads, 0.75)],
  };
}

/** The headline numbers, for the targets table (and anyone reading the JSON). */
export function headline(results: Results) {
  const groups = [...new Set(results.create.map(t => `${t.dataset}|${t.phase}|${borgOf(results, t)}`))].map(group => {
    const [dataset = "", phase = "", borg = ""] = group.split("|");
    const library = paired(results, dataset, phase, "drone_library", borg);
    const oneShot = paired(results, dataset, phase, "drone_one_shot", borg);
    return {
      dataset,
      phase,
      borg,
      library,
      argsRatio: paired(results, dataset, phase, "borg_drone_args", borg).ratio,
      oneShot,
      borgmaticOverheadMs: paired(results, dataset, phase, "borgmatic", borg).overheadMs,
      borgmatic2OverheadMs: paired(results, dataset, phase, "borgmatic2", borg).overheadMs,
    };
  });
  // half-time proper: the runs that publish every estimate show where 50 % was crossed
  const etaIncremental = results.eta.filter(run => run.phase === "incremental" && run.interval === "every_line").flatMap(run => etaError(run)?.errorPercent ?? []);
  const latency =
    results.latency.status === "measured" ? (results.latency.runs.find(run => run.progressIntervalMs === results.settings.progressIntervalMs)?.latenciesMs ?? []) : [];
  const gap = results.coordinator?.process?.gapMs ?? [];
  const step = results.coordinator?.step.evaluateMs ?? [];
  const worstLibraryRatio = groups.length > 0 ? Math.max(...groups.map(group => group.library.ratio)) : Number.NaN;
  const worstOneShotOverheadMs = groups.length > 0 ? Math.max(...groups.map(group => group.oneShot.overheadMs)) : Number.NaN;
  return {
    groups,
    worstLibraryRatio,
    // the group a worst figure comes from (none when a figure is NaN)
    worstLibraryGroup: groups.find(group => group.library.ratio === worstLibraryRatio),
    worstOneShotOverheadMs,
    worstOneShotGroup: groups.find(group => group.oneShot.overheadMs === worstOneShotOverheadMs),
    oneShotBelowBorgmatic:
      groups.length > 0 &&
      groups.every(group => [group.borgmaticOverheadMs, group.borgmatic2OverheadMs].every(borgmatic => !Number.isFinite(borgmatic) || group.oneShot.overheadMs < borgmatic)),
    etaIncrementalMedianPercent: median(etaIncremental),
    latencyP50: quantile(latency, 0.5),
    latencyP99: quantile(latency, 0.99),
    gapMedianMs: median(gap),
    gapMaxMs: gap.length > 0 ? Math.max(...gap) : Number.NaN,
    stepMedianMs: median(step),
    stepP99Ms: quantile(step, 0.99),
    // the real process's own peak when measured (no part of Home Assistant in it), else the in-process harness's
    coordinatorRssBytes: results.coordinator?.real?.peakRssBytes ?? results.coordinator?.process?.loaded.maxRssBytes ?? Number.NaN,
  };
}

/** Which group a worst figure comes from, and the middle half of its rounds. */
function worstOf<Group extends { dataset: string; phase: string; borg: string }>(group: Group | undefined, middle: (group: Group) => string, rounds: (group: Group) => number): string {
  return group === undefined ? "" : ` (${group.dataset}, ${group.phase}, borg ${group.borg}; the middle half of its ${rounds(group)} rounds: ${middle(group)})`;
}

function targets(results: Results): string {
  const h = headline(results);
  const known = (value: number) => (Number.isFinite(value) ? true : undefined);
  const check = (value: number, ok: (value: number) => boolean) => (known(value) ? ok(value) : undefined);
  return table(
    ["target", "measured", ""],
    [
      [
        "drone create ≤ 1.01× raw borg (median of per-round ratios, worst data set, phase and borg)",
        `${h.worstLibraryRatio.toFixed(3)}×${worstOf(h.worstLibraryGroup, group => group.library.ratioMiddle.map(ratio => `${ratio.toFixed(3)}×`).join(" to "), group => group.library.rounds)}`,
        verdict(check(h.worstLibraryRatio, v => v <= 1.01)),
      ],
      [
        "one-shot overhead ≤ 0.3 s over raw borg (median per round, worst data set, phase and borg)",
        `${seconds(h.worstOneShotOverheadMs)}${worstOf(h.worstOneShotGroup, group => group.oneShot.overheadMiddleMs.map(ms => `${ms >= 0 ? "+" : "−"}${seconds(Math.abs(ms))}`).join(" to "), group => group.oneShot.rounds)}`,
        verdict(check(h.worstOneShotOverheadMs, v => v <= 300)),
      ],
      ["one-shot overhead below every borgmatic's", h.oneShotBelowBorgmatic ? "yes, in every data set, phase and borg" : "no", verdict(h.groups.length > 0 ? h.oneShotBelowBorgmatic : undefined)],
      ["progress event latency p99 ≤ 250 ms", millis(h.latencyP99), verdict(check(h.latencyP99, v => v <= 250))],
      ["next drone starts ≤ 1 s after the previous result (worst)", millis(h.gapMaxMs), verdict(check(h.gapMaxMs, v => v <= 1000))],
      ["1,000 drones: a scheduling step ≤ 5 ms (p99)", millis(h.stepP99Ms, 2), verdict(check(h.stepP99Ms, v => v <= 5))],
      ["1,000 drones: coordinator memory ≤ 150 MB (peak RSS)", Number.isFinite(h.coordinatorRssBytes) ? `${(h.coordinatorRssBytes / 1e6).toFixed(0)} MB` : "—", verdict(check(h.coordinatorRssBytes, v => v <= 150e6))],
      ["ETA error at half-time ≤ 10 % (incremental, median, every estimate published)", percent(h.etaIncrementalMedianPercent), verdict(check(h.etaIncrementalMedianPercent, v => v <= 10))],
      ...haCostTargets(results),
    ],
  );
}

function haCostTargets(results: Results): string[][] {
  const cost = haCostHeadline(results.haCost);
  const what = `a ${HA_COST_TARGET.minutes}-minute scheduled run adds to Home Assistant's recorder`;
  return [
    [`${what} < ${HA_COST_TARGET.rows} rows (projected from the measured run)`, cost ? String(cost.rows) : "—", verdict(cost?.rowsMet)],
    [`${what} < ${HA_COST_TARGET.bytes / 1000} kB (stored bytes, projected)`, cost ? `${(cost.bytes / 1000).toFixed(1)} kB` : "—", verdict(cost?.bytesMet)],
  ];
}

function machine(results: Results): string {
  const m = results.machine;
  return table(
    ["", ""],
    [
      ["CPU", `${m.cpu}, ${m.cores} cores`],
      ["memory", `${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB (${(m.freeMemoryBytes / 2 ** 30).toFixed(1)} GiB free at the start)`],
      ["load average at the start (1 min)", m.loadAverage.toFixed(2)],
      ["disk (data sets and repositories)", m.disk],
      ["OS, kernel", `${m.os}, ${m.kernel}`],
      ["Node.js", m.node],
      ["borg", m.borg14 ? `${m.borg} (Debian) and ${m.borg14} (PyPI, built from source)` : m.borg],
      ["borgmatic", `${m.borgmatic ? `${m.borgmatic} (Debian)` : "Debian's not installed"}${m.borgmatic2 ? ` and ${m.borgmatic2} (PyPI)` : ""}`],
      ["run", `${results.startedAt} → ${results.finishedAt}${results.quick ? " (`--quick`)" : ""}`],
    ],
  );
}

function startup(results: Results): string {
  if (results.startup.length === 0) return "_Not run._";
  const commands = [...new Set(results.startup.map(t => t.command))];
  const borgList = median(results.startup.filter(t => t.command === "borg_list").map(t => t.ms));
  return table(
    ["command", "median", "min – max", "vs raw `borg list`"],
    commands.map(command => {
      const values = results.startup.filter(t => t.command === command).map(t => t.ms);
      const m = median(values);
      return [STARTUP_LABELS[command] ?? command, seconds(m), `${seconds(Math.min(...values))} – ${seconds(Math.max(...values))}`, command === "borg_list" ? "" : `${m - borgList >= 0 ? "+" : ""}${seconds(m - borgList)}`];
    }),
  );
}

function create(results: Results): string {
  if (results.create.length === 0) return "_Not run._";
  const parts: string[] = [];
  const borgs = borgsOf(results);
  for (const dataset of results.datasets) {
    const data = `${dataset.files.toLocaleString("en")} files, ${(dataset.bytes / 1e6).toFixed(0)} MB`;
    const change = dataset.changes[0];
    for (const [borg, phase] of borgs.flatMap(borg => (["first", "incremental"] as const).map(phase => [borg, phase] as const))) {
      const rows = results.create.filter(t => t.dataset === dataset.name && t.phase === phase && borgOf(results, t) === borg);
      if (rows.length === 0) continue;
      const variants = [...new Set(rows.map(t => t.variant))];
      const rounds = Math.max(...rows.map(t => t.round));
      const what = phase === "first" ? "first backup into a fresh repository" : `incremental, after changing ${change ? `${change.files} files (${(change.bytes / 1e6).toFixed(1)} MB)` : "a few files"} per round`;
      parts.push(`### ${dataset.name} (${data}) on borg ${borg}: ${what}, ${rounds} round${rounds === 1 ? "" : "s"}\n`);
      parts.push(
        table(
          ["variant", "median", "min – max", "ratio to raw borg (median per round)", "over raw borg (median per round)", "peak RSS of the drone process"],
          variants.map(variant => {
            const values = rows.filter(t => t.variant === variant).map(t => t.ms);
            const against = paired(results, dataset.name, phase, variant, borg);
            const peaks = rows.filter(t => t.variant === variant).flatMap(t => (t.peakRssBytes === null ? [] : [t.peakRssBytes]));
            return [
              variantLabel(results, variant),
              seconds(median(values)),
              `${seconds(Math.min(...values))} – ${seconds(Math.max(...values))}`,
              `${against.ratio.toFixed(3)}×`,
              variant === "raw_borg" ? "" : `${against.overheadMs >= 0 ? "+" : ""}${seconds(against.overheadMs)}`,
              peaks.length > 0 ? mib(Math.max(...peaks)) : "",
            ];
          }),
        ),
      );
      parts.push("");
    }
  }
  return parts.join("\n");
}

function eta(results: Results): string {
  if (results.eta.length === 0) return "_Not run._";
  const groups = [...new Set(results.eta.map(run => `${run.dataset}|${run.phase}|${run.interval}`))];
  return table(
    ["data set", "phase", "events published", "runs", "with an estimate at 50 %", "median error", "worst error", "median duration"],
    groups.map(group => {
      const [dataset = "", phase = "", interval = ""] = group.split("|");
      const runs = results.eta.filter(run => run.dataset === dataset && run.phase === phase && run.interval === interval);
      const errors = runs.flatMap(run => etaError(run) ?? []);
      return [
        dataset,
        phase,
        interval === "default" ? `every ${results.settings.progressIntervalMs / 1000} s (default)` : "every borg line (PROGRESS_INTERVAL_MS=0)",
        String(runs.length),
        String(errors.length),
        percent(median(errors.map(e => e.errorPercent))),
        errors.length > 0 ? percent(Math.max(...errors.map(e => e.errorPercent))) : "—",
        seconds(median(runs.map(run => run.ms))),
      ];
    }),
  );
}

function latency(results: Results): string {
  const l = results.latency;
  if (l.status === "pending") return `_Pending: ${l.reason}._`;
  return [
    table(
      ["PROGRESS_INTERVAL_MS", "events", "events per second", "p50", "p99", "max", "unmatched events"],
      l.runs.map(run => [
        run.progressIntervalMs === results.settings.progressIntervalMs ? `${run.progressIntervalMs} (default)` : `${run.progressIntervalMs} (every borg line)`,
        String(run.events),
        run.eventsPerSecond.toFixed(2),
        millis(quantile(run.latenciesMs, 0.5)),
        millis(quantile(run.latenciesMs, 0.99)),
        run.latenciesMs.length > 0 ? millis(Math.max(...run.latenciesMs)) : "—",
        String(run.unmatched),
      ]),
    ),
    "",
    `Path measured: ${l.path}. An event is matched to the borg line it carries by its counters and path; the throttle only drops lines, so the latency of a published event does not include any waiting for the interval. The target is judged on the default interval.`,
  ].join("\n");
}

function coordinator(results: Results): string {
  const c = results.coordinator;
  if (!c) return "_Not run._";
  const parts = [
    `Pure core, ${c.step.drones.toLocaleString("en")} drones on ${c.step.hosts} repository hosts (some running, some due; ${c.step.startsPerStep} starts decided per step), ${c.step.evaluateMs.length} steps:\n`,
    table(
      ["", "median", "p99", "max"],
      [
        ["`fleet.evaluate` (detect problems + plan)", millis(median(c.step.evaluateMs), 2), millis(quantile(c.step.evaluateMs, 0.99), 2), millis(Math.max(...c.step.evaluateMs), 2)],
        ["`planStarts` alone", millis(median(c.step.planStartsMs), 2), millis(quantile(c.step.planStartsMs, 0.99), 2), millis(Math.max(...c.step.planStartsMs), 2)],
      ],
    ),
    "",
  ];
  const p = c.process;
  if (p) {
    parts.push(
      `The whole coordinator (LIB_BACKUP_COORDINATOR with hass, synapse on an in-memory database, and the mock assistant, in a process of its own, loaded as the \`backup-coordinator\` bin loads it, logging at its level) with ${p.drones.toLocaleString("en")} simulated drones on one repository host. The mock assistant (Home Assistant's side, with every drone's state) lives in the same process, so the memory figures include it:\n`,
      table(
        ["", ""],
        [
          ["RSS / heap after boot, no drone", `${mib(p.empty.rssBytes)} / ${mib(p.empty.heapUsedBytes)}`],
          [`RSS / heap with ${p.drones.toLocaleString("en")} drones (after GC)`, `${mib(p.loaded.rssBytes)} / ${mib(p.loaded.heapUsedBytes)}`],
          ["peak RSS of the process", mib(p.loaded.maxRssBytes)],
          [`one heartbeat of every drone (${p.drones.toLocaleString("en")} status events)`, millis(p.heartbeatMs, 0)],
          ["the scheduler's whole look (median of 20)", millis(median(p.lookMs), 2)],
          [`result → next button press (median / max of ${p.gapMs.length})`, `${millis(median(p.gapMs), 2)} / ${millis(Math.max(...p.gapMs), 2)}`],
        ],
      ),
      "",
    );
  } else parts.push(`_The coordinator process could not be measured: ${c.processError ?? "unknown"}._\n`);
  const real = c.real;
  if (real) {
    parts.push(
      `The real \`backup-coordinator\` process (the built bin, as its systemd unit starts it${real.nodeOptions?.length ? `: \`node ${real.nodeOptions.join(" ")}\`` : ""}) against the loopback Home Assistant (test/emulator, in the benchmark's process) holding ${real.drones.toLocaleString("en")} drones: their Scheduled Backup buttons as states, and ${real.heartbeats} rounds of every drone's status event, 3 s apart, as heartbeats. The figures are the coordinator process's own (VmRSS and VmHWM from /proc), with nothing of Home Assistant in them; this peak is the one judged against the target:\n`,
      table(
        ["", ""],
        [
          ["RSS after boot, no drone", mib(real.bootRssBytes)],
          [`RSS after ${real.heartbeats} heartbeats of ${real.drones.toLocaleString("en")} drones`, mib(real.rssBytes)],
          ["peak RSS of the process (VmHWM)", mib(real.peakRssBytes)],
          ...(real.cpuMs === undefined
            ? []
            : [[`CPU time (user + system) from boot to the last heartbeat, per round of ${real.drones.toLocaleString("en")} status events`, millis(real.cpuMs / real.heartbeats, 0)]]),
          ["Scheduled Backup presses (drones taken in and scheduled)", String(real.presses)],
        ],
      ),
      "",
    );
  } else if (c.realError) parts.push(`_The real coordinator process could not be measured: ${c.realError}._\n`);
  const tick = c.detection[0]?.tickMs ?? Number.NaN;
  parts.push(
    `Failure detection on a driven clock (looked at every second), with the shipped thresholds; the scheduler looks every ${seconds(tick)} (TICK_SECONDS) and at once after every drone event, so a failure that no event reports is raised at most one tick after the threshold:\n`,
    table(
      ["failure", "threshold", "raised after (core, 1 s looks)", "at most, with the tick"],
      c.detection.map(d => [
        d.kind,
        d.thresholdMs === 0 ? "— (the result says so)" : seconds(d.thresholdMs),
        d.kind === "failed" ? "at once, on the result event" : seconds(d.afterMs),
        d.kind === "failed" ? "at once" : seconds(d.thresholdMs + d.tickMs),
      ]),
    ),
  );
  return parts.join("\n");
}

/** The whole page. */
export function renderReport(results: Results, resultsFile: string): string {
  return `# Benchmarks

What the drone costs on top of borg, side by side with raw borg and borgmatic, and how the
coordinator behaves with a thousand drones. Every table below is generated from
[\`${resultsFile}\`](${relative(join(ROOT, "docs"), join(ROOT, resultsFile))}) by \`bench/report.mts\`; do not edit it by hand.

Reproduce with one command (it builds the project, generates the data in a temp folder, and
rewrites the results and this page):

\`\`\`sh
${results.command}
\`\`\`

\`npm run bench -- --quick\` is a smoke check with small data sets (about 5 minutes). The full
run's create comparison alone takes about 75 minutes here, half of it on borg 1.4
(\`--no-borg14\` leaves that out). Figures from a busy machine are noisy: compare within one
run, not across runs.

## The machine

${machine(results)}

## Against the targets

${targets(results)}

## Start-up of a one-shot command

Each command alternated with the others, ${results.settings.rounds.startup} rounds, on a small
repository with one archive. This is where a wrapper's own cost shows most.

${startup(results)}

## \`create\`: raw borg, the drone, borgmatic

Each variant writes to its own repository (\`repokey-blake2\`, compression \`${results.settings.compression}\`), on the
same data. Every round runs each variant once, and the order rotates from round to round
(A B C D E F, then B C D E F A, …), so that no variant always runs first after the change.
The whole comparison runs once on each borg (${borgsOf(results).join(" and ") || "—"}): every variant, the drone and
both borgmatics included, runs that borg, and ratios compare within one borg only.
First backups go into fresh repositories; incremental ones follow a seeded change of about
1 % of the files, made once per round before all variants run. Ratios and overheads are
paired: each variant against raw borg in the same round, then the median over the rounds.
"raw borg with the drone's arguments" is borg alone, started with the very command line
the drone builds, so the difference between it and raw borg is what borg pays for the
drone's options, and the difference between it and the drone is the drone's own cost.

${create(results)}

## ETA accuracy

The drone's ETA when its own percent first reaches 50 %, against the real end of the create:
error = |predicted end − real end| / real duration. Incremental runs estimate from the
previous archive's size; first runs from a pre-scan of the sources (PRESCAN). The estimate
does not depend on PROGRESS_INTERVAL_MS, which only chooses which estimates are published;
short incremental runs publish few events at the default, so extra incremental runs publish
every borg progress line.

${eta(results)}

## Progress latency

From the \`time\` stamp borg puts on an \`archive_progress\` line to the
\`backup_drone_progress\` event carrying that line reaching a subscriber of Home Assistant's
event bus (the loopback emulator), with the default PROGRESS_INTERVAL_MS.

${latency(results)}

## The coordinator with ${results.settings.drones.toLocaleString("en")} drones

${coordinator(results)}

## What Home Assistant stores

${haCostSection(results.haCost)}

## How it is measured

- **raw borg**: \`borg create --compression ${results.settings.compression} REPO::NAME SOURCE\`, as a person
  runs it, with \`BORG_PASSPHRASE\` in the environment.
- **raw borg with the drone's arguments**: the arguments \`createCommand\` builds from the
  drone's parsed configuration (shipped defaults), \`BORG_PASSPHRASE\` in the environment,
  stderr read and dropped.
- **drone, library call**: \`LIB_DRONE\` booted once per repository with DA's \`TestRunner\`
  (no configuration from env, argv or files) in a worker process; for a first backup the
  repository is made with \`engine.initRepository\` (not timed), as the one-shot's with
  \`backup-drone init\`; then \`engine.run("create")\` timed around the call. (A drone pointed
  at a repository it did not make looks for its newest archive there with one \`borg info\`
  before its first backup, for the prune guard: one borg process more, once.) Its peak RSS is the worker's \`maxRSS\`
  (plain Node: the workers are compiled into \`dist/bench\` first, no TypeScript loader).
  borg gets what the drone always passes: \`--log-json --progress --json
  --exclude-if-present .nobackup --checkpoint-interval 1800 --lock-wait 60\`, and the
  passphrase on file descriptor 3.
- **one-shot**: the built \`dist/bin/backup-drone.mjs create --config FILE\` (as
  \`backup-drone create\` runs), passphrase from a 0600 file. Peak RSS is the Node process's
  own VmHWM, sampled from \`/proc\` every 20 ms (borg's memory is not included).
- **borgmatic**: \`borgmatic create --config FILE\` with the same repository, compression and
  borg base folder, the passphrase in its 0600 YAML (\`encryption_passphrase\`), and the borg
  of the comparison as \`local_path\`: Debian's 1.7.7 (sectioned YAML) and PyPI's 2.x (flat
  YAML), each from its own install (2.x in a cached venv, \`bench/lib/peers.mts\`), with
  their defaults otherwise. borgmatic 2.1 starts three borgs for one create: \`borg --version\`,
  a \`borg create --dry-run --list\` that walks the sources to check the paths borg will
  include, and the create itself (seen with \`-v 2\`): the walk is most of what it adds on
  many small files.
- **borg 1.4**: PyPI's source release built into a cached venv against Debian's libraries
  (\`test/borg14/venv.mts\`, as the tests use it); Debian 12 ships 1.2.4.
- **Every timed create finds its data in the page cache.** Before each one, not timed, the
  benchmark calls \`sync\` and reads the whole data set (\`bench/lib/page-cache.mts\`). borg
  drops from the page cache what it has read (\`posix_fadvise(POSIX_FADV_DONTNEED)\`), but only
  clean pages: without this, the first create after the data set was generated or changed
  found it cached and every later one read it from disk, and one variant of each round's
  first backups (raw borg, in round 1) ran twice as fast as the rest. Of the two states, every
  variant now gets the cached one: from this VM's disk a first backup of \`small_files\` took
  11.7 s with 4.5 s more CPU than from the cache (reading the virtual disk costs the guest
  CPU) and varied twice as much (standard deviation 0.36 s against 0.15 s of 5.3 s, 8
  alternating raw borg runs each), which buries the few tenths this comparison is about.
  With its data cached, borg keeps its core busy the whole run, so what the drone does beside
  it has nowhere to hide. (The run of 30 November, 18:24, \`bench/results/2026-11-30T18-24-19-197Z.json\`,
  read from disk in every variant: first backups ±0.5–1 s from round to round.)
- Before the first backups of each data set, one untimed \`borg create\` into a scratch
  repository, so that borg's own files are cached before round 1 as before every later one.
- First backups vary from run to run more than incremental ones for every variant, raw borg
  included (see each table's min – max): read their medians to a few tenths of a second.
- The \`sync\` before every timed run also means that no variant pays for writing back what
  the one before it, or the data change, left dirty.
- Every variant runs with its own \`BORG_BASE_DIR\` (borg's cache) and a temp \`HOME\`, so no
  one's own configuration is read. Wall time is measured from spawn to exit in the benchmark
  process (library: around the call).
- Data: seeded, so every run backs up the same bytes: \`large\` is about 1 GB in 2,000 files
  of 64–960 KiB (a quarter text-like, the rest random), \`small_files\` is 50,000 files of
  256 B – 4 KiB (70 % text-like).
- The coordinator's memory and result→next-start gap come from a worker process (plain Node,
  as above) running the integration tests' harness (\`test/integration/coordinator/harness.mts\`): the real coordinator services, Home
  Assistant replaced by the mock assistant, in-process; the gap covers the result event
  entering the hass client, validation, the fleet model, the scheduler's look and the button
  press leaving the hass client — not the network or Home Assistant itself.

## Where the time goes

A one-shot command pays for Node's start, for loading its modules and booting the drone,
and then, like every variant, for borg's own start (about 0.3 s for any borg process here).
Found with \`node --cpu-prof\` and with \`strace -f -ttt\` (the moments node starts, borg is
\`execve\`d, borg exits and node exits), then fixed where the cost was ours to remove:

- **dotenvx** (not ours; worked around): \`@digital-alchemy/core\` imports \`@dotenvx/dotenvx\`,
  which loads undici, ajv, conf, systeminformation and enquirer at import: 0.15–0.2 s and
  about 17 MB per command, although DA only calls its \`config()\` when there is an env file.
  Both bins now put a stand-in into Node's CommonJS cache before DA loads
  (\`libs/config/defer-dotenvx.mts\`) whose \`config()\` does nothing: both bins read their env file
  themselves, and DA's reading would let \`./.env\` override the exported environment.
  \`backup-drone status\`: 0.57 s → 0.44 s and 100 → 83 MB (median of 5, one after the other).
  A test shows that undici and ajv stay unloaded, that \`--env-file\` still sets drone keys and that \`./.env\` is not read.
- **execa**: loading its modules took about 0.1 s of every command that starts borg. borg now
  starts through \`node:child_process\` (\`libs/borg/runner.mts\`); execa stays for shell
  hooks, loaded when a hook runs. \`status\` then took 0.27 s.
- **The pre-scan of a first backup** ran its first slice before borg started; it now starts
  once borg runs. It walks the sources with synchronous calls in slices of 256 (0.21 s of CPU
  per 50,000 files, down from 1.12 s with one awaited call per file).
- **Home Assistant's client libraries** (hass, and synapse with its database drivers) are
  imported only when a token is configured (\`loadDroneApplication\` in
  \`apps/drone/cli/application.mts\`), and **\`borg --version\`** is remembered in the state folder
  (\`borg-version.json\`, keyed by the binary), so \`prune\` starts borg once per step.
- Together: from node's start to borg's start, a one-shot \`create\` took 0.72–0.78 s before,
  and 0.33–0.45 s after (5 runs each, under strace); from borg's exit to node's exit, 25–30 ms.
- **What is left** of the one-shot's start is not ours: Node itself (0.06–0.09 s), Node 20's
  ES module loader reading and compiling some 300 modules (Node 22 keeps compiled code
  between runs with \`module.enableCompileCache\`, which the bin turns on where it exists),
  zod (about 0.05 s), DA core without dotenvx (about 0.09 s) and DA's boot. The drone's own
  modules take about 35 ms to load, 12 ms of it building the borg output schemas. An earlier
  note here said that a bundle made with esbuild started slower (0.46–0.56 s against
  0.33–0.38 s for \`status\`, wall clock): measured again, alternating, it does not hold: the
  bundle is faster in CPU time and in wall-clock time in every round (below).
- **The bins are bundled** (\`npm run build\` runs tsc, then \`scripts/bundle.mts\`):
  \`dist/bin/backup-drone.mjs\` and \`dist/bin/backup-coordinator.mjs\` with chunks split at the
  bins' dynamic imports, everything but better-sqlite3 inside, one copy of DA core for the
  drone, hass and synapse. Node 20 resolves, reads and compiles each of some 270 files on
  its own; from a dozen chunks the same work takes a fraction. CPU time (user + sys, which
  another helper's load on the machine disturbs far less than the wall clock), medians of
  10 alternating rounds, the modules tsc emits → the bundle: \`node -e 0\` 61 ms;
  \`backup-drone --version\` 146 → 106 ms; \`status\` 317 → 207 ms; a one-shot \`create\` of
  1,000 unchanged files (node and borg together) 652 → 545 ms, raw \`borg create\` of the
  same files 282 ms; the daemon's boot up to its first call to Home Assistant 621 → 280 ms;
  the coordinator's 570 → 258 ms. Under strace, node's start to borg's \`execve\` in that
  \`create\`: 440–510 ms → 250–300 ms (5 runs each). The build takes about 11 s (tsc 10 s,
  esbuild under 1 s). Minifying, or leaving out zod's translations of its messages (366 KB
  of its 751 KB), saved 5–10 ms more of \`status\`'s 197 ms, within the rounds' spread: not
  done. What is left of \`status\`: Node's own start (61 ms), compiling the chunks (about
  40 ms: zod, DA core with js-yaml and node-cron), zod building the schemas, DA's boot.
- **The Home Assistant bridge and the run history**: the command line's drone imported the
  drone's Home Assistant bridge (ha/*, libs/ha) although it has no hass to bridge to, and the
  engine opened the run history (loading better-sqlite3, opening the WAL database and
  sweeping dead processes' rows) before borg started. The command line's drone now leaves the
  bridge out; better-sqlite3 loads at the history's first use; a run's start goes into the
  history once borg has started (while borg, another process, loads); a start-up with
  nothing to recover leaves the sweep to the history's next write. CPU of a one-shot
  \`create\` of 1,000 unchanged files (node and borg together, median of 8–10 alternating
  rounds): 681–720 ms before, 663–681 ms after; raw borg alone 284–314 ms. A one-shot
  \`create\` starts exactly one borg process (\`create\`): the guard's previous archive and
  the totals come from the state file and from \`create --json\`.
- **A first backup with a new state folder** starts two borg processes: \`borg info --last 1\`
  (the prune guard's previous archive, looked up in the repository because the state file
  records none) and then \`borg create\`. Under strace on this machine (busy, load 10–12)
  that lookup took 1.0–1.9 s of a one-shot first backup of \`small_files\`, and borg's start
  0.5–1.3 s before it: most of the one-shot's extra cost on first backups, beside Node's
  start. Node's own CPU over a 20 s first backup of 50,000 files is about 1 s (0.45 s of it
  the pre-scan's \`readdir\`/\`lstat\`), on the other core; rendering and parsing borg's
  lines are a few ms. The lookup is kept where it protects: without it a drone whose state
  was lost would prune against an archive it never judged. But \`backup-drone init\` now
  records in the state file the repository it created (\`createdRepository\`, until its first
  archive): no archive of the drone can be in it, and its first backup starts borg once.
  A first backup of 1,000 files (2 MB), medians of 6 alternating rounds: after a raw
  \`borg init\` with a new state folder 907 ms CPU, 1,111 ms wall; after \`backup-drone init\`
  673 ms, 803 ms; raw \`borg create\` 399 ms, 477 ms. The benchmark's one-shot variant now
  starts as its user does, with \`backup-drone init\`. A record that names another
  repository (REPOSITORY changed since) or a lost state file still looks (tests in
  \`test/integration/drone/prune-guard.test.mts\`).
- **The command line from a V8 code cache.** What was left of a one-shot \`create\`'s start,
  measured again with \`node --cpu-prof\` and with node's own CPU time (user + sys) read at the
  moment it spawns borg, at borg's exit and at its own exit (a \`--require\` probe; medians of
  8–10 alternating rounds, 1,000 unchanged files): 230 ms to borg's spawn (Node itself about
  60 ms of it), 36 ms while borg ran, 13 ms after. Of the 230: Node 20's ES module loader
  resolving, reading and compiling the chunks (compiling alone about 50 ms), Digital
  Alchemy's environment loader (below), zod compiling a parser for each object schema at its
  first parse, DA and zod building their modules and schemas, DA's boot. Node 20 keeps no
  compiled code of ES modules (\`module.enableCompileCache\` is Node 22's), but \`vm.Script\`
  takes V8's cached data. So the drone's command line (help, the one-shot commands, \`config\`;
  \`apps/drone/cli/program.mts\`) is now one CommonJS bundle, \`dist/bin/backup-drone-program.cjs\`
  (1.2 MB), which the bin runs through \`vm.Script\` with a cache of what the first run compiled,
  in \`~/.cache/backup-coordinator/v8/\` (\`$XDG_CACHE_HOME\` moves it; about 1 MB; see
  \`libs/process/code-cache.mts\`). Compiling the bundle takes 21–24 ms without the cache and
  5–6 ms with it, and every function the first run compiled comes with it. The cache is keyed
  by the bundle's content hash, size and mtime and by Node's version and architecture; V8
  rejects data of another V8, other flags or another source length, and the bin then writes
  it again. V8 does not checksum the code itself (Node 20 runs with
  \`--no-verify-snapshot-checksum\`), and a cache with 200 bytes flipped at the same length
  crashed node as it compiled (SIGTRAP, 3 of 3), every command and the daemon with it; so the
  file starts with a SHA-256 of the data, and data that does not match never reaches V8 (the
  run compiles afresh and writes a good cache). Hashing the 0.9 MB cache takes 0.5–1 ms; node's
  CPU in \`status\` with a warm cache, medians of alternating rounds on the shared 2-core machine:
  145.3 → 145.5 ms (16 rounds), 142.9 → 145.8 ms (20) and 153.6 → 156.2 ms (24, load about 6).
  It is written under a random temporary name created exclusively (\`wx\`), so two writers
  sharing a home from two PID namespaces never mix their output, and renamed; a folder or a
  file another user owns or may write is neither read nor written (compiled code from there
  would run as this user); an unwritable home only means no cache. The first run of a command writes it (about
  1 MB, 10–20 ms once); a cache written by another command serves nearly as well (node's CPU
  in a \`create\` from a cache that \`status\` wrote: 174 ms, from one \`create\` wrote: 171 ms). The daemon stays in ES modules (its boot:
  222 → 210 ms of CPU in a 2 s window, medians of 10). Tests:
  \`test/integration/drone/code-cache.test.mts\`, \`test/unit/process/code-cache.test.mts\`.
- **Smaller cuts in the same command:** zod builds no compiled parsers on the command line
  (\`z.config({ jitless: true })\` before any schema: each is parsed a few times there);
  \`formatCount\` groups thousands itself instead of \`toLocaleString\`, which loaded ICU's number
  formatting. DA's environment loader builds a regular expression per configuration key and
  matches it against every environment variable even when, as in both bins, its environment
  and argv sources are off; a build-time patch of DA's source that returned at once saved
  about 4 ms and was dropped (a patch of a dependency is not worth its fragility; taken up
  again as a wrapper, below). Node's CPU in that \`create\`, medians of 10 alternating rounds,
  to borg's spawn / while borg runs / after / in all: 230 / 36 / 13 / 281 ms before; with the
  cached program and \`formatCount\` 163 / 34 / 10 / 208; with zod's parsers left out
  152 / 29 / 8 / 189; with DA's loader cut 148 / 32 / 9 / 185. Tried and left: making DA's
  \`Intl.RelativeTimeFormat\` (created when DA is imported, 12–15 ms of loading ICU) lazy only
  moved that cost to DA's teardown, which formats its uptime for a log line (now paid while
  borg runs, below).
  Measured and left too: a V8 startup snapshot of the command line (Node 20's
  \`--build-snapshot\`, DA, zod and the drone's modules evaluated in it). V8 refuses to
  serialize DA's module-level \`Intl.RelativeTimeFormat\` (an ICU object: it needed a lazy
  stand-in while the snapshot was built), Node 20 keeps no compiled code in a user snapshot
  (each function compiles again at every start, which the code cache already spares), and
  the 7.6 MB heap takes its time to deserialize: node's CPU to borg's spawn went 146 → 123
  ms, node's whole CPU in the \`create\` 181 → 173 ms, the create's CPU (node and borg)
  492 → 493 ms, medians of 12 alternating rounds. The modules of that \`create\` take about
  36 ms to evaluate with the code cache, the drone's own (zod schemas mostly) about 15 ms, and
  the \`create\` uses most of those schemas: building the dumps' schemas only when a dump is
  configured saved nothing measurable.
- **One-shot figures now** (CPU user + sys of node and borg together, and wall time, medians
  of 10 alternating rounds on this machine, load 3–8 from other work): \`node -e 0\`
  62 ms; a one-shot \`create\` of 1,000 unchanged files (200 MB) 630 → 545 ms CPU and
  911 → 785 ms wall, raw \`borg create\` of the same files 322 ms and 527 ms, raw borg with
  the drone's arguments 307 ms and 459 ms: +0.22 s of CPU and +0.26 s of wall time over raw
  borg (target +0.15 s, not met). \`status\` 221 → 146 ms, \`--version\` 118 → 96 ms. What is
  left before borg starts (about 150 ms of node's CPU): Node itself (about 60 ms), the ES
  module bin and reading the cache (about 10 ms), DA core's modules (about 20 ms, most of it
  ICU for that \`RelativeTimeFormat\`), the drone's modules building their zod schemas (engine, configuration, borg
  client, protocol: 15–20 ms), DA's boot and the configuration's parsing, Node's own
  modules (\`child_process\`, streams), and the garbage collector.
- **The first backup of 50,000 files, measured again** (\`small_files\`, a fresh repository
  each round; \`borg init\` + \`borg create\` against \`backup-drone init\` + \`backup-drone
  create\`; CPU of each process tree and wall time). Node's own CPU in the one-shot \`create\`,
  read as above: about 150 ms to borg's spawn, 350–360 ms while borg runs, 10 ms after; with
  \`PRESCAN=false\` 117–127 ms while borg runs: the pre-scan's walk is about 230 ms of it, the
  rest borg's progress lines, the state and the history. Medians of 6 alternating rounds
  (load 2–4): raw borg 12.70 s wall (10.12 s CPU); raw borg with the drone's arguments
  12.82 s (10.13 s); the drone 13.03 s (10.72 s), +0.33 s wall and +0.6 s CPU over raw borg;
  the drone with \`PRESCAN=false\` 12.85 s (10.47 s), +0.15 s. The round-to-round spread of
  the wall time is ±1–2 s here, several times the difference. In an earlier set of 8 rounds
  (load 3–8) before and after the changes above: raw borg 13.92 s, the drone 14.26 s before
  and 14.24 s after; \`backup-drone init\` 485 → 407 ms of CPU against \`borg init\` 243 ms. What
  is left that is ours is the pre-scan, which competes with borg only when the machine has
  no idle core (here it has none: two cores shared with other work); a drone whose first
  backup needs no estimate can set \`PRESCAN=false\`.
- **Start-up, measured again and cut (30 November).** Three findings:
  - **This machine exports \`NODE_EXTRA_CA_CERTS\`** (a CA for its network's proxy), and Node
    reads and parses that bundle at every start, before any program code: \`node -e 0\` takes
    60 ms of CPU with it and 23 ms without (medians of 30). A homelab's machine does not set
    it; the benchmark now runs every command without it and says so in its notes. Every figure
    of Node's own start above (0.06–0.09 s) included it.
  - **DA's environment loader** is wrapped in both bundles (\`scripts/bundle.mts\`): with the
    environment and argv sources off, as both bins boot, the wrapper returns nothing at once,
    which is what DA's function returns then after its matching; DA's own function runs for any
    other setting. It wraps the function and leaves DA's text alone, and two tests guard it: the
    bundles hold the wrapper with DA's module behind it (\`startup.test.mts\`), and DA's own
    loader returns nothing with those sources off and reads both when on
    (\`test/unit/config/da-environment-loader.test.mts\`): a DA release that changes either
    fails a test, not a user's configuration. 6–9 ms of CPU with this machine's 35 variables.
  - **DA's \`Intl.RelativeTimeFormat\`** is built when first used: while the one-shot's modules
    load, \`Intl.RelativeTimeFormat\` is a class whose objects build the real formatter on first
    use (\`libs/process/deferred-intl.mts\`; the real class is back once they loaded), and once
    borg has started (the engine's \`onBorgStart\`) the command builds one real formatter, which
    loads ICU's data while node would otherwise wait for borg: the teardown's formatter then
    takes 0.1 ms instead of 12.
  Node's time from its start to borg's \`execve\` in a one-shot \`create\` of 1,000 unchanged
  files (200 MB), under \`strace -f --seccomp-bpf\`, medians of 10: 157 → 140 ms with the CA
  variable, 121 → 96 ms without it; from borg's exit to node's exit 23 → 21 ms. The same
  \`create\` against raw borg with the drone's arguments, wall time and CPU (node and borg),
  medians of 20 alternating paired rounds on a quiet machine: **+0.10 s** wall (+0.14 s CPU)
  without the variable, +0.14 s wall (+0.17 s CPU) with it; target +0.15 s. In the tables
  above, the incremental one-shot of \`large\` (2,000 files, 1 GB): +0.13 s and +0.12 s over
  raw borg on borg 1.2.4 and 1.4.5.
- **The first backup's pre-scan at the lowest priority (30 November).** A one-shot first
  backup of 50,000 files (\`small_files\`' tree; \`backup-drone init\` untimed, then the timed
  \`create\`, against raw \`borg init\` and \`borg create\`, a fresh repository each time,
  without the CA variable), medians of per-round differences: the drone +0.33 s wall (+0.59 s
  CPU), with \`PRESCAN=false\` −0.15 s (+0.11 s CPU), 10 rounds: the pre-scan's walk on the
  drone's own thread cost about 0.45 s of CPU and, although borg uses one core of two, most of
  it in wall time too (borg's repository writes keep the kernel busy on the other). With the
  whole node process at nice 19 and borg at 0 (an experiment, 8 rounds): +0.01 s. The walk now
  runs in a worker thread that sets its own nice value to 19 (\`prescan-beside.mts\`, \`prescan-worker.mts\`;
  Linux keeps one per thread, so neither the drone's main thread nor the borgs it starts
  are touched), from a 2 kB bundle of its own: +0.02 s wall (+0.33 s CPU), 10 rounds, with
  \`PRESCAN=false\` in the same rounds +0.41 s. Round to round the wall time of any variant
  moves by ±1 s here (borg's own CPU time by ±0.5 s), so these medians are good to a few
  tenths. The benchmark's own first-backup tables could not resolve 0.3 s at first: the first
  timed raw borg of every data set ran twice as fast as all later runs. The cause: borg drops
  from the page cache what it has read, but only clean pages, so only the first create after
  the data set was written found it cached. Every timed create now starts with the data set
  cached ("How it is measured"), and first backups have 10 rounds: in the run of 30 November,
  19:12, the one-shot's first backups are +0.13 s and +0.37 s over raw borg on
  \`small_files\` (borg 1.2.4 and 1.4.5) and +0.27 s and +0.21 s on \`large\`. Of that, 0.13 s
  is fixed (strace: 101 ms from node's start to borg's \`execve\`, 29 ms from borg's exit to
  node's exit; borg is the only process started, and writes 68 lines for node to read); the
  rest is what node does beside borg (the walk on its nice-19 thread) or noise: a focused run
  of the borg 1.4.5 group, 14 alternating rounds with the data cached, gave +0.27 s with the
  pre-scan and +0.43 s without it, with paired differences from −1.5 to +1.1 s.
- **Twenty first-backup rounds, and a walk as borg's (30 November, evening).** Two focused
  runs of that group (borg 1.4.5, \`small_files\`, data cached, 24 alternating rounds each):
  the one-shot +0.21 s with the pre-scan (middle 90 % of 4,000 bootstrap medians: +0.04 to
  +0.32 s) and +0.10 s with \`PRESCAN=false\`, CPU +0.51 s and +0.16 s: the walk costs about
  0.1 s of wall time and 0.35 s of CPU beside borg. Its own CPU, alone on a quiet machine
  (50,000 files, 100 folders, two exclude patterns): 0.21–0.23 s, of which the \`lstat\` calls'
  system time is 0.12 s; one \`lstat\` per regular file and none per other entry (the
  folder's listing gives the type), with child paths joined by hand, brought it to
  0.19–0.21 s, and in the second run, old walk against new in the same rounds: +0.24 s and
  +0.21 s, within the spread. A 10-round median moved by about 0.2 s from run to run, so
  first backups now have 20 rounds: in the run of 30 November, 21:58, the one-shot's first
  backups are +0.17 s and +0.19 s over raw borg on \`small_files\` (borg 1.2.4 and 1.4.5)
  and +0.15 s and +0.22 s on \`large\`. The walk now follows borg's own rules (the same code
  finds the special files of a backup with dumps, \`apps/drone/core/borg-walk.mts\`): one
  \`lstat\` per folder more (for \`ONE_FILE_SYSTEM\` and the folders borg leaves out), a
  marker looked up as a path, a hard-linked file counted once; per file the same work (its
  CPU side by side with the walk before these changes: 0.18–0.20 s against 0.20–0.23 s).
- **The library call** costs 7–8 ms from \`engine.run\` to borg's start and about 10 ms from
  borg's exit to the result (run lock, state file writes, parsing borg's JSON), measured under
  strace over 6 runs: nothing on a long backup, 2–3 % of a 0.6 s incremental one. Its
  ratios in the tables move by several percent either way from run to run, as those of
  "raw borg with the drone's arguments" do, which has no Node in it at all: on this machine
  the ratio cannot be read closer than that, and the drone's own part of it is the 20 ms.
- **The ETA** extrapolated the whole step, including borg's start and the opening of the
  repository (about 0.5 s before borg's first progress line on \`small_files\`), and was given
  in whole seconds: on 3.4 s incremental runs that made 14–19 % of error at half-time. It now
  uses the rate since borg's first progress line, to a tenth of a second (about 6 %
  recomputed from the same recorded samples; see the ETA table for the run above).
- **The real coordinator process** (the table above the failure detection): an allocation
  profile once found the coordinator regrouping the drones by repository host on every
  status event, for every drone (5.7 GB allocated over 4 rounds, quadratic in the fleet);
  those groups are now kept until a host changes. Its peak after 8 rounds was then still
  161–189 MiB. What held it, measured on the bin: its live heap after a full collection is
  about 29 MiB, yet V8 held about 90 MiB of heap at the peak (a young generation grown to
  2 × 16 MiB, an old one of 48 MiB), beside 49 MiB of Node's own code and about 20 MiB
  that malloc holds. The old generation grows at the first round, when 1,000 drones are
  discovered at once: a problem sensor each (synapse stores it, the configuration update
  carries all of them, and synapse writes every entity again on each registry update
  Home Assistant announces), a plan event each, and the replies to these arriving late;
  what survives two young collections is promoted, from 17 to 58 MB before V8's next major
  collection. synapse's SQLite writes are not the cause: with its database on tmpfs
  (nothing waits for the disk) the peak was the same (171–180 MiB, 2 runs). Two of our
  own costs that grow with the fleet are gone (a second read of the whole entity registry
  on each registry update, and every sync building and serialising the attributes of every
  drone's problem sensor to compare them); the peak did not move with them (168–186 MiB,
  6 runs). V8's options, each run alternating with one without (2 runs each unless said):
  \`--max-semi-space-size=4\` 160–162 MiB, \`=8\` 161–173 MiB, \`--heap-growing-percent=20\`
  or \`50\` 160–167 MiB, both of the last (8 and 50) 150–151 MiB, and
  \`--optimize-for-size\` 122–136 MiB in 12 runs (6 alternating), for about 45 % more CPU per round (a median
  of 755 ms against 518 ms per 1,000 status events, discovery included). Set from inside the
  process (\`v8.setFlagsFromString\`) it gave 144–155 MiB: the young generation's size is
  fixed when the process starts. So the shipped systemd unit starts node with
  \`--optimize-for-size\`, and this benchmark starts the bin with the node options of that
  unit. A coordinator started another way (\`backup-coordinator\` from the PATH) runs
  without it.
- **The coordinator's memory** (in-process harness): the figure includes the mock assistant in the same process,
  with every drone's state on Home Assistant's side. With no drone the process holds about
  105 MiB (Node, DA, hass, synapse with drizzle, mysql2, postgres and better-sqlite3, and the
  mock). Per drone the coordinator adds its fleet record, a problem sensor (synapse keeps an
  entity object, a database row and its timers per entity) and the drone's states in the hass
  client's cache. It kept each drone's whole map of 29 entity ids from every status; it now
  keeps the 4 it uses. The benchmark used to boot it at debug level with the tests' log
  capture, which kept every line (about 10 MB with 1,000 drones); it now runs at the bin's
  level with no capture.
${results.notes.length > 0 ? `\n## Notes\n\n${results.notes.map(note => `- ${note}`).join("\n")}\n` : ""}`;
}

/** Write the page; returns its path relative to the repository. */
export async function writeReport(results: Results, file: string, resultsFile = "bench/results/latest.json"): Promise<string> {
  await writeFile(file, renderReport(results, resultsFile));
  return relative(ROOT, file);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const input = process.argv[2] ?? join(ROOT, "bench", "results", "latest.json");
  const results = resultsSchema.parse(JSON.parse(await readFile(input, "utf8")));
  const written = await writeReport(results, join(ROOT, "docs", "benchmarks.md"), relative(ROOT, input));
  process.stdout.write(`${written} regenerated from ${relative(ROOT, input)}\n`);
}
