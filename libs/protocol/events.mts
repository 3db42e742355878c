/**
 * The Home Assistant events the drone fires and the coordinator reads. Every payload is
 * versioned (`v`) and validated with these schemas on both sides. Field names are
 * snake_case, as HA automations expect.
 */
import { z } from "zod";

import { ERROR_KINDS, knownErrorKind } from "./error-kinds.mjs";
import { clipList, clipText, EVENT_LIMITS as L } from "./limits.mjs";

/** Version of every payload below; bumped on an incompatible change. */
export const PROTOCOL_VERSION = 1;

/** HA event types. */
export const EVENT_TYPES = {
  progress: "backup_drone_progress",
  result: "backup_drone_result",
  status: "backup_drone_status",
} as const;

/** Drone ids: lowercase letters, digits, `_` and `-` (they become parts of entity ids and archive names). */
export const DRONE_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/**
 * Operations a drone runs. `verify` is a check that also reads and verifies every data
 * chunk (`--verify-data`); `restore` extracts an archive into a target folder.
 */
export const OPERATIONS = ["create", "prune", "compact", "stats", "check", "scheduled", "offsite", "verify", "restore"] as const;
/** One operation. */
export type Operation = (typeof OPERATIONS)[number];

/** The values of the Application State sensor: the step running now. */
export const APPLICATION_STATES = [
  "idle",
  "running_hooks",
  "creating",
  "pruning",
  "compacting",
  "updating_stats",
  "checking",
  "offsite_creating",
  "offsite_pruning",
  "offsite_compacting",
  "offsite_updating_stats",
  "verifying_data",
  "spot_checking",
  "restoring",
] as const;
/** One application state. */
export type ApplicationState = (typeof APPLICATION_STATES)[number];

/** Application Mode. */
export const MODES = ["coordinated", "standalone", "paused"] as const;
/** One mode. */
export type Mode = (typeof MODES)[number];

/**
 * How an operation ended. `held`: the backup was made, but the prune guard found the new
 * archive suspicious and held prune (every archive kept) until a person releases it.
 */
export const OUTCOMES = ["success", "warning", "failed", "interrupted", "held"] as const;
/** One outcome. */
export type Outcome = (typeof OUTCOMES)[number];

/**
 * What started an operation. `command`: a `backup_drone_command` event on HA's bus (see
 * commands.mts). `coordinator`: the coordinator started it (it pressed the button or sent a
 * command, and said so in its `backup_coordinator_run_started` event). `schedule`: the drone's
 * own schedule (standalone mode).
 */
export const TRIGGERS = ["button", "schedule", "cli", "library", "startup", "command", "coordinator"] as const;
/** One trigger. */
export type Trigger = (typeof TRIGGERS)[number];

/**
 * How the drone stands with the synapse integration, as it sees it. `connected`: HA takes its
 * entities. `locked_out`: HA still holds an earlier connection of this drone and refuses this
 * one (its entities stay unavailable until HA restarts). `not_added`: the drone was not added
 * in HA (Settings → Devices & services). `off`: the drone runs without synapse (events only).
 * `unknown`: not found out yet (just connected, or HA is away).
 */
export const SYNAPSE_LINKS = ["connected", "locked_out", "not_added", "off", "unknown"] as const;
/** One synapse link state. */
export type SynapseLink = (typeof SYNAPSE_LINKS)[number];

/** Which repository an operation used (a drone's own, or its second, offsite one); the coordinator's runs are of one of these. */
export const REPOSITORY_ROLES = ["primary", "offsite"] as const;
/** One repository role. */
export type RepositoryRole = (typeof REPOSITORY_ROLES)[number];

const isoTime = z.iso.datetime({ offset: true });
const droneId = z.string().regex(DRONE_ID_PATTERN);
const bytes = z.number().int().nonnegative();

