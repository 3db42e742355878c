/**
 * The coordinator's Home Assistant device (through synapse): sensors that watch the fleet,
 * a pause switch, a run-now button, the per-host concurrency limit, and one problem
 * binary_sensor per drone, created when the drone is discovered. Values are written only
 * when they changed, progress at most every PROGRESS_PUBLISH_MS, and every write passes a
 * rate gate (the integration accepts 300 patches a minute per app).
 */
import { type TServiceParams } from "@digital-alchemy/core";
import { z } from "zod";

import { hostname, userInfo } from "node:os";

import { withDeadline } from "../../../libs/ha/deadline.mjs";
import { applyChange, buildEntity, type EntityDefinition, holdsUnsentField } from "../../../libs/ha/entities.mjs";
import { synapseLoaded, synapseMissingMessage } from "../../../libs/ha/integration.mjs";
import {
  configurationUpdate,
  republishSynapseEntities,
  sameValue,
  type SynapseEntity as Entity,
  updateOutcome,
} from "../../../libs/ha/registration.mjs";
import {
  CONCURRENCY_RANGE,
  COORDINATOR_ENTITIES,
  type CoordinatorEntityKey,
  type CoordinatorEntitySpec,
  coordinatorDeviceId,
  coordinatorObjectId,
  coordinatorUniqueId,
  problemObjectId,
  problemUniqueId,
} from "../ha/entities.mjs";
import {
  createRateGate,
  idList,
  idListAttributes,
  lastRoundAttributes,
  problemAttributes,
  queueAttributes,
  showsProblem,
  summarize,
} from "../ha/summary.mjs";
import { watchCoordinatorLink } from "../ha/link-watch.mjs";
import { type RunRead } from "../core/drone-record.mjs";
import { packageVersion } from "../../../libs/protocol/version.mjs";
import { errorText } from "../../../libs/config/errors.mjs";

/**
 * Progress and ETA: at most one update per this many ms (a run starting or ending is sent at
 * once). Each write is three rows in Home Assistant's recorder (the state, and the
 * integration's `synapse/update` event with its data), and the running drone's own Progress
 * and ETA already move every minute: the fleet's view repeats them every 5 minutes. Bytes and
 * Files Processed are written only when the runs going change.
 */
export const PROGRESS_PUBLISH_MS = 300_000;
/** …and only once the progress moved this many points since the value shown (a run starting or ending is sent at once). */
export const PROGRESS_PUBLISH_STEP = 20;
/** Entity writes allowed per minute (synapse's integration drops more than 300). */
export const WRITES_PER_MINUTE = 240;
/** At most one configuration update this often (the integration allows 5 a minute per connection). */
export const CONFIGURATION_UPDATE_INTERVAL_MS = 15_000;
/** A configuration update that failed is tried this many times in all, CONFIGURATION_UPDATE_INTERVAL_MS apart. */
export const CONFIGURATION_UPDATE_ATTEMPTS = 4;

/** The entities service's API. */
export interface EntitiesService {
  /** Publish what changed now (else it happens on the next change). */
  sync(): void;
  /** The unique ids of the drones' problem sensors, by drone id. */
  problemSensors(): Record<string, string>;
}


type Synapse = TServiceParams["synapse"];

const setValueSchema = z.object({ value: z.number() }).transform(payload => payload.value);

