/**
 * The drone's Home Assistant bridge: the drone's events and status on HA's event bus, the
 * commands that arrive there, and one HA device with the drone's entities (through synapse;
 * kept in step with the engine by ha/entity-sync.mts).
 * Works with whatever the host app loaded: nothing without LIB_HASS, events only without
 * LIB_SYNAPSE.
 */
import { type TServiceParams } from "@digital-alchemy/core";

import {
  type CommandAction,
  COMMAND_EVENT_TYPES,
  COORDINATOR_EVENT_TYPES,
  entityId,
  EVENT_TYPES,
  planEventSchema,
  runStartedEventSchema,
  type StatusEvent,
  type SynapseLink,
} from "../../../libs/protocol/index.mjs";
import { type DroneEngine } from "../core/engine.mjs";
import { cancelWherever } from "../core/cancel-request.mjs";
import { type CommandOutcome, createCommandReceiver } from "../ha/commands.mjs";
import { createEntitySync, type EntitySync } from "../ha/entity-sync.mjs";
import { withDeadline } from "../../../libs/ha/deadline.mjs";
import { createEventSender, type EventSender } from "../ha/events.mjs";
import { buildStatusEvent, statusKey } from "../ha/status.mjs";
import { createStepSettle, type StepSettle } from "../ha/step-settle.mjs";
import { packageVersion } from "../../../libs/protocol/version.mjs";
import { republishSynapseEntities } from "../../../libs/ha/registration.mjs";
import { createTokenCheck } from "../../../libs/ha/token-user.mjs";
import { synapseLoaded, synapseMissingMessage } from "../../../libs/ha/integration.mjs";
import { type LinkWatch, reportLockout, watchSynapseLink } from "../../../libs/ha/synapse-link.mjs";
import { droneLockedOutMessage } from "../ha/lockout.mjs";
import { errorText } from "../../../libs/config/errors.mjs";

export { PROGRESS_ENTITY_INTERVAL_MS } from "../ha/entity-sync.mjs";
/** Changes within this window share one status event. */
export const STATUS_DEBOUNCE_MS = 250;
/** How much longer than hass's EXPECT_RESPONSE_AFTER a `fire_event` may take before it counts as failed. */
export const REPLY_MARGIN_MS = 1_000;

/** The bridge's API. */
export interface HomeAssistantService {
  /** What the bridge does: nothing (no LIB_HASS), events only (no LIB_SYNAPSE), or events and entities. */
  readonly mode: "off" | "events" | "entities";
  /** The drone's entity ids by key (HA's, when its registry knows them). */
  entityIds(): Record<string, string>;
  /** Send a status event now; false when it could not be sent. */
  sendStatus(): Promise<boolean>;
  /** How the drone stands with the synapse integration (also in every status event). */
  synapseLink(): SynapseLink;
}

/**
 * The Home Assistant bridge. Entities are created in onPostConfig, once the engine exists:
 * the drone id and the offsite repository come from configuration that is only complete
 * then (files and env load after wiring), and synapse loads each entity's stored row at
 * onBootstrap and registers them all at onReady, so creating them in onPostConfig is early
 * enough.
 */
