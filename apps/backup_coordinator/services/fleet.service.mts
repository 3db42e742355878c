/**
 * The coordinator's view of the fleet, fed by Home Assistant: the drones' events (validated with the protocol's schemas; a malformed
 * one is logged and dropped), the synapse integration's online sensor of each drone's app, and, after a restart, the drone entities'
 * states. HA is the source of truth: a drone HA shows busy is busy.
 */
import { type TServiceParams } from "@digital-alchemy/core";
import { type z } from "zod";

import {
  type ApplicationState,
  commandAckEventSchema,
  COMMAND_EVENT_TYPES,
  type DroneEntityKey,
  EVENT_TYPES,
  progressEventSchema,
  readResultEvent,
  statusEventSchema,
  type RepositoryRole,
} from "../../../libs/protocol/index.mjs";
import { fleetSettings, type CoordinatorConfig, parseCoordinatorConfig } from "../config.mjs";
import { createFleet, type Fleet, type FleetEffect, type SeenRun } from "../core/fleet.mjs";
import { aliasWarning, groupHosts, type HostAlias, type HostGrouping } from "../core/hosts.mjs";
import { createHostDirectory } from "./host-directory.mjs";
import { listeners } from "./listeners.mjs";
import { withDeadline } from "../../../libs/ha/deadline.mjs";
import { busyState, type DiscoveredDrone, discoverDrones, parseRegistry, restoredFacts } from "../ha/discovery.mjs";
import { errorText, issueLines, parseConfigOrExit } from "../../../libs/config/errors.mjs";

/** Why the fleet changed. */
export type FleetChange = "status" | "progress" | "result" | "online" | "restore" | "home_assistant_state" | "hosts";

/** Repository host names found to be one machine, with the line that says so. */
export interface SharedHost extends HostAlias {
  warning: string;
}

/** The fleet service's API. */
export interface FleetService {
  /** The validated configuration; throws before onPostConfig. */
  readonly config: CoordinatorConfig;
  /** The fleet's state and decisions (the pure model of core/fleet.mts); throws before onPostConfig. */
  readonly state: Fleet;
  /** The clock every fleet input is stamped with. */
  now(): Date;
  /** Effects of the drones' events (run started/finished, problems, recoveries). */
  onEffects(listener: (effects: FleetEffect[]) => void): () => void;
  /** Anything changed (for the dispatch service and the entities). */
  onChange(listener: (change: FleetChange) => void): () => void;
  /** A drone seen for the first time (from an event or from HA's registry). */
  onDrone(listener: (droneId: string) => void): () => void;
  /** Every drone known, sorted. */
  drones(): string[];
  /** The entity id of the button that starts a kind of run on a drone, if known. */
  button(droneId: string, kind: RepositoryRole): string | undefined;
  /** The Application State HA shows for a drone, when it is a busy one. */
  busyInHomeAssistant(droneId: string): ApplicationState | undefined;
  /**
   * After a restart, starts wait until every drone restored from HA has sent a status
   * (its repository host and state are then known), or OFFLINE_AFTER_SECONDS passed.
   */
  holding(now: Date): boolean;
  /** The online sensor watched for a drone, if any. */
  onlineSensor(droneId: string): string | undefined;
  /**
   * The key the per-host limit counts a repository host under (names of one machine share
   * it); null while the name's first lookup is under way (its drones wait, a few seconds at most).
   */
  hostKey: (host: string) => string | null;
  /** Repository host names that resolve to one machine. */
  sharedHosts(): readonly SharedHost[];
  /** The runs it saw end, newest first, of one drone or all: the last 20 per drone, in memory only. */
  history(droneId?: string): SeenRun[];
}

/** The problems of a payload, by path (never the values: they may be long or private). */
const issues = (error: z.ZodError) => issueLines(error).join("; ");

/** The event object hass hands to `onEvent`. */
interface HassEvent {
  event_type?: string;
  data?: unknown;
}

/** The state object hass emits on the app bus for an entity id. */
interface EntityStateLike {
  state?: unknown;
}

