/**
 * The coordinator's decisions, carried out through Home Assistant. It looks at the fleet on
 * a tick (TICK_SECONDS) and at once after every drone event, so that the next drone starts
 * as soon as the previous one's result arrives. A start is a press of the drone's
 * Scheduled Backup (or Offsite Backup) button — the same path an HA automation takes. It
 * fires the coordinator's events and, with NOTIFY, persistent notifications. When a press
 * cannot reach a drone (Home Assistant refuses its connection, or a press did not start it),
 * the model says so and the start is a `backup_drone_command` on HA's bus instead. Every HA call
 * has a deadline (CALL_TIMEOUT_SECONDS), counted from when it is sent; none is awaited on the
 * decision path. Calls go out at most HA_MESSAGES_PER_SECOND a second (a first heartbeat round
 * of 1,000 drones is 2,000 events at once, and @digital-alchemy/hass ends the process past an
 * average of 500 messages a second), presses and commands ahead of events and notifications:
 * a start's timeout counts from when it is sent. What is queued waits while hass is unsure of
 * its connection ("unknown"), and is dropped at once when the connection is gone; a problem or
 * recovery that did not reach HA is announced again at a later look.
 */
import { randomUUID } from "node:crypto";

import { type TServiceParams } from "@digital-alchemy/core";

import { type FleetEffect, type PendingStart, type Problem } from "../core/fleet.mjs";
import { withDeadline } from "../../../libs/ha/deadline.mjs";
import { createPacer, type PacerGate, type PacerLane } from "../../../libs/ha/pacer.mjs";
import { createTokenCheck } from "../../../libs/ha/token-user.mjs";
import { eventForEffect, type OutgoingEvent, validateEvent } from "../events.mjs";
import { COMMAND_EVENT_TYPES, commandEventSchema, PROTOCOL_VERSION } from "../../../libs/protocol/index.mjs";
import { errorText } from "../../../libs/config/errors.mjs";

/** The dispatch service's API: looks at the fleet and carries out what the fleet model decides. */
export interface DispatchService {
  /** Look at the fleet now (what the tick does): detect problems and start what is due. Returns what was decided. */
  evaluate(): FleetEffect[];
  /** Look at the fleet once the current event has been handled (several requests share one look). */
  evaluateSoon(): void;
  /** The Run Now button: every coordinated drone is due now, then look. */
  runNow(): void;
  /** A paused coordinator starts nothing new (it still watches and reports). */
  readonly paused: boolean;
  setPaused(paused: boolean): void;
  /** Runs at once per repository host. */
  readonly perHostLimit: number;
  setPerHostLimit(limit: number): void;
  /** When this coordinator last saw a round end (null until one did since it started). */
  readonly lastRoundCompleted: Date | null;
  /** Called after every look and every handled event (for the entities). */
  onChange(listener: () => void): () => void;
  /** Resolves once every HA call under way has settled or timed out. */
  settled(): Promise<void>;
}

type CallMessage = { type: string } & Record<string, unknown>;
/** What became of a call: HA answered it, it was sent and failed (an error or no answer in time), or it never left. */
type Delivery = "answered" | "failed" | "unsent";
type EffectOf<T extends FleetEffect["type"]> = Extract<FleetEffect, { type: T }>;

const BUTTON_NAMES = { primary: "Scheduled Backup", offsite: "Offsite Backup" } as const;

/**
 * The coordinator's calls and events per second at most. @digital-alchemy/hass warns past an
 * average of 300 messages a second over 5 s (SOCKET_WARN_REQUESTS_PER_SEC) and exits past 500;
 * its count holds every message on the socket: these, the entities' republish on registration
 * (REPUBLISH_SLICE, 100 a second), their writes (WRITES_PER_MINUTE, 240, which may go at once)
 * and heartbeats. With 100, 1,000 drones' first round peaked at 1,242 messages in 5 s (248 a
 * second), and its 2,000 events still go out in about 20 s.
 */
export const HA_MESSAGES_PER_SECOND = 100;

