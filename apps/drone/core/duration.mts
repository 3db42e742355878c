/** Ages on the command line (`7d`, `2w`, `1m`): the units of borg's `--keep-within`. */
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
