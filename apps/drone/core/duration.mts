/** Ages and moments on the command line: `--older-than` (`7d`, `2w`, `1m`: the units of borg's `--keep-within`) and `--since`. */
import dayjs from "dayjs";

/** A positive whole number and a unit: H (hours), d (days), w (weeks), m (months), y (years). */
export const AGE_PATTERN = /^([1-9]\d{0,5})([Hdwmy])$/;

const UNITS = { H: "hour", d: "day", w: "week", m: "month", y: "year" } as const;

/**
 * The moment `age` before `now` (calendar months and years, as borg counts them).
 * Throws with what to write instead when `age` is not an age.
 */
export function ageCutoff(age: string, now = new Date()): Date {
  const match = AGE_PATTERN.exec(age.trim());
  const amount = match?.[1];
  const unit = match?.[2] as keyof typeof UNITS | undefined;
  if (amount === undefined || unit === undefined) {
    throw new Error(`"${age}" is not an age: write a whole number and a unit, H (hours), d, w, m (months) or y, e.g. 7d, 2w, 1m`);
  }
  return dayjs(now).subtract(Number(amount), UNITS[unit]).toDate();
}

/** Units of a relative `--since`: hours, days, weeks. */
const SINCE_UNITS = { h: "hour", d: "day", w: "week" } as const;
const RELATIVE_SINCE = /^([1-9]\d{0,5})([hHdw])$/;
const ISO_SINCE = /^(\d{4})-(\d\d)-(\d\d)(?:[T ]([01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?$/;

/** Whether a calendar date exists (dayjs would roll 2026-02-30 over into March). */
const dateExists = (year: number, month: number, day: number) => {
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
};

/**
 * The moment a `--since` names: an ISO date or date/time (a date alone is local midnight), or
 * a relative age before `now` (`24h`, `7d`, `2w`). Throws a one-line error saying what to write.
 */
export function parseSince(text: string, now = new Date()): Date {
  const value = text.trim();
  const relative = RELATIVE_SINCE.exec(value);
  if (relative?.[1] !== undefined && relative[2] !== undefined) {
    const unit = SINCE_UNITS[relative[2].toLowerCase() as keyof typeof SINCE_UNITS];
    return dayjs(now).subtract(Number(relative[1]), unit).toDate();
  }
  const iso = ISO_SINCE.exec(value);
  if (iso && dateExists(Number(iso[1]), Number(iso[2]), Number(iso[3]))) {
    const date = dayjs(value.replace(" ", "T"));
    if (date.isValid()) return date.toDate();
  }
  throw new Error(`--since "${text}" is not a time: write an ISO date or date/time (2026-11-20, 2026-11-20T08:00) or an age (24h, 7d, 2w)`);
}