/** `backup_drone_progress`: live counters while a create (or another long step) runs. */
export const progressEventSchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  drone_id: droneId,
  run_id: z.string().min(1),
  operation: z.enum(OPERATIONS),
  repository: z.enum(REPOSITORY_ROLES),
  state: z.enum(APPLICATION_STATES),
  /** 0–100, or null when no estimate exists yet. */
  percent: z.number().min(0).max(100).nullable(),
  /** Seconds to the end of the current step, or null. */
  eta_seconds: z.number().nonnegative().nullable(),
  original_size: bytes,
  compressed_size: bytes,
  deduplicated_size: bytes,
  nfiles: z.number().int().nonnegative(),
  /** The file borg is reading now (create), or the step's message; long ones cut with `…`. */
  path: z.string().max(L.longPathBytes).nullable(),
  elapsed_seconds: z.number().nonnegative(),
  /** The size the estimate works towards, or null. */
  expected_size: bytes.nullable(),
  /** True on the last progress event of a step. */
  finished: z.boolean(),
  time: isoTime,
});
/** A progress payload. */
export type ProgressEvent = z.infer<typeof progressEventSchema>;

/** Statistics of the archive an operation created. */
export const archiveSummarySchema = z.object({
  name: z.string().max(L.nameBytes),
  original_size: bytes,
  compressed_size: bytes,
  deduplicated_size: bytes,
  nfiles: z.number().int().nonnegative(),
});

/** Kinds of integrity check: the repository and archive metadata, every data chunk, one new archive, a dry-run extract. */
export const CHECK_KINDS = ["repository", "verify_data", "archive", "spot"] as const;
/** One kind of check. */
export type CheckKind = (typeof CHECK_KINDS)[number];

/** One integrity check an operation ran, and what it found. */
export const checkSummarySchema = z.object({
  kind: z.enum(CHECK_KINDS),
  /** The archive checked (archive and spot checks), else null. */
  archive: z.string().max(L.nameBytes).nullable(),
  /** False when borg found damage. */
  healthy: z.boolean(),
  /** What borg reported (at most 10 lines); empty when healthy. */
  problems: z.array(z.string().max(L.problemBytes)).max(L.problems),
});
/** A check summary. */
export type CheckSummary = z.infer<typeof checkSummarySchema>;

/** What a restore extracted, and where to. */
export const restoreSummarySchema = z.object({
  archive: z.string().max(L.nameBytes),
  /** The absolute folder the archive was extracted into. */
  target: z.string().max(L.longPathBytes),
  /** The paths restored (as stored in the archive, at most 10 listed); empty for the whole archive. */
  paths: z.array(z.string().max(L.pathBytes)).max(L.paths),
  /** How many paths were restored (`paths` lists at most 10). Optional: older drones leave it out. */
  paths_count: z.number().int().nonnegative().optional(),
});
/** A restore summary. */
export type RestoreSummary = z.infer<typeof restoreSummarySchema>;

/** How one dump of a run ended: `not_run` when the run failed before borg reached it. */
export const DUMP_OUTCOMES = ["success", "failed", "not_run"] as const;

/** One dump (DUMPS) streamed into the archive, or that failed. */
export const dumpSummarySchema = z.object({
  name: z.string().max(L.dumpNameBytes),
  /** `postgresql`, `mariadb`, `sqlite` or `command`. */
  kind: z.string().max(L.dumpNameBytes),
  outcome: z.enum(DUMP_OUTCOMES),
  /** Bytes the dump's tool wrote: the dump's size in the archive when it succeeded. */
  size: bytes,
  duration_seconds: z.number().nonnegative(),
  /** What went wrong (the tool's first stderr line, a password redacted); null when it succeeded. */
  error: z.string().max(L.dumpErrorBytes).nullable(),
});
/** A dump summary. */
export type DumpSummary = z.infer<typeof dumpSummarySchema>;