/** The drone entities the coordinator needs: its online sensor, its state, and the buttons it presses. */
const KEPT_ENTITY_KEYS = ["online", "application_state", "scheduled_backup", "offsite_backup"] as const;
type KeptEntityKey = (typeof KEPT_ENTITY_KEYS)[number];
type KeptEntities = Partial<Record<KeptEntityKey, string>>;

const keptEntities = (entities: Readonly<Record<string, string>>): KeptEntities => {
  const kept: KeptEntities = {};
  for (const key of KEPT_ENTITY_KEYS) if (entities[key] !== undefined) kept[key] = entities[key];
  return kept;
};

/** The fleet service. */
export function FleetService({ config, context, event, hass, lifecycle, logger }: TServiceParams): FleetService {
  let settings: CoordinatorConfig | undefined;
  let fleet: Fleet | undefined;
  const clock = () => new Date();

  const effectListeners = listeners<FleetEffect[]>(error => logger.error(`effect listener failed: ${errorText(error)}`));
  const changeListeners = listeners<FleetChange>(error => logger.error(`change listener failed: ${errorText(error)}`));
  const droneListeners = listeners<string>(error => logger.error(`drone listener failed: ${errorText(error)}`));

  /**
   * Drone entity ids: from the drone's status (freshest) over HA's registry, until the registry
   * is read again (an update, a reconnect): it then wins for the drones it lists. Of the
   * status's map only what the coordinator watches or presses is kept (a fleet holds it per drone).
   */
  const statusEntities = new Map<string, KeptEntities>();
  const registryDrones = new Map<string, DiscoveredDrone>();
  /** Drones that sent a status since this coordinator started. */
  const reported = new Set<string>();
  /** Drones restored from HA states that have not reported yet. */
  const awaiting = new Set<string>();
  let restoredAt: Date | undefined;
  const known = new Set<string>();
  /** Entity ids watched on the app bus, with their handlers. */
  const watched = new Map<string, (state: EntityStateLike | null) => void>();
  const onlineByDrone = new Map<string, string>();
  let closing = false;

  // ---------------------------------------------------------------- repository hosts

  /** Pairs of host names already warned about (`a b`, sorted). */
  const warnedPairs = new Set<string>();
  let resolutionsVersion = 0;

  /*
   * Derived from the drones' hosts and kept until a host changes (Fleet.hostsVersion) or DNS
   * answers differently: every status event and every look asks for them (a look once per
   * drone), and rebuilt each time they made most of the garbage of a round of 1,000
   * drones' heartbeats (docs/benchmarks.md, the real coordinator's memory).
   */
  let byHostCache: { fleet: Fleet; version: number; value: ReadonlyMap<string, readonly string[]> } | undefined;
  let grouping: { byHost: ReadonlyMap<string, readonly string[]>; resolutions: number; value: HostGrouping; shared: SharedHost[] } | undefined;

  /** The primary repository hosts the drones told (offsite runs have their own, home-wide, limit). */
  const dronesByHost = (): ReadonlyMap<string, readonly string[]> => {
    if (!fleet) return new Map();
    const version = fleet.hostsVersion();
    if (byHostCache?.fleet === fleet && byHostCache.version === version) return byHostCache.value;
    const byHost = new Map<string, string[]>();
    for (const drone of fleet.drones.values()) {
      if (!drone.hostKnown) continue;
      const ids = byHost.get(drone.repositoryHost);
      if (ids) ids.push(drone.droneId);
      else byHost.set(drone.repositoryHost, [drone.droneId]);
    }
    byHostCache = { fleet, version, value: byHost };
    return byHost;
  };

  const currentGrouping = () => {
    const byHost = dronesByHost();
    if (grouping?.byHost !== byHost || grouping.resolutions !== resolutionsVersion) {
      const value = groupHosts([...byHost.keys()].sort(), directory.resolutions());
      grouping = { byHost, resolutions: resolutionsVersion, value, shared: value.aliases.map(alias => ({ ...alias, warning: aliasWarning(alias, byHost) })) };
    }
    return grouping;
  };

  const sharedHosts = (): readonly SharedHost[] => currentGrouping().shared;

  /** Say once per pair of names that they are one machine. */
  const warnSharedHosts = () => {
    for (const shared of sharedHosts()) {
      const pairs = shared.names.flatMap((a, index) => shared.names.slice(index + 1).map(b => `${a} ${b}`));
      const fresh = pairs.filter(pair => !warnedPairs.has(pair));
      if (fresh.length === 0) continue;
      for (const pair of fresh) warnedPairs.add(pair);
      logger.warn(shared.warning);
    }
  };

  const directory = createHostDirectory({
    onChange: () => {
      resolutionsVersion += 1;
      if (closing || !fleet) return;
      warnSharedHosts();
      changeListeners.emit("hosts");
    },
    onFailure: (name, reason) => logger.debug(`repository host ${name} did not resolve (${reason}); it counts as itself`),
  });

  const entityOf = (droneId: string, key: KeptEntityKey & DroneEntityKey): string | undefined =>
    statusEntities.get(droneId)?.[key] ?? registryDrones.get(droneId)?.entities[key];

  const stateText = (entityId: string): string | undefined => {
    const current = hass.entity.getCurrentState(entityId as never) as EntityStateLike | undefined;
    return typeof current?.state === "string" ? current.state : undefined;
  };

  const discovered = (droneId: string) => {
    if (known.has(droneId)) return;
    known.add(droneId);
    logger.info(`drone ${droneId} discovered`);
    droneListeners.emit(droneId);
  };

  const apply = (effects: FleetEffect[], change: FleetChange) => {
    if (effects.length > 0) effectListeners.emit(effects);
    changeListeners.emit(change);
  };

  // ---------------------------------------------------------------- HA entity watches

  const watch = (entityId: string, handler: (state: EntityStateLike | null) => void) => {
    if (watched.has(entityId)) return;
    watched.set(entityId, handler);
    // hass emits every state change of an entity on the app bus under its entity id
    event.on(entityId, handler);
  };

  const watchOnline = (droneId: string, entityId: string) => {
    if (onlineByDrone.get(droneId) === entityId) return;
    const previous = onlineByDrone.get(droneId);
    if (previous) {
      const handler = watched.get(previous);
      if (handler) event.removeListener(previous, handler);
      watched.delete(previous);
    }
    onlineByDrone.set(droneId, entityId);
    const report = (text: unknown) => {
      if (!fleet || closing || (text !== "on" && text !== "off")) return;
      apply(fleet.onOnline(droneId, text === "on", clock()), "online");
    };
    watch(entityId, state => report(state?.state));
    logger.debug(`drone ${droneId}: watching ${entityId} (synapse online sensor)`);
    report(stateText(entityId));
  };

  const watchApplicationState = (droneId: string) => {
    const entityId = entityOf(droneId, "application_state");
    if (!entityId) return;
    // a press skipped because HA showed the drone busy is tried again when that changes
    watch(entityId, () => {
      if (!closing) changeListeners.emit("home_assistant_state");
    });
  };

  const watchDrone = (droneId: string) => {
    const online = statusEntities.get(droneId)?.online ?? registryDrones.get(droneId)?.onlineSensor;
    if (online) watchOnline(droneId, online);
    watchApplicationState(droneId);
  };

  // ---------------------------------------------------------------- drone events

  /** Each drone event: validate, then feed the fleet; returns the payload's problems when it is malformed. */
  const handlers: Record<string, (model: Fleet, data: unknown) => string | undefined> = {
    [EVENT_TYPES.status]: (model, data) => {
      const parsed = statusEventSchema.safeParse(data);
      if (!parsed.success) return issues(parsed.error);
      const status = parsed.data;
      // a status whose map is unchanged leaves it out: the last one stands
      if (!status.entities_unchanged) statusEntities.set(status.drone_id, keptEntities(status.entities));
      reported.add(status.drone_id);
      awaiting.delete(status.drone_id);
      discovered(status.drone_id);
      const effects = model.onStatus(status, clock());
      watchDrone(status.drone_id);
      // looked up in the background; until an answer comes the name counts as itself
      directory.refresh(dronesByHost().keys());
      warnSharedHosts();
      apply(effects, "status");
      return undefined;
    },
    [EVENT_TYPES.progress]: (model, data) => {
      const parsed = progressEventSchema.safeParse(data);
      if (!parsed.success) return issues(parsed.error);
      discovered(parsed.data.drone_id);
      apply(model.onProgress(parsed.data, clock()), "progress");
      return undefined;
    },
    [EVENT_TYPES.result]: (model, data) => {
      // an older drone's result may exceed the limits: read it whole, then cut it
      const parsed = readResultEvent(data);
      if (!parsed.success) return issues(parsed.error);
      discovered(parsed.data.drone_id);
      apply(model.onResult(parsed.data, clock()), "result");
      return undefined;
    },
  };

  for (const [type, handle] of Object.entries(handlers)) {
    hass.socket.onEvent<HassEvent>({
      context,
      event: type,
      exec: incoming => {
        if (!fleet || closing) return;
        try {
          const problem = handle(fleet, incoming?.data);
          if (problem !== undefined) logger.warn(`ignored a malformed ${type} event: ${problem}`);
        } catch (error) {
          logger.error(`handling a ${type} event failed: ${errorText(error)}`);
        }
      },
    });
  }

  // a drone's answer to one of our commands: for the journal (the run itself shows in its status and events)
  hass.socket.onEvent<HassEvent>({
    context,
    event: COMMAND_EVENT_TYPES.ack,
    exec: incoming => {
      if (!settings || closing) return;
      const parsed = commandAckEventSchema.safeParse(incoming?.data);
      if (!parsed.success) return void logger.warn(`ignored a malformed ${COMMAND_EVENT_TYPES.ack} event: ${issues(parsed.error)}`);
      const ack = parsed.data;
      if (ack.sender !== settings.coordinatorId) return;
      const what = `${ack.drone_id}: command ${ack.action} ${ack.request_id}${ack.duplicate ? " (a repeat)" : ""}`;
      if (ack.accepted) logger.info(`${what} accepted${ack.run_id ? `, run ${ack.run_id}` : ""}${ack.reason ? ` (${ack.reason})` : ""}`);
      else logger.warn(`${what} refused: ${ack.reason ?? "no reason given"}`);
    },
  });

  // ---------------------------------------------------------------- discovery and restore

  const readRegistry = async (): Promise<DiscoveredDrone[]> => {
    const timeout = settings?.callTimeoutMs ?? 10_000;
    const listed = await withDeadline(hass.entity.registry.list(), timeout);
    const rows: unknown[] = listed.ok && Array.isArray(listed.value) ? listed.value : hass.entity.registry.current;
    if (!listed.ok) logger.warn(`reading Home Assistant's entity registry failed (${listed.reason}); using the copy hass holds`);
    return discoverDrones(parseRegistry(rows));
  };

  /** The drones in the registry copy hass holds (it lists the registry again before every update it announces). */
  const heldRegistry = (): DiscoveredDrone[] => discoverDrones(parseRegistry(hass.entity.registry.current));

  /**
   * Take the drones a registry read lists. `authoritative`: a read made after a status map may
   * have come, which the registry then overrides for the drones it lists (an entity renamed
   * while the coordinator was away, whose status with the new map it missed).
   */
  const learnRegistry = (drones: readonly DiscoveredDrone[], authoritative = false) => {
    for (const drone of drones) {
      registryDrones.set(drone.droneId, drone);
      if (authoritative) statusEntities.delete(drone.droneId);
    }
  };

  lifecycle.onPostConfig(() => {
    settings = parseConfigOrExit(() => parseCoordinatorConfig({ ...config.backup_coordinator }), logger);
    fleet = createFleet(fleetSettings(settings));
    logger.info(
      `coordinator ${settings.coordinatorId}: ${settings.limits.perHost} per host, ${settings.limits.global} at once, ` +
        `${settings.limits.offsite} offsite; window ${settings.windowText || "any time"}`,
    );
  }, 100);

  // before the dispatch service's first look and before synapse registers (both plain onReady)
  lifecycle.onReady(async () => {
    if (!fleet) return;
    const now = clock();
    try {
      const drones = await readRegistry();
      learnRegistry(drones);
      for (const drone of drones) {
        // a status that already came is fresher than HA's entity states
        if (!reported.has(drone.droneId)) {
          const facts = restoredFacts(drone, stateText);
          fleet.restore(facts, now);
          awaiting.add(drone.droneId);
          logger.info(`drone ${drone.droneId} restored from Home Assistant: ${facts.state ?? "state unknown"}, mode ${facts.mode ?? "unknown"}`);
        }
        discovered(drone.droneId);
        watchDrone(drone.droneId);
      }
    } catch (error) {
      logger.error(`rebuilding the fleet from Home Assistant failed: ${errorText(error)}; waiting for the drones' events`);
    } finally {
      // from here on, the hold ends when the restored drones reported or OFFLINE_AFTER_SECONDS passed
      restoredAt = now;
    }
    changeListeners.emit("restore");
  }, 100);

  // a drone added (or an entity renamed) while the coordinator runs: hass has just read the whole
  // registry, and a second read of our own (thousands of rows with a large fleet) only made garbage
  hass.events.onEntityRegistryUpdate(() => {
    if (!fleet || closing) return;
    learnRegistry(heldRegistry(), true);
    for (const droneId of registryDrones.keys()) watchDrone(droneId);
  });

  // back after a disconnect: a rename meanwhile sent no registry update we saw, and the status
  // that carried the new map may be lost; hass lists the registry again too, but says nothing
  // when its copy is in, so this reads it (once per reconnect)
  hass.socket.onConnect(async () => {
    // the first connection: onReady reads the registry
    if (!fleet || closing || !restoredAt) return;
    const timeout = settings?.callTimeoutMs ?? 10_000;
    const listed = await withDeadline(hass.entity.registry.list(), timeout);
    if (!listed.ok || !Array.isArray(listed.value) || closing) {
      if (!listed.ok) logger.warn(`reading Home Assistant's entity registry after reconnecting failed (${listed.reason}); the drones' entity ids stay as they were`);
      return;
    }
    learnRegistry(discoverDrones(parseRegistry(listed.value)), true);
    for (const droneId of registryDrones.keys()) watchDrone(droneId);
  });

  lifecycle.onPreShutdown(() => {
    closing = true;
    for (const [entityId, handler] of watched) event.removeListener(entityId, handler);
    watched.clear();
  });

  return {
    get config() {
      if (!settings) throw new Error("the coordinator's configuration is not loaded before onPostConfig");
      return settings;
    },
    get state() {
      if (!fleet) throw new Error("the fleet does not exist before onPostConfig");
      return fleet;
    },
    now: clock,
    onEffects: listener => effectListeners.add(listener),
    onChange: listener => changeListeners.add(listener),
    onDrone: listener => droneListeners.add(listener),
    drones: () => [...known].sort(),
    button: (droneId, kind) => entityOf(droneId, kind === "primary" ? "scheduled_backup" : "offsite_backup"),
    busyInHomeAssistant: droneId => {
      const entityId = entityOf(droneId, "application_state");
      return entityId === undefined ? undefined : busyState(stateText(entityId));
    },
    holding: now => {
      if (!restoredAt) return true;
      if (awaiting.size === 0 || !settings) return false;
      return now.getTime() - restoredAt.getTime() < settings.offlineAfterSeconds * 1000;
    },
    onlineSensor: droneId => onlineByDrone.get(droneId),
    hostKey: host => (directory.pending(host) ? null : currentGrouping().value.keyOf(host)),
    sharedHosts,
    history: droneId => fleet?.history(droneId) ?? [],
  };
}