export function HomeAssistantService(params: TServiceParams): HomeAssistantService {
  const { config, context, drone, lifecycle, logger, scheduler } = params;
  // optional dependencies of LIB_DRONE: undefined at run time when the host did not load them
  const { hass, synapse } = params as Partial<Pick<TServiceParams, "hass" | "synapse">>;
  if (!hass) {
    return { mode: "off", entityIds: () => ({}), sendStatus: () => Promise.resolve(false), synapseLink: () => "off" };
  }

  const version = packageVersion();
  let engine: DroneEngine | undefined;
  let entities: EntitySync | undefined;
  let closing = false;
  const inflight = new Set<Promise<unknown>>();
  const track = <T,>(promise: Promise<T>): Promise<T> => {
    inflight.add(promise);
    void promise.finally(() => inflight.delete(promise));
    return promise;
  };

  // hass forgets a reply it has not seen after EXPECT_RESPONSE_AFTER (its promise then never
  // settles, as with an error reply): no point waiting much longer than that
  const replyDeadlineMs = () => Math.max(0, config.hass.EXPECT_RESPONSE_AFTER) * 1000 + REPLY_MARGIN_MS;
  const events: EventSender = createEventSender(
    { fireEvent: (type, data) => hass.socket.fireEvent(type, data), connected: () => hass.socket.connectionState === "connected" },
    { debug: message => logger.debug(message), warn: message => logger.warn(message) },
    replyDeadlineMs,
  );
  // whether the token may fire events: false once HA said its user is no administrator
  // (checked on every connection); undefined while unknown, when events are tried
  const token = createTokenCheck({
    send: message => hass.socket.sendMessage(message),
    deadlineMs: replyDeadlineMs,
    error: message => logger.error(message),
    app: "the drone",
    consequence: "nobody there sees its progress, results or status (backups go on)",
  });
  const checkToken = () => token.check();
  const fire = (type: (typeof EVENT_TYPES)[keyof typeof EVENT_TYPES], payload: unknown) => {
    if (closing) return Promise.resolve(false);
    // each refused fire_event would be an ERROR line in HA's log and a silent timeout here
    if (token.isAdmin() === false) return Promise.resolve(false);
    return track(events.send(type, payload));
  };

  const entityIds = (): Record<string, string> => {
    if (!entities || !engine) return {};
    const droneId = engine.config.droneId;
    // straight from the registry: hass.idBy logs an error for every id it does not know yet
    const registry = new Map<string, string>();
    for (const item of hass.entity.registry.current) {
      if (item.platform === "synapse") registry.set(item.unique_id, String(item.entity_id));
    }
    return entities.device.entityIds(
      uniqueId => registry.get(uniqueId),
      key => entityId(droneId, key),
    );
  };

  // ------------------------------------------------------------------ status

  let linkWatch: LinkWatch | undefined;
  const synapseLink = (): SynapseLink => (synapse ? (linkWatch?.link() ?? "unknown") : "off");

  let lastStatus: string | undefined;
  let settle: StepSettle | undefined;
  let statusTimer: (() => void) | undefined;
  /** The entity-id map the last status that reached HA on this connection carried (undefined: send it). */
  let sentEntities: string | undefined;
  /** `withEntities`: the map even when unchanged (an answer to a `status` command, whoever asks). */
  const sendStatus = async (always: boolean, withEntities = false): Promise<boolean> => {
    statusTimer?.();
    statusTimer = undefined;
    if (!engine) return false;
    // the state as Application State shows it: a run's next step once it held (step-settle.mts)
    const shown = settle ? { state: settle.shown() } : {};
    const event: StatusEvent = { ...buildStatusEvent(engine, entityIds(), version), synapse: synapseLink(), ...shown };
    const key = statusKey(event);
    if (!always && key === lastStatus) return true;
    lastStatus = key;
    // the map is most of the event's 2 kB, and the recorder stores every status: it goes out
    // when it changed (or the connection is new), else the coordinator keeps the last one
    const map = JSON.stringify(event.entities);
    const unchanged = !withEntities && map === sentEntities && Object.keys(event.entities).length > 0;
    const sent = await fire(EVENT_TYPES.status, unchanged ? { ...event, entities: {}, entities_unchanged: true } : event);
    if (sent) sentEntities = map;
    return sent;
  };
  const statusSoon = () => {
    statusTimer ??= scheduler.setTimeout(() => sendStatus(false), STATUS_DEBOUNCE_MS);
  };

  // ------------------------------------------------------------------ commands on HA's bus

  const act = async (current: DroneEngine, action: CommandAction, sender: string): Promise<CommandOutcome> => {
    if (action === "status") {
      const sent = await sendStatus(true, true);
      return { accepted: sent, reason: sent ? null : "the status event could not be sent", runId: null };
    }
    if (action === "release_prune_hold") {
      const released = await current.releasePruneHold("command");
      return { accepted: released, reason: released ? null : "prune is not held", runId: null };
    }
    if (action === "cancel") {
      const reach = await cancelWherever(current, sender);
      if (reach.where === "here") {
        // answered at once: the cancelled run's result event follows when borg has stopped
        reach.answer.catch((error: unknown) => logger.error(`cancelling failed: ${errorText(error)}`));
        return { accepted: true, reason: null, runId: reach.runId };
      }
      const { delivery } = reach;
      if (delivery.kind === "nothing") return { accepted: false, reason: "nothing is running or queued", runId: null };
      if (delivery.kind === "refused") return { accepted: false, reason: delivery.message, runId: delivery.run?.runId ?? null };
      const operation = delivery.run?.operation ?? "an operation";
      logger.info(`cancel (${sender}): asked pid ${delivery.pid}, which runs ${operation} for this drone, to cancel it`);
      return {
        accepted: true,
        reason: `asked pid ${delivery.pid} (another backup-drone process of this drone, e.g. a command in a terminal), which runs ${operation}, to cancel it`,
        runId: delivery.run?.runId ?? null,
      };
    }
    // a refusal (busy, queue full, no offsite) is logged by the engine
    const answer = current.request(action, "command", { requestedBy: sender });
    if (!answer.accepted) return { accepted: false, reason: answer.reason, runId: null };
    answer.done.catch((error: unknown) => logger.debug(`${action} (command) dropped: ${errorText(error)}`));
    return { accepted: true, reason: answer.queued ? "queued behind the running operation" : null, runId: answer.runId };
  };

  const listenForCommands = (current: DroneEngine) => {
    const receiver = createCommandReceiver({
      droneId: current.config.droneId,
      act: (action, command) => act(current, action, command.sender),
      answer: async ack => {
        if (closing) return false;
        const outcome = await track(withDeadline(hass.socket.fireEvent(COMMAND_EVENT_TYPES.ack, ack), replyDeadlineMs()));
        return outcome.ok;
      },
      log: { info: message => logger.info(message), warn: message => logger.warn(message), debug: message => logger.debug(message) },
      now: () => new Date(),
    });
    // hass subscribes to every event on HA's bus: commands arrive like any other event
    hass.socket.onEvent<{ data?: unknown }>({
      context,
      event: COMMAND_EVENT_TYPES.command,
      exec: incoming => {
        if (!closing) void track(receiver.receive(incoming.data));
      },
    });
  };

  /**
   * What the coordinator says of this drone: its plan (the Next Backup sensor) and the runs it
   * started (a run the coordinator calls its own is re-labelled trigger `coordinator`: the
   * press that started it carries no sign of who pressed). Other drones' events are ignored.
   */
  const listenToCoordinator = (current: DroneEngine) => {
    const droneId = current.config.droneId;
    hass.socket.onEvent<{ data?: unknown }>({
      context,
      event: COORDINATOR_EVENT_TYPES.plan,
      exec: incoming => {
        if (closing) return;
        const parsed = planEventSchema.safeParse(incoming.data);
        if (!parsed.success) return void logger.debug(`ignored a malformed ${COORDINATOR_EVENT_TYPES.plan} event`);
        if (parsed.data.drone_id !== droneId) return;
        logger.debug(`the coordinator plans the next backup ${parsed.data.next_at ?? "at no time"} (${parsed.data.reason})`);
        entities?.plan(parsed.data);
      },
    });
    hass.socket.onEvent<{ data?: unknown }>({
      context,
      event: COORDINATOR_EVENT_TYPES.runStarted,
      exec: incoming => {
        if (closing) return;
        const parsed = runStartedEventSchema.safeParse(incoming.data);
        if (!parsed.success || parsed.data.drone_id !== droneId || !parsed.data.ours || parsed.data.run_id === null) return;
        // only the run going now (or waiting): a run already over keeps the trigger it ended with
        current.attribute(parsed.data.run_id, "coordinator", parsed.data.coordinator_id);
      },
    });
  };

  /** Watch whether HA takes this drone's connection; say once, clearly, when it does not. */
  const watchLink = (droneId: string) => {
    if (!synapse) return;
    const report = reportLockout(() => droneLockedOutMessage(droneId), {
      lockedOut: message => logger.warn(message),
      recovered: () => logger.info("Home Assistant takes this drone's connection again: its entities and buttons work"),
    });
    linkWatch = watchSynapseLink({
      hass,
      synapse,
      scheduler,
      deadlineMs: replyDeadlineMs,
      onChange: (link, previous) => {
        logger.debug(`synapse link: ${previous} → ${link}`);
        report(link);
        statusSoon();
      },
    });
  };

  // ------------------------------------------------------------------ wiring

  lifecycle.onPostConfig(async () => {
    const ready = await drone.engine.ready();
    engine = ready;
    const droneConfig = ready.config;
    listenForCommands(ready);
    listenToCoordinator(ready);
    watchLink(droneConfig.droneId);
    if (synapse) {
      entities = createEntitySync({
        synapse,
        context,
        engine: ready,
        version,
        scheduler,
        logger,
        track,
        closing: () => closing,
        shownState: () => settle?.shown() ?? ready.live().state,
      });
    } else logger.info("synapse is not loaded: the drone sends Home Assistant events but has no entities");

    const heartbeatMs = droneConfig.statusIntervalSeconds * 1000;
    /** When a progress or result event last reached HA: the coordinator takes either as a sign of life. */
    let signOfLifeAt = Number.NEGATIVE_INFINITY;
    const fireSign = (type: (typeof EVENT_TYPES)["progress" | "result"], payload: unknown) =>
      fire(type, payload).then(sent => {
        if (sent) signOfLifeAt = Date.now();
        return sent;
      });
    ready.onProgress(event => {
      void fireSign(EVENT_TYPES.progress, event);
      entities?.progress(event);
    });
    ready.onResult(event => void fireSign(EVENT_TYPES.result, event));
    // a run's next step is shown once it held a while (step-settle.mts): the short steps at a
    // run's end would each cost an Application State write and a status event
    const steps = createStepSettle({
      state: () => ready.live().state,
      setTimeout: (callback, ms) => scheduler.setTimeout(callback, ms),
      show: () => {
        entities?.changed();
        statusSoon();
      },
    });
    settle = steps;
    ready.onChange(() => steps.changed());
    // the heartbeat (two recorder rows of 2 kB each) is skipped while progress events show the
    // drone alive: the longest silence stays under two intervals (OFFLINE_AFTER_SECONDS of the
    // coordinator is above that), and a change of state or mode still sends a status at once
    scheduler.setInterval(() => {
      if (Date.now() - signOfLifeAt < heartbeatMs) return;
      void sendStatus(true);
    }, heartbeatMs);
  }, 90);

  // after synapse loaded the stored rows (a plain onBootstrap): the engine's state wins
  lifecycle.onBootstrap(async () => {
    await entities?.reconcile();
  }, -10);

  let booted = false;
  lifecycle.onReady(async () => {
    booted = true;
    if (synapse && entities) {
      const device = entities.device;
      republishSynapseEntities({
        synapse,
        hass,
        scheduler,
        closing: () => closing,
        entities: () => device.entities(),
        warn: message => logger.warn(message),
      });
    }
    if (synapse && !synapse.configure.isRegistered()) {
      const ha = await withDeadline(hass.fetch.getConfig(), replyDeadlineMs());
      if (ha.ok && !synapseLoaded(ha.value.components)) {
        logger.warn(synapseMissingMessage("the drone", "it sends its events, but its buttons and settings cannot be reached from Home Assistant"));
      }
    }
    await checkToken();
    // a result fired before the socket was up (a crash report during boot) is kept until now
    if (token.isAdmin() !== false) await events.flush();
    await sendStatus(true);
    // the Restore Archive choices: what the repository holds now (a read; it does not queue)
    if (engine && entities) {
      const current = engine;
      void track(
        current.archives().then(
          found => logger.debug(`${found.length} archives of ${current.config.droneId} listed for Restore Archive`),
          (error: unknown) => logger.info(`listing the archives for Restore Archive failed: ${errorText(error)}`),
        ),
      );
    }
  });

  // a reconnect: results kept while HA was away, then where the drone stands
  hass.socket.onConnect(() => {
    // a new connection may be a new Home Assistant, or a coordinator that missed the map
    sentEntities = undefined;
    if (!booted || closing) return;
    // another connection may carry another answer (an administrator's rights given or taken)
    void track(
      checkToken()
        .then(() => (token.isAdmin() === false ? undefined : events.flush()))
        .then(() => sendStatus(true)),
    );
  });

  lifecycle.onPreShutdown(async () => {
    if (!engine) return;
    // stop borg now rather than at onShutdownStart: HA then sees the result and the idle
    // state before synapse reports the app offline (the engine service's later call is a no-op)
    await engine.shutdown();
    entities?.finish();
    const finalStatus = sendStatus(true);
    closing = true;
    // one shared deadline for everything still on its way (events, patches)
    await withDeadline(Promise.allSettled([finalStatus, ...inflight]), replyDeadlineMs());
    // synapse sends patches from setImmediate: let them leave before it goes offline
    await new Promise(resolve => setImmediate(resolve));
  }, 100);

  return {
    get mode() {
      return synapse ? "entities" : "events";
    },
    entityIds,
    sendStatus: () => sendStatus(true),
    synapseLink,
  };
}