/** `backup_drone_result`: fired once after every operation, whatever its outcome. */
export const resultEventSchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  drone_id: droneId,
  run_id: z.string().min(1),
  operation: z.enum(OPERATIONS),
  repository: z.enum(REPOSITORY_ROLES),
  trigger: z.enum(TRIGGERS),
  outcome: z.enum(OUTCOMES),
  /** The typed error kind (borg's or the drone's) when the outcome is failed or interrupted; `prune_held` when held. */
  error_kind: z.enum(ERROR_KINDS).nullable(),
  /** What went wrong (or why prune is held) and what to do; never a secret. */
  error: z.string().max(L.errorBytes).nullable(),
  /** At most 10; when there were more, the last says how many more the drone's log holds. */
  warnings: z.array(z.string().max(L.warningBytes)).max(L.warnings),
  /** What happened that needs nothing from anyone (borg removed a stale lock of a dead process). Optional: older drones leave it out. */
  notes: z.array(z.string().max(L.warningBytes)).max(L.warnings).optional(),
  started_at: isoTime,
  finished_at: isoTime,
  duration_seconds: z.number().nonnegative(),
  archive: archiveSummarySchema.nullable(),
  /** Archives pruned in this operation (prune, scheduled): the first 20. */
  pruned: z.array(z.string().max(L.nameBytes)).max(L.pruned),
  /** How many archives this operation pruned (`pruned` lists at most 20). Optional: older drones leave it out. */
  pruned_count: z.number().int().nonnegative().optional(),
  /** Integrity checks this operation ran (check, verify, and those after a backup). Optional: older drones leave it out. */
  checks: z.array(checkSummarySchema).max(L.checks).optional(),
  /** What a restore extracted; null for other operations. Optional: older drones leave it out. */
  restore: restoreSummarySchema.nullable().optional(),
  /** Who cancelled the run (`error_kind` is `cancelled`), else null. Optional: older drones leave it out. */
  cancelled_by: z.string().max(L.senderBytes).nullable().optional(),
  /** The dumps of a backup (DUMPS), each with its size, time and outcome; empty without dumps. Optional: older drones leave it out. */
  dumps: z.array(dumpSummarySchema).max(L.dumps).optional(),
});
/** A result payload. */
export type ResultEvent = z.infer<typeof resultEventSchema>;

/**
 * The result schema without the size limits, for reading: a drone older than them may send
 * longer lists, and its result still counts (then cut with {@link boundResultEvent}).
 */
const unboundedResultEventSchema = resultEventSchema.extend({
  // a kind this version does not know (another drone version's) reads as `unknown`, not as a bad event
  error_kind: z.string().nullable(),
  archive: archiveSummarySchema.extend({ name: z.string() }).nullable(),
  error: z.string().nullable(),
  warnings: z.array(z.string()),
  notes: z.array(z.string()).optional(),
  pruned: z.array(z.string()),
  cancelled_by: z.string().nullable().optional(),
  checks: z.array(checkSummarySchema.extend({ archive: z.string().nullable(), problems: z.array(z.string()) })).optional(),
  restore: restoreSummarySchema.extend({ archive: z.string(), target: z.string(), paths: z.array(z.string()) }).nullable().optional(),
  dumps: z.array(dumpSummarySchema.extend({ name: z.string(), kind: z.string(), error: z.string().nullable() })).optional(),
});
/** A result as an operation produced it, before {@link boundResultEvent}. */
export type UnboundedResultEvent = z.infer<typeof unboundedResultEventSchema>;

/**
 * A result cut to the limits (libs/protocol/limits.mts): the first 20 pruned names and
 * `pruned_count`; 10 warnings, the last saying how many more there were; texts cut with `…`.
 * Its data stays well under the 32 KiB Home Assistant's recorder keeps.
 */
export function boundResultEvent(event: UnboundedResultEvent): ResultEvent {
  const extra = event.warnings.length - L.warnings;
  const warnings =
    extra > 0
      ? [...clipList(event.warnings, L.warnings - 1, L.warningBytes), `and ${extra + 1} more warnings: see the drone's log`]
      : clipList(event.warnings, L.warnings, L.warningBytes);
  return {
    ...event,
    error_kind: event.error_kind === null ? null : knownErrorKind(event.error_kind),
    error: event.error === null ? null : clipText(event.error, L.errorBytes),
    warnings,
    ...(event.notes === undefined ? {} : { notes: clipList(event.notes, L.warnings, L.warningBytes) }),
    ...(event.cancelled_by === undefined || event.cancelled_by === null ? {} : { cancelled_by: clipText(event.cancelled_by, L.senderBytes) }),
    archive: event.archive === null ? null : { ...event.archive, name: clipText(event.archive.name, L.nameBytes) },
    pruned: clipList(event.pruned, L.pruned, L.nameBytes),
    pruned_count: event.pruned_count ?? event.pruned.length,
    ...(event.checks === undefined
      ? {}
      : {
          checks: event.checks.slice(0, L.checks).map(check => ({
            ...check,
            archive: check.archive === null ? null : clipText(check.archive, L.nameBytes),
            problems: clipList(check.problems, L.problems, L.problemBytes),
          })),
        }),
    ...(event.dumps === undefined
      ? {}
      : {
          dumps: event.dumps.slice(0, L.dumps).map(dump => ({
            ...dump,
            name: clipText(dump.name, L.dumpNameBytes),
            kind: clipText(dump.kind, L.dumpNameBytes),
            error: dump.error === null ? null : clipText(dump.error, L.dumpErrorBytes),
          })),
        }),
    ...(event.restore === undefined || event.restore === null
      ? {}
      : {
          restore: {
            archive: clipText(event.restore.archive, L.nameBytes),
            target: clipText(event.restore.target, L.longPathBytes),
            paths: clipList(event.restore.paths, L.paths, L.pathBytes),
            paths_count: event.restore.paths_count ?? event.restore.paths.length,
          },
        }),
  };
}

