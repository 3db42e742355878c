/**
 * Size limits of the events the drone and the coordinator fire. Home Assistant's recorder
 * stores no event whose data, as compact JSON, is over 32 KiB (it logs a warning and keeps
 * the event without its data): every list an event carries is capped in count, and every
 * text in bytes, so that the largest event stays well under that. Texts are cut by the
 * UTF-8 bytes of their JSON form (an escaped control character counts six), so a cut text is
 * never longer in characters than in bytes: the schemas' `.max()` in characters holds too.
 */

/** Home Assistant's limit on an entity state's length, in characters. */
export const MAX_STATE_LENGTH = 255;

/** HA's recorder keeps no event data over this many bytes (recorder/db_schema.py `MAX_EVENT_DATA_BYTES`). */
export const MAX_EVENT_DATA_BYTES = 32_768;

/** The caps: counts of lists, and bytes of texts (JSON-encoded, without the quotes). */
export const EVENT_LIMITS = {
  /** Archive names listed as pruned in one result; `pruned_count` says how many there were. */
  pruned: 20,
  /** Warnings in one result; the last one kept says how many more the drone's log holds. */
  warnings: 10,
  /** Integrity checks in one result. */
  checks: 4,
  /** Problem lines of one check. */
  problems: 10,
  /** Paths listed in a restore summary. */
  paths: 10,
  /** Reasons of a prune hold. */
  reasons: 10,
  /** Dumps listed in one result (a drone configures a handful; the error names the one that failed). */
  dumps: 10,
  /** A dump's name (the configuration allows 63 characters) or kind. */
  dumpNameBytes: 64,
  /** A dump's error (the run's `error` carries the whole text of the one that failed the run). */
  dumpErrorBytes: 200,
  /** An archive name. */
  nameBytes: 256,
  /** A warning. */
  warningBytes: 300,
  /** A problem line of a check. */
  problemBytes: 200,
  /** A restored path. */
  pathBytes: 256,
  /** A folder or file path shown whole: a restore target, the file a progress event names. */
  longPathBytes: 1_024,
  /** What went wrong and what to do (a result's error, a coordinator event's reason). */
  errorBytes: 1_500,
  /** Who sent a command, or cancelled a run (a coordinator id, an automation's name, `cli (user@host)`). */
  senderBytes: 100,
  /** A prune-hold reason (the schema has allowed 500 characters since protocol version 1). */
  reasonBytes: 500,
} as const;

/** The bytes a text takes inside an event's JSON (UTF-8, escapes included, quotes not). */
export function jsonBytes(text: string): number {
  return Buffer.byteLength(JSON.stringify(text), "utf8") - 2;
}

const ELLIPSIS = "…";

/** The text, or its longest start that fits `maxBytes` with `…` after it (never a split character). */
export function clipText(text: string, maxBytes: number): string {
  if (jsonBytes(text) <= maxBytes) return text;
  const room = maxBytes - jsonBytes(ELLIPSIS);
  let used = 0;
  let end = 0;
  for (const character of text) {
    const size = jsonBytes(character);
    if (used + size > room) break;
    used += size;
    end += character.length;
  }
  return `${text.slice(0, end)}${ELLIPSIS}`;
}

/** Each text clipped to `maxBytes`, and at most `count` of them. */
export function clipList(texts: readonly string[], count: number, maxBytes: number): string[] {
  return texts.slice(0, count).map(text => clipText(text, maxBytes));
}

/** The bytes an event's data takes as the recorder stores it (compact JSON, UTF-8). */
export function eventDataBytes(data: unknown): number {
  return Buffer.byteLength(JSON.stringify(data), "utf8");
}

/**
 * Names that reach logs and error texts (a command's sender, who asked for a cancel): printable
 * characters only, so that a name cannot forge a log line or hide text (no control characters,
 * no line or paragraph separators, no bidirectional overrides).
 */
export const PRINTABLE_NAME = /^[^\p{Cc}\u2028\u2029\u202A-\u202E\u2066-\u2069]+$/u;

/** The message a refused name gets. */
export const PRINTABLE_NAME_MESSAGE = "printable characters only (no newlines, tabs or other control characters)";
