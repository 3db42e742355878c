/**
 * The drone's entities kept in step with the engine: the device built with each entity's
 * first value, the facts and settings republished on every change, progress throttled, a
 * press or a change from Home Assistant handed to the engine. The Home Assistant service
 * creates it when synapse is loaded; events and status stay with the service.
 */
import { type TContext, type TServiceParams } from "@digital-alchemy/core";
import { z } from "zod";

import { type ApplicationState, type DroneEntityKey, type PlanEvent, type ProgressEvent } from "../../../libs/protocol/index.mjs";
import { errorText } from "../../../libs/config/errors.mjs";
import { applyChange } from "../../../libs/ha/entities.mjs";
import { type DroneEngine } from "../core/engine.mjs";
import { cancelWherever } from "../core/cancel-request.mjs";
import { createDroneDevice, type DroneDevice, type EntityField } from "./device.mjs";
import { archiveOptions, ENTITY_SPECS, type NumberSpec, type SelectSpec, settingValue, type TextSpec } from "./entities.mjs";
import { FACT_SENSORS, type FactSensorKey, nextBackupState, progressMoved, progressStates, RECENT_RUNS, recentRunsAttributes, type ShownProgress } from "./values.mjs";

/**
 * At most one Progress/ETA entity update per this many ms (a step's last value waits for it).
 * Each write is three rows in Home Assistant's recorder (the state, and the integration's
 * `synapse/update` event with its data): see docs/benchmarks.md, "What Home Assistant stores".
 */
export const PROGRESS_ENTITY_INTERVAL_MS = 60_000;


type SettingSpec = NumberSpec | SelectSpec | TextSpec;

const FIELD_OF: Record<SettingSpec["domain"], EntityField> = {
  number: "native_value",
  select: "current_option",
  text: "native_value",
};

/** What HA sends with a change, per domain (validated before anything else looks at it). */
const PAYLOAD_SCHEMAS: Record<SettingSpec["domain"], z.ZodType<number | string>> = {
  number: z.object({ value: z.number().finite() }).transform(payload => payload.value),
  select: z.object({ option: z.string() }).transform(payload => payload.option),
  text: z.object({ value: z.string() }).transform(payload => payload.value),
};

const isFactSensor = (key: DroneEntityKey): key is FactSensorKey => key in FACT_SENSORS;
const isSettingSpec = (spec: (typeof ENTITY_SPECS)[DroneEntityKey]): spec is SettingSpec => "setting" in spec;

/** What the entities need from the service that owns them. */
export interface EntitySyncOptions {
  synapse: TServiceParams["synapse"];
  context: TContext;
  engine: DroneEngine;
  version: string;
  scheduler: Pick<TServiceParams["scheduler"], "setTimeout">;
  logger: Pick<TServiceParams["logger"], "debug" | "info" | "warn" | "error">;
  /** Keep a write on its way until shutdown waits for it. */
  track: <T>(promise: Promise<T>) => Promise<T>;
  /** True once the drone is going offline: nothing more is written. */
  closing: () => boolean;
  /** What Application State shows (a run's next step once it held: step-settle.mts); the engine's state without it. */
  shownState?: () => ApplicationState;
}

/** The drone's entities, in step with its engine. */
export interface EntitySync {
  readonly device: DroneDevice;
  /** After synapse loaded the stored rows: put back their metadata, then the engine's values win. */
  reconcile(): Promise<void>;
  /** The engine changed: a new run resets progress, and every fact and setting is written when it differs. */
  changed(): void;
  /** The coordinator's plan for this drone (already checked to be for it): the Next Backup sensor in coordinated mode. */
  plan(event: PlanEvent): void;
  /** A progress event: the progress and ETA entities, throttled. */
  progress(event: ProgressEvent): void;
  /** At shutdown: the last progress, and the facts as they stand when the engine has stopped. */
  finish(): void;
}

