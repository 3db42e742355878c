/**
 * A deadline around a Home Assistant call: hass's `sendMessage`, `fireEvent` and
 * `hass.call.*` never settle when HA answers with an error or not at all, so every call
 * the drone and the coordinator make is raced against a timer.
 */
import { errorText } from "../config/errors.mjs";

/** The outcome of a call with a deadline. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Resolve with the promise's outcome, or a failure after `ms`. Never rejects. */
export async function withDeadline<T>(promise: Promise<T>, ms: number): Promise<Outcome<T>> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<Outcome<T>>(resolve => {
    timer = setTimeout(() => resolve({ ok: false, reason: `no reply within ${ms} ms` }), ms);
    timer.unref();
  });
  try {
    return await Promise.race([
      promise.then(
        (value): Outcome<T> => ({ ok: true, value }),
        (error: unknown): Outcome<T> => ({ ok: false, reason: errorText(error) }),
      ),
      deadline,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
