/** Human formatting for the terminal: sizes, durations, counts, times. Pure functions. */

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"] as const;

/** Bytes in binary units: `0 B`, `512 B`, `1.5 KiB`, `23.4 MiB`, `1.21 GiB`. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 1024) return `${Math.max(0, Math.round(Number.isFinite(bytes) ? bytes : 0))} B`;
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

/** A duration for people: `0.4 s`, `12 s`, `3m 05s`, `2h 04m`, `3d 4h`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  if (seconds < 0.05) return "under 0.1 s";
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  const total = Math.round(seconds);
  if (total < 60) return `${total} s`;
  const days = Math.floor(total / 86_400);
  const hours = Math.floor((total % 86_400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const secs = total % 60;
  const pad = (value: number) => String(value).padStart(2, "0");
  if (days > 0) return `${days}d ${hours}h`;
  if (hours > 0) return `${hours}h ${pad(minutes)}m`;
  return `${minutes}m ${pad(secs)}s`;
}

/**
 * A count with thousands separators: `12,345`. Grouped by hand: `toLocaleString` would load
 * ICU's number formatting (about 3–12 ms of a one-shot command's start) for a comma.
 */
export const formatCount = (count: number) => String(Math.round(count)).replace(/\B(?=(\d{3})+$)/g, ",");

/** `n thing` / `n things`. */
export const plural = (count: number, noun: string, nouns = `${noun}s`) => `${formatCount(count)} ${count === 1 ? noun : nouns}`;

/** A deduplication ratio: original size over the size on disk, `8.3×`; `–` when unknown. */
export function formatRatio(original: number, onDisk: number): string {
  if (onDisk <= 0 || original <= 0) return "–";
  const ratio = original / onDisk;
  return `${ratio >= 10 ? ratio.toFixed(0) : ratio.toFixed(1)}×`;
}

/** A local time `2026-11-22 10:04` and how long ago or ahead it is. */
export function formatWhen(iso: string | null, now = new Date()): string {
  if (iso === null) return "never";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const pad = (value: number) => String(value).padStart(2, "0");
  const local = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
  const delta = (now.getTime() - date.getTime()) / 1000;
  const relative = Math.abs(delta) < 30 ? "just now" : delta > 0 ? `${formatDuration(delta)} ago` : `in ${formatDuration(-delta)}`;
  return `${local} (${relative})`;
}

/** Minutes as `every 24 h`, `every 90 min`, `every 7 d`. */
export function formatFrequency(minutes: number): string {
  if (minutes % 1440 === 0 && minutes > 1440) return `every ${minutes / 1440} d`;
  if (minutes % 60 === 0) return `every ${minutes / 60} h`;
  return `every ${minutes} min`;
}