/** Build the drone's device and keep its entities in step with the engine. */
export function createEntitySync(options: EntitySyncOptions): EntitySync {
  const { engine, logger, scheduler, track, closing } = options;

  const choices = () => archiveOptions(engine.persisted().recentArchives, engine.settings().restoreArchive);

  const publish = (key: DroneEntityKey, field: EntityField, value: unknown, force = false) => {
    if (closing()) return Promise.resolve();
    return track(device.publish(key, field, value, force));
  };

  // the newest runs from the run history, as Last Result's attributes (written only when they changed)
  const publishRecentRuns = () => {
    let records;
    try {
      records = engine.history({ limit: RECENT_RUNS });
    } catch (error) {
      // what HA shows stays as it was: an empty list would claim there were no runs
      logger.debug(`reading the run history failed: ${errorText(error)}`);
      return;
    }
    void publish("last_result", "attributes", recentRunsAttributes(records));
  };
  /** The coordinator's newest plan for this drone (in memory: after a restart the coordinator sends it again, seeing the drone just connected). */
  let plan: PlanEvent | null = null;
  const nextBackup = () => nextBackupState(engine.settings(), engine.persisted(), plan, new Date());

  const syncFacts = () => {
    const live = engine.live();
    const facts = { live: { ...live, state: options.shownState?.() ?? live.state }, persisted: engine.persisted() };
    const settings = engine.settings();
    publishRecentRuns();
    if (device.keys.includes("next_backup")) void publish("next_backup", "state", nextBackup());
    for (const key of device.keys) {
      const spec = ENTITY_SPECS[key];
      if (isFactSensor(key)) void publish(key, "state", FACT_SENSORS[key](facts));
      else if (isSettingSpec(spec)) {
        // the choices first: HA checks the option against them
        if (spec.domain === "select" && spec.options === "archives") void publish(key, "options", choices());
        void publish(key, FIELD_OF[spec.domain], settingValue(spec, settings));
      }
    }
  };

  // progress changes with every event: publish at most every PROGRESS_ENTITY_INTERVAL_MS, and
  // only when the percent moved PROGRESS_ENTITY_STEP points (values.mts) (a long run costs as few rows as a short one)
  let latestProgress: ProgressEvent | undefined;
  let progressPublishedAt = 0;
  let progressTimer: (() => void) | undefined;
  let shown: ShownProgress | undefined;
  const publishProgress = () => {
    progressTimer?.();
    progressTimer = undefined;
    if (!latestProgress) return;
    progressPublishedAt = Date.now();
    const states = progressStates(latestProgress);
    shown = { percent: latestProgress.percent, state: latestProgress.state };
    latestProgress = undefined;
    void publish("progress", "state", states.progress);
    void publish("eta", "state", states.eta);
  };
  const progress = (event: ProgressEvent) => {
    latestProgress = event;
    // a step's last value waits for the interval like any other: the last of the run is written then
    if (!event.finished && !progressMoved(shown, event)) return;
    const wait = PROGRESS_ENTITY_INTERVAL_MS - (Date.now() - progressPublishedAt);
    if (wait <= 0) publishProgress();
    else progressTimer ??= scheduler.setTimeout(publishProgress, wait);
  };
  let lastRunId: string | null = null;
  const onRunChange = (runId: string | null) => {
    if (runId === lastRunId) return;
    lastRunId = runId;
    // the run ended: its last value is written now rather than when the interval has passed
    if (runId === null) return void (latestProgress && publishProgress());
    // a new run starts from nothing; the last run's final progress stays until then
    progressTimer?.();
    progressTimer = undefined;
    latestProgress = undefined;
    shown = undefined;
    void publish("progress", "state", 0);
    void publish("eta", "state", null);
  };

  const changeSetting = async (key: DroneEntityKey, payload: unknown) => {
    const spec = ENTITY_SPECS[key];
    if (!isSettingSpec(spec)) return;
    const name = `${engine.config.droneId} ${key}`;
    const old = settingValue(spec, engine.settings());
    await applyChange({
      payload,
      schema: PAYLOAD_SCHEMAS[spec.domain],
      old,
      apply: async value => {
        await engine.updateSettings({ [spec.setting]: value });
        logger.info(`${name} set to ${JSON.stringify(value)} from Home Assistant`);
      },
      refused: (value, reason) =>
        logger.warn(`${name}: ${value === undefined ? "a value" : JSON.stringify(value)} rejected (${reason}); keeping ${JSON.stringify(old)}`),
      show: value => publish(key, FIELD_OF[spec.domain], value, true),
    });
  };

  const press = (key: DroneEntityKey) => {
    const spec = ENTITY_SPECS[key];
    if (spec.domain !== "button") return;
    logger.debug(`${key} pressed in Home Assistant`);
    if (spec.operation === "release_prune_hold") {
      void engine.releasePruneHold("button").catch((error: unknown) => logger.error(`releasing the prune hold failed: ${errorText(error)}`));
      return;
    }
    if (spec.operation === "cancel") {
      const by = "Home Assistant (Cancel button)";
      void cancelWherever(engine, by)
        .then(async reach => {
          if (reach.where === "here") return void (await reach.answer);
          const { delivery } = reach;
          // the engine logs a cancel of its own run; one asked of another process is said here
          if (delivery.kind === "nothing") logger.info(`cancel (${by}): nothing is running or queued`);
          else if (delivery.kind === "refused") logger.warn(`cancel (${by}): ${delivery.message}`);
          else logger.info(`cancel (${by}): asked pid ${delivery.pid}, which runs ${delivery.run?.operation ?? "an operation"} for this drone, to cancel it`);
        })
        .catch((error: unknown) => logger.error(`cancelling failed: ${errorText(error)}`));
      return;
    }
    // a refusal (busy, queue full, no offsite) is logged by the engine
    // synapse's press carries no context: who pressed it is not known
    const answer = engine.request(spec.operation, "button", { requestedBy: "Home Assistant" });
    // the result goes out as an event; a queued job dropped at shutdown rejects
    if (answer.accepted) answer.done.catch((error: unknown) => logger.debug(`${spec.operation} (button) dropped: ${errorText(error)}`));
  };

  const settings = engine.settings();
  const facts = { live: engine.live(), persisted: engine.persisted() };
  const device = createDroneDevice({
    synapse: options.synapse,
    context: options.context,
    droneId: engine.config.droneId,
    hasOffsite: engine.config.offsite !== undefined,
    version: options.version,
    initial: key => {
      const spec = ENTITY_SPECS[key];
      if (isFactSensor(key)) return { field: "state", value: FACT_SENSORS[key](facts) };
      if (isSettingSpec(spec)) return { field: FIELD_OF[spec.domain], value: settingValue(spec, settings) };
      if (key === "progress") return { field: "state", value: 0 };
      if (key === "eta") return { field: "state", value: null };
      if (key === "next_backup") return { field: "state", value: nextBackup() };
      return undefined;
    },
    archiveOptions: choices,
    handlers: { press, change: (key, payload) => void changeSetting(key, payload) },
    warn: message => logger.warn(message),
  });

  return {
    device,
    reconcile: async () => {
      await device.reconcile();
      syncFacts();
    },
    changed: () => {
      onRunChange(engine.live().runId);
      syncFacts();
    },
    plan: event => {
      plan = event;
      void publish("next_backup", "state", nextBackup());
    },
    progress,
    finish: () => {
      if (latestProgress) publishProgress();
      onRunChange(null);
      syncFacts();
    },
  };
}
