/**
 * The kinds of failure a result event names in `error_kind`: every kind the borg client
 * reports, and the drone's own. docs/events.md lists them (a test keeps it in step).
 */
import { BORG_ERROR_KINDS } from "../borg/error-kinds.mjs";

/** Failures of the drone itself, not of borg (a borg kind it raises too, like `integrity`, is listed once, there). */
export const DRONE_ERROR_KINDS = [
  "run_timeout",
  "cancelled",
  "crashed",
  "busy",
  "refused",
  "shutdown",
  "sources_missing",
  "empty_archive",
  "prune_held",
  "hook_failed",
  "dump_failed",
  "target_invalid",
  "target_not_empty",
  "archive_not_ours",
  "no_archives",
  "path_invalid",
  "no_offsite",
  "dump_missing",
  "dump_not_configured",
  "tool_missing",
  "dump_restore_failed",
  "unexpected",
] as const;

/** Every value of a result's `error_kind`. */
export const ERROR_KINDS = [...BORG_ERROR_KINDS, ...DRONE_ERROR_KINDS] as const;
/** One kind of failure. */
export type ErrorKind = (typeof ERROR_KINDS)[number];

const isErrorKind = (kind: string): kind is ErrorKind => (ERROR_KINDS as readonly string[]).includes(kind);

/**
 * The kind as this version knows it: a kind a newer (or older) drone sends that is not
 * listed reads as `unknown`, so its result still counts (its `error` text says what it was).
 */
export function knownErrorKind(kind: string): ErrorKind {
  return isErrorKind(kind) ? kind : "unknown";
}