/** The entities service. */
export function EntitiesService({ backup_coordinator, config, context, internal, lifecycle, logger, scheduler, synapse, hass }: TServiceParams): EntitiesService {
  const fleet = backup_coordinator.fleet;
  const dispatch = backup_coordinator.dispatch;
  const gate = createRateGate(WRITES_PER_MINUTE, 60_000);
  const entities = new Map<CoordinatorEntityKey, Entity>();
  const problems = new Map<string, Entity>();
  let deviceId: ReturnType<Synapse["device"]["register"]> | undefined;
  let deviceName = "Backup Coordinator";
  let ready = false;
  let registered = false;
  let closing = false;
  let syncTimer: (() => void) | undefined;
  let syncDue = Number.POSITIVE_INFINITY;
  let updateTimer: (() => void) | undefined;
  let updateDue = false;
  let updateAttempts = 0;
  let updatedAt = Number.NEGATIVE_INFINITY;
  let progressAt = Number.NEGATIVE_INFINITY;
  /** The runs going when Progress and ETA were last written (undefined: not yet). */
  let publishedRunning: string | undefined;
  /** The runs going when Bytes and Files Processed were last written ("" once the last ended), undefined: not yet. */
  let publishedReading: string | undefined;
  /**
   * What each run that ended since Bytes and Files Processed last showed an end read, by run
   * id (a run retried soon after is another run): their sum is written once the last run ended.
   */
  const readByRuns = new Map<string, RunRead>();

  // ---------------------------------------------------------------- writing

  /** Write a field when it differs from what synapse holds (or always, with `force`); false when the gate is shut. */
  const write = (entity: Entity, field: string, value: unknown, force = false): boolean => {
    if (!force && sameValue(entity.storage.get(field), value)) return true;
    if (!gate.take()) return false;
    entity.storage.set(field, value).catch((error: unknown) => logger.warn(`updating an entity's ${field} failed: ${errorText(error)}`));
    return true;
  };

  /** Sync after `delayMs`, or sooner if a sync is already due sooner. */
  const syncSoon = (delayMs = 0) => {
    if (closing || !ready) return;
    const due = performance.now() + delayMs;
    if (syncTimer && due >= syncDue) return;
    syncTimer?.();
    syncDue = due;
    const remove = scheduler.setTimeout(() => {
      syncTimer = undefined;
      syncDue = Number.POSITIVE_INFINITY;
      sync();
    }, delayMs);
    syncTimer = () => remove();
  };

  const sync = () => {
    if (!ready || closing) return;
    syncTimer?.();
    syncTimer = undefined;
    syncDue = Number.POSITIVE_INFINITY;
    const model = fleet.state;
    const now = fleet.now();
    const summary = summarize(model, now);
    let complete = true;
    /** Write one field; false (and another sync comes) when the gate is shut. */
    const put = (key: CoordinatorEntityKey, field: string, value: unknown): boolean => {
      const entity = entities.get(key);
      if (!entity || write(entity, field, value)) return true;
      complete = false;
      return false;
    };

    put("running_now", "state", idList(summary.running));
    put("running_now", "attributes", { drones: summary.running });
    put("queue", "state", idList(summary.queue));
    put("queue", "attributes", queueAttributes(model, summary.queue));
    put("failing_drones", "state", summary.failing.length);
    put("failing_drones", "attributes", idListAttributes(summary.failing));
    if (dispatch.lastRoundCompleted) put("last_round_completed", "state", dispatch.lastRoundCompleted.toISOString());
    put("last_round_completed", "attributes", lastRoundAttributes(model.lastRound()));
    put("pause", "is_on", dispatch.paused);
    put("concurrency_limit", "native_value", dispatch.perHostLimit);
    // repository hosts named two ways that the limit counts as one machine
    put("concurrency_limit", "attributes", {
      shared_hosts: fleet.sharedHosts().map(shared => ({ key: shared.key, hosts: shared.names, warning: shared.warning })),
    });

    // progress moves with every drone event: publish it when a run starts or ends, else at most
    // every PROGRESS_PUBLISH_MS once it moved PROGRESS_PUBLISH_STEP points
    const running = summary.running.join(",");
    const ended = summary.running.length === 0;
    // bytes and files only when the runs going change (nobody watches them climb, and each
    // write is three recorder rows): what the create steps of the runs going read then, and
    // once the last ended what the runs that ended read in all (their archives' figures); a
    // run that ended unseen (its start and end in one sync) is added then too
    if (running !== publishedReading || (ended && readByRuns.size > 0)) {
      const read = [...readByRuns.values()];
      const totals = ended ? { bytes: read.reduce((sum, run) => sum + run.bytes, 0), files: read.reduce((sum, run) => sum + run.files, 0) } : summary;
      const bytesWritten = put("bytes_processed", "state", totals.bytes);
      const filesWritten = put("files_processed", "state", totals.files);
      // a write the gate refused is tried again by the next sync
      if (bytesWritten && filesWritten) {
        publishedReading = running;
        if (ended) readByRuns.clear();
      }
    }
    const wait = progressAt + PROGRESS_PUBLISH_MS - now.getTime();
    const shown = entities.get("progress")?.storage.get("state");
    const moved = typeof shown !== "number" || summary.progress === null || Math.abs(summary.progress - shown) >= PROGRESS_PUBLISH_STEP;
    if (running !== publishedRunning || (wait <= 0 && moved)) {
      const progressWritten = put("progress", "state", summary.progress);
      const etaWritten = put("eta", "state", summary.eta);
      // what was written is remembered only once it was: a refused write is tried again by the next sync
      if (progressWritten && etaWritten) {
        publishedRunning = running;
        progressAt = now.getTime();
      }
    } else if (moved && !sameValue(shown, summary.progress)) {
      syncSoon(Math.max(0, wait));
    }

    for (const [droneId, entity] of problems) {
      const problem = model.drones.get(droneId)?.problem ?? null;
      if (!write(entity, "is_on", problem !== null)) complete = false;
      if (showsProblem(entity.storage.get("attributes"), droneId, problem)) continue;
      if (!write(entity, "attributes", problemAttributes(droneId, problem))) complete = false;
    }
    if (!complete) syncSoon(Math.max(gate.waitMs(), 100));
  };

  // ---------------------------------------------------------------- entities

  const setPaused = (value: boolean) => {
    dispatch.setPaused(value);
    const entity = entities.get("pause");
    if (entity) write(entity, "is_on", value, true);
  };

  const setLimit = async (payload: unknown) => {
    const entity = entities.get("concurrency_limit");
    const old = dispatch.perHostLimit;
    const range = `a whole number from ${CONCURRENCY_RANGE.min} to ${CONCURRENCY_RANGE.max}`;
    await applyChange({
      payload,
      schema: setValueSchema,
      old,
      apply: value => {
        if (!Number.isInteger(value) || value < CONCURRENCY_RANGE.min || value > CONCURRENCY_RANGE.max) throw new Error(range);
        dispatch.setPerHostLimit(value);
        if (entity) write(entity, "native_value", value, true);
      },
      refused: value => logger.warn(`concurrency limit ${value === undefined ? "(no number)" : String(value)} rejected: ${range}; keeping ${old}`),
      show: value => {
        if (entity) write(entity, "native_value", value, true);
      },
    });
  };

  /** One of the coordinator's own entities: its spec, its first value, what HA's requests of it mean. */
  const definitionOf = (key: CoordinatorEntityKey, spec: CoordinatorEntitySpec): EntityDefinition => {
    const { coordinatorId } = fleet.config;
    const base = {
      device_id: deviceId,
      name: `${deviceName} ${spec.name}`,
      unique_id: coordinatorUniqueId(coordinatorId, key),
      suggested_object_id: coordinatorObjectId(coordinatorId, key),
    };
    switch (spec.domain) {
      case "sensor": {
        const state = key === "running_now" || key === "queue" ? "none" : key === "last_round_completed" || key === "eta" ? null : 0;
        return { ...base, spec, initial: { state }, on: {} };
      }
      case "switch":
        return {
          ...base,
          spec,
          initial: { is_on: false },
          on: { turnOn: () => setPaused(true), turnOff: () => setPaused(false), toggle: () => setPaused(!dispatch.paused) },
        };
      case "button":
        return { ...base, spec, on: { press: () => dispatch.runNow() } };
      case "number":
        return {
          ...base,
          spec,
          initial: { native_value: fleet.config.limits.perHost, attributes: { shared_hosts: [] } },
          on: { change: payload => void setLimit(payload) },
        };
    }
  };

  const createProblemSensor = (droneId: string) => {
    if (problems.has(droneId) || !deviceId || closing) return;
    const { coordinatorId } = fleet.config;
    const entity = buildEntity(synapse, context, {
      spec: { domain: "binary_sensor", icon: "mdi:backup-restore", device_class: "problem" },
      name: `${droneId} Backup Problem`,
      unique_id: problemUniqueId(coordinatorId, droneId),
      suggested_object_id: problemObjectId(droneId),
      device_id: deviceId,
      initial: { is_on: false, attributes: problemAttributes(droneId, null) },
      on: {},
    });
    problems.set(droneId, entity);
    if (registered) updateConfigurationSoon();
    // synapse loads a new entity's stored row asynchronously: publish after that
    syncSoon(50);
  };

  /**
   * Tell HA about entities created after the registration. A second registration on this
   * connection is refused (`already_connected`), and the new entity changes synapse's hash,
   * so the integration would ask for one on every heartbeat: a configuration update carries
   * the new metadata (and hash) instead. Drones found in a burst share one update.
   */
  const updateConfigurationSoon = (delayMs = 250) => {
    updateDue = true;
    if (updateTimer || closing) return;
    const wait = Math.max(delayMs, updatedAt + CONFIGURATION_UPDATE_INTERVAL_MS - performance.now());
    const remove = scheduler.setTimeout(() => {
      updateTimer = undefined;
      void updateConfiguration();
    }, wait);
    updateTimer = () => remove();
  };

  const updateConfiguration = async () => {
    if (closing || !updateDue) return;
    // not registered or not connected: the next registration carries everything
    if (!synapse.configure.isRegistered() || hass.socket.connectionState !== "connected") {
      updateDue = false;
      return;
    }
    updateDue = false;
    updatedAt = performance.now();
    const message = configurationUpdate(config.synapse.METADATA_UNIQUE_ID, {
      app: internal.boot.application.name,
      title: config.synapse.METADATA_TITLE,
      cleanup: config.synapse.ENTITY_CLEANUP_METHOD,
      hostname: hostname(),
      username: userInfo().username,
      hash: synapse.storage.hash(),
      device: synapse.device.getInfo(),
      secondary_devices: synapse.device.list(),
      service: [...synapse.socket.SERVICE_REGISTRY.values()],
      entities: synapse.storage.dump(),
    });
    const outcome = updateOutcome(await withDeadline(hass.socket.sendMessage(message), fleet.config.callTimeoutMs));
    if (outcome.kind === "applied") {
      updateAttempts = 0;
      logger.debug(`Home Assistant has the new entities (${problems.size} problem sensors)`);
      return;
    }
    if (outcome.kind === "unregistered") {
      updateAttempts = 0;
      logger.warn(`Home Assistant did not take the new entities (${outcome.reason}); they come with the next registration`);
      return;
    }
    updateAttempts += 1;
    if (updateAttempts >= CONFIGURATION_UPDATE_ATTEMPTS) {
      updateAttempts = 0;
      logger.warn(
        `Home Assistant did not take the new entities after ${CONFIGURATION_UPDATE_ATTEMPTS} tries (${outcome.reason}); ` +
          "a drone's problem sensor may be missing there until the coordinator restarts",
      );
      return;
    }
    logger.warn(`updating the coordinator's entities in Home Assistant failed (${outcome.reason}); trying again`);
    updateConfigurationSoon(CONFIGURATION_UPDATE_INTERVAL_MS);
  };

  // after the fleet service validated the configuration: ids derive from COORDINATOR_ID
  lifecycle.onPostConfig(() => {
    const { coordinatorId } = fleet.config;
    deviceName = coordinatorId === "backup_coordinator" ? "Backup Coordinator" : `Backup Coordinator ${coordinatorId}`;
    deviceId = synapse.device.register(coordinatorDeviceId(coordinatorId), {
      name: deviceName,
      manufacturer: "backup-coordinator",
      model: "coordinator",
      sw_version: packageVersion(),
    });
    for (const [key, spec] of Object.entries(COORDINATOR_ENTITIES) as [CoordinatorEntityKey, CoordinatorEntitySpec][]) {
      entities.set(key, buildEntity(synapse, context, definitionOf(key, spec)));
    }
    watchCoordinatorLink({ hass, synapse, scheduler, logger, coordinatorId, callTimeoutMs: fleet.config.callTimeoutMs, closing: () => closing });
  }, 90);

  // after synapse loaded the stored rows (a plain onBootstrap): the stored pause and limit win over the defaults
  lifecycle.onBootstrap(() => {
    const pause = entities.get("pause")?.storage.get("is_on");
    if (pause === true) dispatch.setPaused(true);
    const limit = entities.get("concurrency_limit")?.storage.get("native_value");
    if (typeof limit === "number" && Number.isInteger(limit) && limit >= CONCURRENCY_RANGE.min && limit <= CONCURRENCY_RANGE.max) {
      dispatch.setPerHostLimit(limit);
    }
    // a row stored by an older version still holds the category, and synapse sends what it stores
    const stale = [...entities.entries()].filter(([, entity]) => holdsUnsentField(entity)).map(([key]) => key);
    if (stale.length > 0) {
      logger.warn(
        `stored entities (${stale.join(", ")}) hold entity_category, which Home Assistant's log reports as an error at every ` +
          "registration; start once with synapse REBUILD_ON_ENTITY_CHANGE=true to drop it (then set Pause and Concurrency Limit again)",
      );
    }
  }, -10);

  fleet.onDrone(droneId => createProblemSensor(droneId));
  // taken as the results come (before the sync they cause): the sync sums them once the last run ended
  fleet.onEffects(effects => {
    for (const effect of effects) if (effect.type === "run_finished") readByRuns.set(effect.result.run_id, effect.read);
  });
  fleet.onChange(() => syncSoon());
  dispatch.onChange(() => syncSoon());

  lifecycle.onReady(() => {
    ready = true;
    if (!synapse.configure.isRegistered()) {
      void withDeadline(hass.fetch.getConfig(), backup_coordinator.fleet.config.callTimeoutMs).then(ha => {
        if (ha.ok && !synapseLoaded(ha.value.components)) {
          logger.warn(synapseMissingMessage("the coordinator", "nor do the drones, so it can start no run"));
        }
      });
    }
    sync();
    republishSynapseEntities({
      synapse,
      hass,
      scheduler,
      closing: () => closing,
      entities: () => [...entities.values(), ...problems.values()],
      warn: message => logger.warn(message),
    });
  });
  // entities created from here on are not in synapse's first registration
  lifecycle.onReady(() => {
    registered = true;
  }, -100);

  lifecycle.onPreShutdown(() => {
    closing = true;
    syncTimer?.();
    updateTimer?.();
  }, 60);

  return {
    sync,
    problemSensors: () => Object.fromEntries([...problems.keys()].map(droneId => [droneId, problemUniqueId(fleet.config.coordinatorId, droneId)])),
  };
}
