/**
 * The Home Assistant events the coordinator fires, for automations and dashboards.
 * Versioned like the drone's events; snake_case fields; validated before sending.
 */
import { z } from "zod";

import { ERROR_KINDS } from "./error-kinds.mjs";
import { DRONE_ID_PATTERN, OUTCOMES, PROTOCOL_VERSION, REPOSITORY_ROLES } from "./events.mjs";
import { EVENT_LIMITS } from "./limits.mjs";

/**
 * Kinds of drone problem the coordinator reports, most severe first. `check_failed`: an
 * integrity check found damage in the drone's repository; it lasts until a check passes.
 * `prune_held`: the drone's prune guard found a backup suspicious and keeps every archive;
 * it lasts until a person releases the hold. `locked_out`: Home Assistant still holds an
 * earlier connection of the drone and refuses its entities (the coordinator starts it through
 * `backup_drone_command` meanwhile); it lasts until Home Assistant restarts.
 */
export const PROBLEM_KINDS = ["offline", "check_failed", "prune_held", "failed", "not_started", "stalled", "overdue", "locked_out"] as const;
/** One kind of problem. */
export type ProblemKind = (typeof PROBLEM_KINDS)[number];

/** HA event types of the coordinator. */
export const COORDINATOR_EVENT_TYPES = {
  runStarted: "backup_coordinator_run_started",
  runFinished: "backup_coordinator_run_finished",
  droneProblem: "backup_coordinator_drone_problem",
  droneRecovered: "backup_coordinator_drone_recovered",
  plan: "backup_coordinator_plan",
} as const;
/** One coordinator event type. */
export type CoordinatorEventType = (typeof COORDINATOR_EVENT_TYPES)[keyof typeof COORDINATOR_EVENT_TYPES];

const isoTime = z.iso.datetime({ offset: true });
const droneId = z.string().regex(DRONE_ID_PATTERN);
const repositoryRole = z.enum(REPOSITORY_ROLES);

const common = {
  v: z.literal(PROTOCOL_VERSION),
  /** The coordinator's id (COORDINATOR_ID). */
  coordinator_id: z.string().min(1),
  drone_id: droneId,
  /** When the coordinator saw it. */
  time: isoTime,
};

/** `backup_coordinator_run_started`: a drone began a backup run (ours or anyone's). */
export const runStartedEventSchema = z.object({
  ...common,
  kind: repositoryRole,
  /** True when the coordinator started it (pressed the button, or sent a `backup_drone_command`); false for a person, an automation or the drone's own schedule. */
  ours: z.boolean(),
  run_id: z.string().nullable(),
});
/** A run-started payload. */
export type RunStartedEvent = z.infer<typeof runStartedEventSchema>;

/** `backup_coordinator_run_finished`: a drone's backup run ended, whatever its outcome. */
export const runFinishedEventSchema = z.object({
  ...common,
  kind: repositoryRole,
  ours: z.boolean(),
  run_id: z.string(),
  outcome: z.enum(OUTCOMES),
  error_kind: z.enum(ERROR_KINDS).nullable(),
  /** The drone's error, cut to 1 500 bytes. */
  error: z.string().max(EVENT_LIMITS.errorBytes).nullable(),
  started_at: isoTime,
  finished_at: isoTime,
  duration_seconds: z.number().nonnegative(),
});
/** A run-finished payload. */
export type RunFinishedEvent = z.infer<typeof runFinishedEventSchema>;

/** `backup_coordinator_drone_problem`: a drone has a new problem, or its problem changed. */
export const droneProblemEventSchema = z.object({
  ...common,
  kind: z.enum(PROBLEM_KINDS),
  /** What is wrong, for people; cut to 1 500 bytes. */
  reason: z.string().max(EVENT_LIMITS.errorBytes),
  /** Since when the drone has had a problem of this kind. */
  since: isoTime,
});
/** A drone-problem payload. */
export type DroneProblemEvent = z.infer<typeof droneProblemEventSchema>;

/** `backup_coordinator_drone_recovered`: a drone's problem is over. */
export const droneRecoveredEventSchema = z.object({
  ...common,
  previous_kind: z.enum(PROBLEM_KINDS),
  previous_reason: z.string().max(EVENT_LIMITS.errorBytes),
  /** When the problem began. */
  since: isoTime,
  /** How long the problem lasted. */
  duration_seconds: z.number().nonnegative(),
});
/** A drone-recovered payload. */
export type DroneRecoveredEvent = z.infer<typeof droneRecoveredEventSchema>;

/**
 * Why a drone's planned time is what it is: `due` (its frequency says when), `overdue` (due
 * now, starts as soon as a slot is free), `waiting_for_slot` (its repository host or the home's
 * limit is busy), `window` (outside the coordinator's backup window), `backoff` (after a
 * failure), `cancelled` (its last run was cancelled: it waits for its next regular time),
 * `running` (a run is under way), and null times: `paused` (the coordinator or the drone is
 * paused), `not_coordinated` (standalone), `offline`.
 */
export const PLAN_REASONS = ["due", "overdue", "waiting_for_slot", "window", "backoff", "cancelled", "running", "paused", "not_coordinated", "offline"] as const;
/** One plan reason. */
export type PlanReason = (typeof PLAN_REASONS)[number];

/**
 * `backup_coordinator_plan`: when the coordinator plans a drone's next backup. Fired for one
 * drone when its plan changes (a time moved by a minute or more, or the reason changed); the
 * drone shows it on its Next Backup sensor.
 */
export const planEventSchema = z.object({
  ...common,
  /** The planned start of the next primary backup; null when none is planned (see `reason`). */
  next_at: isoTime.nullable(),
  reason: z.enum(PLAN_REASONS),
});
/** A plan payload. */
export type PlanEvent = z.infer<typeof planEventSchema>;

/** Every coordinator event schema by HA event type. */
export const COORDINATOR_EVENT_SCHEMAS = {
  [COORDINATOR_EVENT_TYPES.runStarted]: runStartedEventSchema,
  [COORDINATOR_EVENT_TYPES.runFinished]: runFinishedEventSchema,
  [COORDINATOR_EVENT_TYPES.droneProblem]: droneProblemEventSchema,
  [COORDINATOR_EVENT_TYPES.droneRecovered]: droneRecoveredEventSchema,
  [COORDINATOR_EVENT_TYPES.plan]: planEventSchema,
} as const;
