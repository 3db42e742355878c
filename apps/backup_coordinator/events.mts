/**
 * Turns the fleet's effects into the coordinator's HA events (schemas in libs/protocol)
 * and validates each payload before it is sent.
 */
import {
  clipText,
  COORDINATOR_EVENT_SCHEMAS,
  COORDINATOR_EVENT_TYPES,
  type CoordinatorEventType,
  EVENT_LIMITS,
  PROTOCOL_VERSION,
} from "../../libs/protocol/index.mjs";
import { issueLines } from "../../libs/config/errors.mjs";
import { type FleetEffect } from "./core/fleet.mjs";

/** An event to fire: its type and a payload not yet validated. */
export interface OutgoingEvent {
  type: CoordinatorEventType;
  data: Record<string, unknown>;
}

/** A reason or an error, cut to the protocol's limit (the recorder keeps no event over 32 KiB). */
const text = (value: string) => clipText(value, EVENT_LIMITS.errorBytes);

type Builder<T extends FleetEffect["type"]> = (effect: Extract<FleetEffect, { type: T }>, base: { coordinator_id: string; time: string }) => OutgoingEvent;

const BUILDERS: { [T in FleetEffect["type"]]?: Builder<T> } = {
  run_started: (effect, base) => ({
    type: COORDINATOR_EVENT_TYPES.runStarted,
    data: { v: PROTOCOL_VERSION, ...base, drone_id: effect.droneId, kind: effect.kind, ours: effect.ours, run_id: effect.runId },
  }),
  run_finished: ({ droneId: drone_id, kind, ours, result }, base) => ({
    type: COORDINATOR_EVENT_TYPES.runFinished,
    data: {
      v: PROTOCOL_VERSION,
      ...base,
      drone_id,
      kind,
      ours,
      run_id: result.run_id,
      outcome: result.outcome,
      error_kind: result.error_kind,
      error: result.error === null ? null : text(result.error),
      started_at: result.started_at,
      finished_at: result.finished_at,
      duration_seconds: result.duration_seconds,
    },
  }),
  problem: ({ droneId: drone_id, problem }, base) => ({
    type: COORDINATOR_EVENT_TYPES.droneProblem,
    data: { v: PROTOCOL_VERSION, ...base, drone_id, kind: problem.kind, reason: text(problem.reason), since: problem.since.toISOString() },
  }),
  recovered: ({ droneId: drone_id, previous }, base) => ({
    type: COORDINATOR_EVENT_TYPES.droneRecovered,
    data: {
      v: PROTOCOL_VERSION,
      ...base,
      drone_id,
      previous_kind: previous.kind,
      previous_reason: text(previous.reason),
      since: previous.since.toISOString(),
      duration_seconds: Math.max(0, Math.round((Date.parse(base.time) - previous.since.getTime()) / 1000)),
    },
  }),
  plan: ({ droneId: drone_id, plan }, base) => ({
    type: COORDINATOR_EVENT_TYPES.plan,
    data: { v: PROTOCOL_VERSION, ...base, drone_id, next_at: plan.nextAt?.toISOString() ?? null, reason: plan.reason },
  }),
};

/** The HA event an effect announces, if any (starts and round ends are not events). */
export function eventForEffect(effect: FleetEffect, coordinatorId: string, now: Date): OutgoingEvent | undefined {
  const build = BUILDERS[effect.type] as Builder<typeof effect.type> | undefined;
  return build?.(effect, { coordinator_id: coordinatorId, time: now.toISOString() });
}

/** Validate a payload against its event's schema: the parsed data, or the problems (paths only, never values). */
export function validateEvent(event: OutgoingEvent): { ok: true; data: object } | { ok: false; problems: string[] } {
  const parsed = COORDINATOR_EVENT_SCHEMAS[event.type].safeParse(event.data);
  if (parsed.success) return { ok: true, data: parsed.data };
  return { ok: false, problems: issueLines(parsed.error) };
}