/** The dispatch service: starts runs through Home Assistant and fires the coordinator's events. */
export function DispatchService({ backup_coordinator, hass, lifecycle, logger, scheduler }: TServiceParams): DispatchService {
  const fleet = backup_coordinator.fleet;
  let started = false;
  let closing = false;
  let paused = false;
  let perHostLimit: number | undefined;
  let lastRoundCompleted: Date | null = null;
  let soon = false;
  let waitingForHa = false;
  const changeListeners = new Set<() => void>();
  const inflight = new Set<Promise<unknown>>();
  /** Drones whose button is unknown, warned about once. */
  const noButton = new Set<string>();
  /** The problem kind last announced per drone (a reason that only updates its numbers is not news). */
  const announced = new Map<string, Problem["kind"]>();
  /** Drones whose problem or recovery did not reach Home Assistant: the next look announces it again if it still holds. */
  const unannounced = new Map<string, EffectOf<"problem"> | EffectOf<"recovered">>();
  /** Since when (performance.now()) hass has been unsure of its connection, while calls wait for it. */
  let unknownSince: number | undefined;

  const timeoutMs = () => fleet.config.callTimeoutMs;
  /**
   * Whether queued calls may go now. hass says "unknown" after a socket error until a ping is
   * answered (its sendMessage still sends then); a second one can last until the socket closes,
   * as hass pings once only. Calls wait, at most as long as a call's deadline. Any other state
   * than connected is a connection gone: a call queued on it is not sent.
   */
  const gate = (): PacerGate => {
    const state = hass.socket.connectionState;
    if (!closing && state === "unknown") {
      unknownSince ??= performance.now();
      if (performance.now() - unknownSince < timeoutMs()) return "hold";
    }
    unknownSince = undefined;
    return !closing && state === "connected" ? "open" : "drop";
  };
  const wentAway = (count: number) => {
    if (count > 0) logger.warn(`Home Assistant went away: ${count} queued calls and events are not sent`);
  };
  const pacer = createPacer({
    perSecond: HA_MESSAGES_PER_SECOND,
    clock: { now: () => performance.now(), after: (ms, run) => scheduler.setTimeout(run, ms) },
    onError: error => logger.error(`sending to Home Assistant failed: ${errorText(error)}`),
    gate,
    onDropped: wentAway,
  });
  const track = <T,>(promise: Promise<T>) => {
    inflight.add(promise);
    void promise.finally(() => inflight.delete(promise));
    return promise;
  };
  const changed = () => {
    for (const listener of changeListeners) {
      try {
        listener();
      } catch (error) {
        logger.error(`change listener failed: ${errorText(error)}`);
      }
    }
  };

  // ---------------------------------------------------------------- HA calls

  /**
   * Queue a call behind those before it in its lane (urgent: presses and commands); `onSent`
   * runs as it leaves the queue. Resolves with what became of it.
   */
  const send = (what: string, message: CallMessage, options: { lane?: PacerLane; onSent?: () => void } = {}): Promise<Delivery> => {
    if (closing) return Promise.resolve("unsent");
    const state = hass.socket.connectionState;
    if (state !== "connected" && state !== "unknown") {
      logger.warn(`${what}: Home Assistant is not connected`);
      return Promise.resolve("unsent");
    }
    const result = new Promise<Delivery>(resolve => {
      const go = () => {
        if (closing) return resolve("unsent");
        options.onSent?.();
        // the deadline starts now, when the call leaves the queue
        void withDeadline(hass.socket.sendMessage(message), timeoutMs()).then(outcome => {
          if (!outcome.ok) logger.warn(`${what} failed: ${outcome.reason}`);
          resolve(outcome.ok ? "answered" : "failed");
        });
      };
      pacer.push(go, () => resolve("unsent"), options.lane);
    });
    return track(result);
  };

  const callService = (what: string, domain: string, service: string, service_data: Record<string, unknown>) =>
    send(what, { type: "call_service", domain, service, service_data });

  /** A start's press or command: sent ahead of events; its timeout counts from when it leaves, and one never sent is not waited for. */
  const sendStart = (what: string, message: CallMessage, droneId: string, pending: PendingStart) => {
    void send(what, message, { lane: "urgent", onSent: () => fleet.state.pressSent(droneId, pending, fleet.now()) }).then(delivery => {
      if (delivery === "unsent") fleet.state.pressUnsent(droneId, pending);
    });
  };

  // false once HA said the token's user is no administrator (asked on every connection)
  const token = createTokenCheck({
    send: message => hass.socket.sendMessage(message),
    deadlineMs: timeoutMs,
    error: message => logger.error(message),
    app: "the coordinator",
    consequence: "it neither hears the drones' events nor sends its own, and can schedule nothing",
  });
  const checkToken = () => token.check();

  /** Fire an event; null when it is not sent on purpose (the token's user may not, or it does not match its schema). */
  const fire = (event: OutgoingEvent): Promise<Delivery> | null => {
    // each refused fire_event would be an ERROR line in HA's log
    if (token.isAdmin() === false) return null;
    const valid = validateEvent(event);
    if (!valid.ok) {
      // a bug of ours: say which fields, not the values
      logger.warn(`${event.type} event not sent, it does not match its schema: ${valid.problems.join("; ")}`);
      return null;
    }
    return send(`${event.type} event`, { type: "fire_event", event_type: event.type, event_data: valid.data });
  };

  const notificationId = (droneId: string) => `${fleet.config.coordinatorId}_${droneId}`;

  // ---------------------------------------------------------------- effects

  /** A start through the bus: the drone acts on its own id, once per request id, and answers with an ack. */
  const startByCommand = ({ droneId, kind, reason }: EffectOf<"start">, overdue: string, now: Date) => {
    const parsed = commandEventSchema.safeParse({
      v: PROTOCOL_VERSION,
      drone_id: droneId,
      action: kind === "offsite" ? "offsite" : "scheduled",
      request_id: randomUUID(),
      sender: fleet.config.coordinatorId,
      time: now.toISOString(),
    });
    if (!parsed.success) {
      logger.warn(`cannot send ${droneId} a command: ${parsed.error.issues.map(issue => issue.path.join(".")).join(", ")} do not match the protocol`);
      return;
    }
    // no look at HA's Application State: HA cannot show this drone's entities as they are; the drone refuses a second run itself
    const pending = fleet.state.markPressed(droneId, kind, now, "command");
    const command = parsed.data;
    logger.info(
      `starting ${kind === "offsite" ? "an offsite run" : "a backup"} of ${droneId} (${overdue}) through ${COMMAND_EVENT_TYPES.command} ` +
        `${command.action} ${command.request_id}: ${reason ?? "a press cannot reach it"}`,
    );
    sendStart(`${COMMAND_EVENT_TYPES.command} to ${droneId}`, { type: "fire_event", event_type: COMMAND_EVENT_TYPES.command, event_data: command }, droneId, pending);
  };

  const start = (effect: EffectOf<"start">, now: Date) => {
    const { droneId, kind, overdueMinutes } = effect;
    const overdue = Number.isFinite(overdueMinutes) ? `${Math.round(overdueMinutes)} min overdue` : "never backed up";
    if (effect.via === "command") return startByCommand(effect, overdue, now);
    const entity_id = fleet.button(droneId, kind);
    if (entity_id === undefined) {
      if (!noButton.has(droneId)) logger.warn(`cannot start ${droneId}: its ${BUTTON_NAMES[kind]} button is not known yet`);
      noButton.add(droneId);
      return;
    }
    noButton.delete(droneId);
    // HA is the source of truth: a drone it shows busy is not pressed (looked at again when that changes)
    const busy = fleet.busyInHomeAssistant(droneId);
    if (busy !== undefined) {
      logger.info(`not starting ${droneId}: Home Assistant shows it ${busy}`);
      return;
    }
    // marked before the press: the drone's answer may come before HA's reply to the call
    const pending = fleet.state.markPressed(droneId, kind, now, "press");
    logger.info(`starting ${kind === "offsite" ? "an offsite run" : "a backup"} of ${droneId} (${overdue}): pressing ${entity_id}`);
    sendStart(`pressing ${entity_id}`, { type: "call_service", domain: "button", service: "press", service_data: { entity_id } }, droneId, pending);
  };

  /**
   * Once the announcement's event and notification have settled: if one of them did not reach
   * HA, and the announcement is still the drone's latest, the next look announces it again.
   */
  const whenAnnounced = (effect: EffectOf<"problem"> | EffectOf<"recovered">, calls: (Promise<Delivery> | null)[]) => {
    void Promise.all(calls.map(async call => call)).then(deliveries => {
      if (deliveries.every(delivery => delivery === null || delivery === "answered")) return;
      const { droneId } = effect;
      const latest = effect.type === "problem" ? announced.get(droneId) === effect.problem.kind : !announced.has(droneId);
      if (!latest || closing) return;
      if (effect.type === "problem") announced.delete(droneId);
      unannounced.set(droneId, effect);
    });
  };

  /** Fire an announcement's event and, with NOTIFY, put its notification in place of the drone's other one. */
  const announce = (effect: EffectOf<"problem"> | EffectOf<"recovered">, now: Date, notification: { id: string; replaces: string; title: string; message: string }) => {
    const outgoing = eventForEffect(effect, fleet.config.coordinatorId, now);
    const calls = [outgoing ? fire(outgoing) : null];
    if (fleet.config.notify) {
      void callService("dismissing a notification", "persistent_notification", "dismiss", { notification_id: notification.replaces });
      calls.push(
        callService("creating a notification", "persistent_notification", "create", { notification_id: notification.id, title: notification.title, message: notification.message }),
      );
    }
    whenAnnounced(effect, calls);
  };

  const problem = (effect: EffectOf<"problem">, now: Date) => {
    const { droneId, problem: current } = effect;
    const news = announced.get(droneId) !== current.kind;
    if (!news) return;
    announced.set(droneId, current.kind);
    unannounced.delete(droneId);
    logger.warn(`${droneId}: ${current.kind} — ${current.reason}`);
    announce(effect, now, {
      id: notificationId(droneId),
      replaces: `${notificationId(droneId)}_recovered`,
      title: `Backup problem: ${droneId}`,
      message: `${current.reason}\n\nProblem: ${current.kind}, since ${current.since.toISOString()}.`,
    });
  };

  const recovered = (effect: EffectOf<"recovered">, now: Date) => {
    const { droneId, previous } = effect;
    announced.delete(droneId);
    unannounced.delete(droneId);
    logger.info(`${droneId}: recovered from ${previous.kind}`);
    announce(effect, now, {
      id: `${notificationId(droneId)}_recovered`,
      replaces: notificationId(droneId),
      title: `Backup recovered: ${droneId}`,
      message: `${droneId} is fine again (it was ${previous.kind} since ${previous.since.toISOString()}: ${previous.reason}).`,
    });
  };

  /** Announce again what did not reach HA, if the drone still stands so (a newer problem or recovery was announced itself). */
  const announceAgain = (now: Date) => {
    for (const [droneId, effect] of [...unannounced]) {
      unannounced.delete(droneId);
      const current = fleet.state.drones.get(droneId)?.problem ?? null;
      if (effect.type === "problem" && current !== null) problem({ type: "problem", droneId, problem: current }, now);
      else if (effect.type === "recovered" && current === null && !announced.has(droneId)) recovered(effect, now);
    }
  };

  const EFFECTS: { [T in FleetEffect["type"]]: (effect: EffectOf<T>, now: Date) => void } = {
    start,
    run_started: (effect, now) => {
      logger.info(`${effect.droneId}: ${effect.kind} run started${effect.ours ? "" : " (not by the coordinator)"}`);
      const outgoing = eventForEffect(effect, fleet.config.coordinatorId, now);
      if (outgoing) void fire(outgoing);
    },
    run_finished: (effect, now) => {
      const { droneId, kind, result } = effect;
      const line = `${droneId}: ${kind} run ${result.outcome}${result.error ? `: ${result.error}` : ""}`;
      if (result.outcome === "success") logger.info(line);
      else logger.warn(line);
      const outgoing = eventForEffect(effect, fleet.config.coordinatorId, now);
      if (outgoing) void fire(outgoing);
    },
    problem,
    recovered,
    plan: (effect, now) => {
      // only news reaches here (the fleet model publishes a drone's plan when it changed)
      logger.debug(`${effect.droneId}: next backup ${effect.plan.nextAt?.toISOString() ?? "none"} (${effect.plan.reason})`);
      const outgoing = eventForEffect(effect, fleet.config.coordinatorId, now);
      if (outgoing) void fire(outgoing);
    },
    round_completed: ({ at }) => {
      lastRoundCompleted = at;
      logger.info("round completed: every due drone has run");
    },
  };

  const execute = (effects: readonly FleetEffect[], now: Date) => {
    for (const effect of effects) {
      try {
        (EFFECTS[effect.type] as (effect: FleetEffect, now: Date) => void)(effect, now);
      } catch (error) {
        logger.error(`carrying out ${effect.type} for ${"droneId" in effect ? effect.droneId : "the fleet"} failed: ${String(error)}`);
      }
    }
  };

  // ---------------------------------------------------------------- looking

  const evaluate = (): FleetEffect[] => {
    if (!started || closing) return [];
    // without HA no press can reach a drone and no event can arrive: starting or judging now would be wrong
    if (hass.socket.connectionState !== "connected") {
      if (!waitingForHa) logger.warn("Home Assistant is not connected: nothing starts and no problem is judged until it is back");
      waitingForHa = true;
      return [];
    }
    waitingForHa = false;
    const now = fleet.now();
    const config = fleet.config;
    const holding = fleet.holding(now);
    const effects = fleet.state.evaluate(now, {
      paused,
      holding,
      limits: { ...config.limits, perHost: perHostLimit ?? config.limits.perHost },
      hostKey: fleet.hostKey,
    });
    execute(effects, now);
    announceAgain(now);
    changed();
    return effects;
  };

  const evaluateSoon = () => {
    if (soon || !started || closing) return;
    soon = true;
    // not a timer: the look runs as soon as the event that asked for it has been handled
    setImmediate(() => {
      soon = false;
      evaluate();
    });
  };

  fleet.onEffects(effects => execute(effects, fleet.now()));
  fleet.onChange(change => {
    // progress changes no decision (a stall is found on the tick); it changes the entities
    if (change === "progress") changed();
    else evaluateSoon();
  });

  hass.socket.onConnect(() => {
    // what is still queued was meant for the connection before: plans go out again, presses and problems at the next look
    wentAway(pacer.drop());
    // plans fired while Home Assistant was away are lost: every drone's plan goes out again
    if (started && !closing) fleet.state.republishPlans();
    evaluateSoon();
    if (started && !closing) void track(checkToken());
  });

  lifecycle.onReady(() => {
    void track(checkToken());
    started = true;
    scheduler.setInterval(() => void evaluate(), fleet.config.tickSeconds * 1000);
    evaluate();
  });

  lifecycle.onPreShutdown(async () => {
    closing = true;
    // what waits for its turn is not sent: a closing coordinator makes no new calls
    pacer.close();
    await withDeadline(Promise.allSettled([...inflight]), fleet.config.callTimeoutMs);
  }, 50);

  return {
    evaluate,
    evaluateSoon,
    runNow: () => {
      if (!started || closing) return;
      fleet.state.requestRound(fleet.now());
      logger.info(paused ? "run now: every drone is due, but the coordinator is paused" : "run now: every drone is due");
      evaluate();
    },
    get paused() {
      return paused;
    },
    setPaused: value => {
      if (value === paused) return;
      paused = value;
      logger.info(value ? "paused: nothing new starts" : "resumed");
      // a look either way: every coordinated drone's plan changes (paused, or planned again)
      evaluateSoon();
    },
    get perHostLimit() {
      return perHostLimit ?? fleet.config.limits.perHost;
    },
    setPerHostLimit: limit => {
      const current = perHostLimit ?? fleet.config.limits.perHost;
      perHostLimit = limit;
      if (limit === current) return;
      logger.info(`concurrency limit: ${limit} per repository host`);
      evaluateSoon();
    },
    get lastRoundCompleted() {
      return lastRoundCompleted;
    },
    onChange: listener => {
      changeListeners.add(listener);
      return () => void changeListeners.delete(listener);
    },
    settled: async () => {
      await Promise.allSettled([...inflight]);
    },
  };
}
