/**
 * Progress on the terminal: a bar on a TTY (redrawn from the engine's live state, so it
 * moves smoothly whatever PROGRESS_INTERVAL_MS is), a plain line every ten seconds otherwise
 * (from the live state too),
 * or every progress event as a JSON line with `--json`.
 */
import { type ApplicationState, type ProgressEvent } from "../../../libs/protocol/index.mjs";
import { type LiveStatus } from "../core/engine.mjs";
import { formatBytes, formatCount, formatDuration } from "./format.mjs";
import { type Terminal } from "./terminal.mjs";

/** What the one-shot command feeds its progress display with. */
export interface ProgressDisplay {
  /** Every progress event the engine emits (throttled by PROGRESS_INTERVAL_MS). */
  onProgress(event: ProgressEvent): void;
  /** Stop drawing and clear the status line. */
  stop(): void;
}

/** Words for the steps, as a person reads them. */
export const STATE_LABELS: Record<ApplicationState, string> = {
  idle: "idle",
  running_hooks: "running hooks",
  creating: "creating",
  pruning: "pruning",
  compacting: "compacting",
  updating_stats: "statistics",
  checking: "checking",
  offsite_creating: "offsite create",
  offsite_pruning: "offsite prune",
  offsite_compacting: "offsite compact",
  offsite_updating_stats: "offsite stats",
  verifying_data: "verifying data",
  spot_checking: "spot check",
  restoring: "restoring",
};

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"] as const;
const BAR_WIDTH = 20;
const PLAIN_INTERVAL_MS = 10_000;

/** Whether the event's estimate still holds (the sources may have grown past it). */
const hasEstimate = (event: ProgressEvent) =>
  event.percent !== null && (event.expected_size === null || event.original_size <= event.expected_size);

/** The counters of an event as words: `1.20 GiB of 2.30 GiB`, `1,234 files`, `34.0 MiB new`. */
export function describeCounters(event: ProgressEvent): string[] {
  const parts: string[] = [];
  const isCreate = event.state === "creating" || event.state === "offsite_creating";
  if (!isCreate) return parts;
  parts.push(
    hasEstimate(event) && event.expected_size !== null && event.expected_size > 0
      ? `${formatBytes(event.original_size)} of ${formatBytes(event.expected_size)}`
      : formatBytes(event.original_size),
  );
  parts.push(`${formatCount(event.nfiles)} files`);
  if (event.deduplicated_size > 0) parts.push(`${formatBytes(event.deduplicated_size)} new`);
  return parts;
}

/** A bar of `width` cells, filled to `percent`. */
export function bar(percent: number, width = BAR_WIDTH): string {
  const cells = Math.max(0, Math.min(width, Math.round((percent / 100) * width)));
  return `${"█".repeat(cells)}${"░".repeat(width - cells)}`;
}

/** Join parts with ` · `, dropping the least important (last) ones until the line fits. */
function fit(head: string, parts: readonly string[], tail: string, columns: number): string {
  const limit = Math.max(20, columns - 1);
  const kept = [...parts];
  for (;;) {
    const text = [head, ...kept, tail].filter(part => part.length > 0).join(" · ");
    if (text.length <= limit) return text;
    if (kept.length === 0) return `${text.slice(0, limit - 1)}…`;
    kept.pop();
  }
}

/** The status line of a TTY for the live state; `undefined` when nothing runs. */
export function statusLine(live: LiveStatus, frame: number, columns: number, now = Date.now()): string | undefined {
  if (live.operation === null || live.state === "idle") return undefined;
  const label = STATE_LABELS[live.state];
  const event = live.progress && live.progress.state === live.state && !live.progress.finished ? live.progress : null;
  const elapsed = live.startedAt ? (now - live.startedAt.getTime()) / 1000 : 0;
  const counters = event ? describeCounters(event) : [];
  if (event && event.percent !== null && hasEstimate(event)) {
    const eta = event.eta_seconds !== null ? `ETA ${formatDuration(event.eta_seconds)}` : "ETA ?";
    const head = `${label} ${bar(event.percent)} ${event.percent.toFixed(0).padStart(3)}%`;
    return fit(head, [eta, ...counters], "", columns);
  }
  const spinner = SPINNER[frame % SPINNER.length] ?? "";
  return fit(`${spinner} ${label}`, counters, formatDuration(elapsed), columns);
}

/** One plain line for a log: `create: creating 52% · 1.20 GiB of 2.30 GiB · 1,234 files · ETA 34 s`. */
export function plainLine(event: ProgressEvent): string {
  const parts = [...describeCounters(event)];
  const estimated = hasEstimate(event);
  if (estimated && event.eta_seconds !== null) parts.push(`ETA ${formatDuration(event.eta_seconds)}`);
  else parts.push(`${formatDuration(event.elapsed_seconds)} so far`);
  const percent = estimated && event.percent !== null ? ` ${event.percent.toFixed(0)}%` : "";
  return `${event.operation}: ${STATE_LABELS[event.state]}${percent} · ${parts.join(" · ")}`;
}

/** Plain lines: the first event of each step, then at most one every `intervalMs`. */
export function createLineThrottle(intervalMs = PLAIN_INTERVAL_MS, clock = () => Date.now()) {
  let lastAt = 0;
  let lastKey = "";
  return (event: ProgressEvent): boolean => {
    if (event.finished) return false;
    const key = `${event.run_id}:${event.state}`;
    const now = clock();
    if (key === lastKey && now - lastAt < intervalMs) return false;
    lastKey = key;
    lastAt = now;
    return true;
  };
}

/** A progress bar on a TTY, redrawn ten times a second from the live state. */
function ttyDisplay(terminal: Terminal, live: () => LiveStatus): ProgressDisplay {
  let frame = 0;
  // a terminal animation, not a schedule: it lives exactly as long as the command's run
  const timer = setInterval(() => {
    frame++;
    terminal.status(statusLine(live(), frame, terminal.columns()));
  }, 100);
  timer.unref();
  return {
    onProgress: () => terminal.status(statusLine(live(), frame, terminal.columns())),
    stop: () => {
      clearInterval(timer);
      terminal.status(undefined);
    },
  };
}

/** How often the plain display reads the live state: progress events may be a minute apart (PROGRESS_INTERVAL_MS). */
const PLAIN_LOOK_MS = 1_000;

/** A line every ten seconds (and at each new step) when stderr is not a TTY, from the engine's live state. */
function plainDisplay(terminal: Terminal, live: () => LiveStatus): ProgressDisplay {
  const due = createLineThrottle();
  const show = (event: ProgressEvent | null) => {
    if (event && due(event)) terminal.line(plainLine(event));
  };
  // a look at the live state, not a schedule: it lives exactly as long as the command's run
  const timer = setInterval(() => show(live().progress), PLAIN_LOOK_MS);
  timer.unref();
  return {
    onProgress: show,
    stop: () => clearInterval(timer),
  };
}

/** Every progress event as a JSON line on stdout. */
function jsonDisplay(terminal: Terminal): ProgressDisplay {
  return { onProgress: event => terminal.data(JSON.stringify(event)), stop: () => undefined };
}

/** The display that suits the output mode and the terminal. */
export function createProgressDisplay(mode: { json: boolean }, terminal: Terminal, live: () => LiveStatus): ProgressDisplay {
  if (mode.json) return jsonDisplay(terminal);
  return terminal.tty ? ttyDisplay(terminal, live) : plainDisplay(terminal, live);
}