/** A result event as {@link readResultEvent} read it, or why it is not one. */
export type ResultReading = { success: true; data: ResultEvent; error?: undefined } | { success: false; error: z.ZodError; data?: undefined };

/**
 * Read a result event of any drone of this protocol version: validated without the limits,
 * then cut to them; an `error_kind` this version does not know reads as `unknown`.
 */
export function readResultEvent(data: unknown): ResultReading {
  const parsed = unboundedResultEventSchema.safeParse(data);
  return parsed.success ? { success: true, data: boundResultEvent(parsed.data) } : { success: false, error: parsed.error };
}

/** A held prune: since when, the archive that tripped the guard, and why (sentences for people). */
export const pruneHoldSchema = z.object({
  since: isoTime,
  archive: z.string().nullable(),
  reasons: z.array(z.string().max(L.reasonBytes)).max(L.reasons),
});
/** A prune hold. */
export type PruneHold = z.infer<typeof pruneHoldSchema>;

/** `backup_drone_status`: a heartbeat, and on every change. */
export const statusEventSchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  drone_id: droneId,
  mode: z.enum(MODES),
  state: z.enum(APPLICATION_STATES),
  operation: z.enum(OPERATIONS).nullable(),
  run_id: z.string().nullable(),
  /** Operations waiting behind the running one. */
  queue: z.array(z.enum(OPERATIONS)),
  /** Host of the primary repository (`local:<drone id>` for a local path). */
  repository_host: z.string(),
  offsite_host: z.string().nullable(),
  frequency_minutes: z.number().positive(),
  offsite_frequency_minutes: z.number().positive().nullable(),
  priority: z.number(),
  last_backup: isoTime.nullable(),
  last_offsite_backup: isoTime.nullable(),
  last_result: z.enum(OUTCOMES).nullable(),
  /** How the last integrity check ended: `failed` once any check found damage, until a full check passes. Optional: older drones leave it out. */
  last_check_result: z.enum(["success", "failed"]).nullable().optional(),
  /**
   * When a backup run (primary) was last cancelled, if no backup has succeeded since: the
   * drone's schedule and the coordinator's wait for its next regular time (libs/protocol
   * schedule.mts) instead of starting it again. Optional: older drones leave it out.
   */
  cancelled_at: isoTime.nullable().optional(),
  /** The same for the offsite run. Optional: older drones leave it out. */
  offsite_cancelled_at: isoTime.nullable().optional(),
  /** Set while the prune guard holds prune: since when, and why. Optional: older drones leave it out. */
  prune_hold: pruneHoldSchema.nullable().optional(),
  /**
   * The drone's entity ids by key (`create_backup` → `button.laptop_create_backup`). Empty when
   * `entities_unchanged` is set: the map is sent when the drone (re)connects, when it changes,
   * and in answer to a `status` command (it is most of the event's 2 kB).
   */
  entities: z.record(z.string(), z.string()),
  /** `true`: `entities` is left empty and the map is the one of this drone's last status that had one. Optional: older drones leave it out and always send the map. */
  entities_unchanged: z.literal(true).optional(),
  /** How the drone stands with the synapse integration. Optional: older drones leave it out (and take no commands). */
  synapse: z.enum(SYNAPSE_LINKS).optional(),
  version: z.string(),
  time: isoTime,
});
/** A status payload. */
export type StatusEvent = z.infer<typeof statusEventSchema>;

/** Every event schema by HA event type. */
export const EVENT_SCHEMAS = {
  [EVENT_TYPES.progress]: progressEventSchema,
  [EVENT_TYPES.result]: resultEventSchema,
  [EVENT_TYPES.status]: statusEventSchema,
} as const;
