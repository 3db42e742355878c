/**
 * The coordinator booted with Home Assistant in memory (the mock assistant, synapse with an
 * in-memory database) and simulated drones: each answers a press of its Scheduled Backup
 * (or Offsite Backup) button as a real drone does — a status event showing the run — and
 * the test decides when it ends (a result event, then an idle status). Every outgoing
 * websocket message and every log line is kept.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { type TServiceParams } from "@digital-alchemy/core";

import { LIB_BACKUP_COORDINATOR } from "../../../apps/backup_coordinator/coordinator.module.mjs";
import { type FleetEffect } from "../../../apps/backup_coordinator/core/fleet.mjs";
import { type CoordinatorEntityKey, coordinatorUniqueId, problemUniqueId } from "../../../apps/backup_coordinator/ha/entities.mjs";
import {
  type ApplicationState,
  DRONE_ENTITIES,
  DRONE_ENTITY_KEYS,
  type DroneEntityKey,
  entityId,
  entityUniqueId,
  type Mode,
  type Outcome,
  PROTOCOL_VERSION,
  type ProgressEvent,
  type ResultEvent,
  type StatusEvent,
  type SynapseLink,
  COMMAND_EVENT_TYPES,
  commandEventSchema,
  type RepositoryRole,
} from "../../../libs/protocol/index.mjs";
import { type FiredEvent } from "../../helpers/hass.mjs";
import { bootWithMockAssistant, type SocketMessage } from "../../helpers/runner.mjs";
import { waitFor } from "../../helpers/wait.mjs";

/** The base Home Assistant of these tests (the coordinator's registry rows, the services it calls). */
export const COORDINATOR_FIXTURES_FILE = join(import.meta.dirname, "..", "..", "fixtures", "hass-coordinator", "fixtures.json");

/** The coordinator id of these tests (the fixtures' registry rows use it). */
export const COORDINATOR_ID = "backup_coordinator";

/** Let every event and look under way finish (a few turns of the event loop, real time). */
export async function settle(ms = 30): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms));
}

/** A simulated drone. */
export interface DroneSpec {
  id: string;
  /** Host of its primary repository (default `nas`). */
  host?: string;
  offsiteHost?: string | null;
  frequencyMinutes?: number;
  offsiteFrequencyMinutes?: number | null;
  priority?: number;
  lastBackup?: Date | null;
  lastOffsiteBackup?: Date | null;
  mode?: Mode;
  /** Start a run when its button is pressed (default true); false: a drone that ignores presses. */
  answers?: boolean;
  /**
   * What its status says of its synapse link. Set, the drone takes `backup_drone_command`s
   * (it starts the run and answers); unset, it is a drone of an older version.
   */
  synapse?: SynapseLink;
}

/** A drone as Home Assistant shows it when the coordinator starts (registry rows and entity states). */
export interface HaDrone {
  id: string;
  state?: ApplicationState | "unavailable";
  mode?: Mode;
  lastBackup?: Date | null;
  frequencyMinutes?: number;
  priority?: number;
  /** The synapse online sensor of the drone's app; null for none. */
  online?: "on" | "off" | null;
}

/** The online sensor a drone app gets from the synapse integration in these fixtures. */
export const onlineSensorId = (droneId: string) => `binary_sensor.${droneId.replaceAll("-", "_")}_app_online`;

/** A press the coordinator made. */
export interface Press {
  entityId: string;
  droneId: string | undefined;
  kind: RepositoryRole | undefined;
}

interface SimRun {
  runId: string;
  kind: RepositoryRole;
  startedAt: Date;
}

/** A simulated drone's live state. */
export class SimDrone {
  run: SimRun | null = null;
  lastBackup: Date | null;
  lastOffsiteBackup: Date | null;
  runs = 0;
  constructor(readonly spec: DroneSpec) {
    this.lastBackup = spec.lastBackup ?? null;
    this.lastOffsiteBackup = spec.lastOffsiteBackup ?? null;
  }

  get id() {
    return this.spec.id;
  }

  get host() {
    return this.spec.host ?? "nas";
  }

  /** The host a run of this kind uses. */
  hostOf(kind: RepositoryRole) {
    return kind === "offsite" ? `offsite:${this.spec.offsiteHost ?? "?"}` : this.host;
  }

  /** Its status event now. */
  status(extra: Partial<StatusEvent> = {}): StatusEvent {
    const offsite = this.spec.offsiteHost ?? null;
    const keys = DRONE_ENTITY_KEYS.filter(key => offsite !== null || !("offsite" in DRONE_ENTITIES[key]));
    const run = this.run;
    return {
      v: PROTOCOL_VERSION,
      drone_id: this.id,
      mode: this.spec.mode ?? "coordinated",
      state: run ? (run.kind === "offsite" ? "offsite_creating" : "creating") : "idle",
      operation: run ? (run.kind === "offsite" ? "offsite" : "scheduled") : null,
      run_id: run?.runId ?? null,
      queue: [],
      repository_host: this.host,
      offsite_host: offsite,
      frequency_minutes: this.spec.frequencyMinutes ?? 1440,
      offsite_frequency_minutes: offsite === null ? null : (this.spec.offsiteFrequencyMinutes ?? 10080),
      priority: this.spec.priority ?? 0,
      last_backup: this.lastBackup?.toISOString() ?? null,
      last_offsite_backup: this.lastOffsiteBackup?.toISOString() ?? null,
      last_result: null,
      entities: Object.fromEntries(keys.map(key => [key, entityId(this.id, key)])),
      version: "0.1.0",
      time: new Date().toISOString(),
      ...(this.spec.synapse === undefined ? {} : { synapse: this.spec.synapse }),
      ...extra,
    };
  }
}

/** The coordinator under test. */
export interface Harness {
  params: TServiceParams;
  sent: SocketMessage[];
  logs: string[];
  drones: Map<string, SimDrone>;
  /** Every press the coordinator made, in order. */
  presses(): Press[];
  /** The drones pressed, in order (`id` for a backup, `id:offsite` for an offsite run). */
  pressed(): string[];
  /** Wait until the coordinator made `count` presses in all. */
  waitForPresses(count: number, timeoutMs?: number): Promise<Press[]>;
  /** Add a simulated drone (it reports nothing until `report`). */
  addDrone(spec: DroneSpec): SimDrone;
  /** The drone sends its status event. */
  report(droneId: string, extra?: Partial<StatusEvent>): Promise<void>;
  /** Every simulated drone sends its status event (the periodic heartbeat). */
  heartbeat(): Promise<void>;
  /** The drone starts a run on its own (a person pressed its button in HA): status event. */
  startManual(droneId: string, kind?: RepositoryRole): Promise<void>;
  /** The drone sends a progress event of its run. */
  progress(droneId: string, percent: number | null, extra?: Partial<ProgressEvent>): Promise<void>;
  /** The drone's run ends: the result event, then its idle status (`error_kind` may be any text, as another drone version may send). */
  finish(droneId: string, outcome: Outcome, extra?: Partial<Omit<ResultEvent, "error_kind">> & { error_kind?: string | null }): Promise<void>;
  /** Inject any HA event (e.g. a malformed one). */
  emit(type: string, data: unknown): Promise<void>;
  /** Most runs at once per host the simulated drones saw. */
  maxConcurrent(): Record<string, number>;
  /** What the tick does. */
  evaluate(): FleetEffect[];
  /** The `fire_event` messages (of one type). */
  fired(type?: string): FiredEvent[];
  /** The `call_service` messages of a domain (and service). */
  calls(domain: string, service?: string): Record<string, unknown>[];
  /** HA sends a synapse command to one of the coordinator's entities. */
  command(key: CoordinatorEntityKey, type: "press" | "turn_on" | "turn_off" | "set_value", extra?: Record<string, unknown>): Promise<void>;
  /** What HA was last told a field of a coordinator entity is (last patch, else registration). */
  published(key: CoordinatorEntityKey, field?: string): unknown;
  /** What HA was last told of a drone's problem sensor. */
  problemSensor(droneId: string): { is_on?: unknown; attributes?: Record<string, unknown> } | undefined;
  /** HA changes an entity's state (e.g. a drone app's online sensor). */
  setHaState(entityId: string, state: string): Promise<void>;
  teardown(): Promise<void>;
}


const stamp = "2026-11-22T00:00:00.000Z";
const haState = (entity_id: string, state: string, attributes: Record<string, unknown> = {}) => ({
  entity_id,
  state,
  attributes,
  last_changed: stamp,
  last_updated: stamp,
  last_reported: stamp,
  context: { id: "01JFIXTURE0000000000000000", parent_id: null, user_id: null },
});
const registryRow = (entity_id: string, unique_id: string, config_entry_id: string, index: string) => ({
  aliases: [],
  categories: {},
  config_entry_id,
  device_id: `${config_entry_id}_device`,
  disabled_by: null,
  entity_category: null,
  entity_id,
  has_entity_name: false,
  hidden_by: null,
  icon: null,
  id: `registry_${index}`,
  labels: [],
  name: null,
  options: { conversation: { should_expose: false } },
  original_name: entity_id,
  platform: "synapse",
  translation_key: null,
  unique_id,
});

/** The fixtures with the given drones in HA's registry and states. */
function fixturesWith(drones: readonly HaDrone[]): unknown {
  const base = JSON.parse(readFileSync(COORDINATOR_FIXTURES_FILE, "utf8")) as {
    entities: unknown[];
    entity_registry: unknown[];
  };
  for (const drone of drones) {
    const entry = `drone_entry_${drone.id}`;
    const keys = DRONE_ENTITY_KEYS.filter(key => !("offsite" in DRONE_ENTITIES[key]));
    keys.forEach((key, i) => base.entity_registry.push(registryRow(entityId(drone.id, key), entityUniqueId(drone.id, key), entry, `${drone.id}_${i}`)));
    const states: Partial<Record<DroneEntityKey, string>> = {
      application_state: drone.state ?? "idle",
      application_mode: drone.mode ?? "coordinated",
      backup_frequency: String(drone.frequencyMinutes ?? 1440),
      priority: String(drone.priority ?? 0),
      last_backup: drone.lastBackup ? drone.lastBackup.toISOString().replace("Z", "+00:00") : "unknown",
    };
    for (const key of keys) base.entities.push(haState(entityId(drone.id, key), states[key] ?? "unknown", { friendly_name: `${drone.id} ${key}` }));
    if (drone.online !== null) {
      const online = onlineSensorId(drone.id);
      base.entity_registry.push(registryRow(online, `drone-app-${drone.id}-online`, entry, `${drone.id}_online`));
      base.entities.push(haState(online, drone.online ?? "on", { application_unique_id: `drone-app-${drone.id}` }));
    }
  }
  return base;
}

/**
 * Boot the coordinator (LIB_BACKUP_COORDINATOR with hass, synapse and the mock assistant).
 * The tick is an hour unless `config` says otherwise: tests look with `evaluate()`.
 */
export async function bootCoordinator(
  options: {
    config?: Record<string, unknown>;
    haDrones?: readonly HaDrone[];
    databaseUrl?: string;
    drones?: readonly DroneSpec[];
    /** Keep every log line at debug level in `logs` (default); false: info level, nothing kept (the benchmark's memory figure). */
    keepLogs?: boolean;
  } = {},
): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), "coordinator-test-"));
  const fixtures = join(dir, "fixtures.json");
  writeFileSync(fixtures, JSON.stringify(fixturesWith(options.haDrones ?? [])));

  const drones = new Map<string, SimDrone>();
  const concurrent = new Map<string, number>();
  const maxConcurrent = new Map<string, number>();
  let chain: Promise<void> = Promise.resolve();
  let params!: TServiceParams;

  const emit = (type: string, data: unknown) => {
    // one after the other, in order, as HA delivers a client's events
    chain = chain.then(() => params.mock_assistant.events.emitEvent(type, data as object));
    return chain;
  };
  const droneOfButton = (entity: string): [SimDrone, RepositoryRole] | undefined => {
    for (const drone of drones.values()) {
      if (entity === entityId(drone.id, "scheduled_backup")) return [drone, "primary"];
      if (entity === entityId(drone.id, "offsite_backup")) return [drone, "offsite"];
    }
    return undefined;
  };
  const begin = (drone: SimDrone, kind: RepositoryRole) => {
    drone.runs += 1;
    drone.run = { runId: `${drone.id}-run-${drone.runs}`, kind, startedAt: new Date() };
    const host = drone.hostOf(kind);
    const now = (concurrent.get(host) ?? 0) + 1;
    concurrent.set(host, now);
    maxConcurrent.set(host, Math.max(now, maxConcurrent.get(host) ?? 0));
  };

  /** A drone that takes commands answers one like a real drone: it starts, says so, and acknowledges. */
  const answerCommand = (data: unknown) => {
    const command = commandEventSchema.parse(data);
    const drone = drones.get(command.drone_id);
    if (!drone || drone.spec.synapse === undefined || (command.action !== "scheduled" && command.action !== "offsite")) return;
    const accepted = drone.run === null;
    if (accepted) begin(drone, command.action === "offsite" ? "offsite" : "primary");
    const ack = {
      v: PROTOCOL_VERSION,
      drone_id: drone.id,
      request_id: command.request_id,
      action: command.action,
      sender: command.sender,
      accepted,
      reason: accepted ? null : `${command.action} is already running`,
      run_id: accepted ? (drone.run?.runId ?? null) : null,
      duplicate: false,
      time: new Date().toISOString(),
    };
    void emit(COMMAND_EVENT_TYPES.ack, ack);
    if (accepted) void emit("backup_drone_status", drone.status());
  };

  /** What HA (and the simulated drones) do with a message the coordinator sends. */
  const answer = (message: SocketMessage, p: TServiceParams) => {
    if (message.type === "fire_event" && message.event_type === COMMAND_EVENT_TYPES.command) return answerCommand(message.event_data);
    // the integration applies a configuration update of a registered application (bridge.py
    // handle_configuration_update); answered before the mock assistant's own empty result
    if (message.type === "synapse/update_configuration") {
      queueMicrotask(
        () =>
          void p.hass.socket.onMessage({
            id: message.id,
            type: "result",
            success: true,
            result: { success: true, configuration_updated: true, message: "Configuration update with metadata completed successfully" },
          } as never),
      );
    }
    // a simulated drone answers a press of its button like a real one: it starts and says so
    const data = message.service_data as { entity_id?: string } | undefined;
    if (message.type !== "call_service" || message.domain !== "button" || typeof data?.entity_id !== "string") return;
    const target = droneOfButton(data.entity_id);
    if (!target) return;
    const [drone, kind] = target;
    if (drone.spec.answers === false || drone.run) return;
    begin(drone, kind);
    void emit("backup_drone_status", drone.status());
  };

  const keepLogs = options.keepLogs ?? true;
  const booted = await bootWithMockAssistant({
    target: LIB_BACKUP_COORDINATOR,
    fixturesFile: fixtures,
    module: { backup_coordinator: { TICK_SECONDS: 3600, ...options.config } },
    synapse: { databaseUrl: options.databaseUrl ?? ":memory:", uniqueId: "backup-coordinator-test-app" },
    logLevel: keepLogs ? "debug" : "info",
    logger: { trace: false, keep: keepLogs },
    onMessage: (message, p) => {
      params = p;
      answer(message, p);
    },
  });
  params = booted.params;
  const { sent, logs } = booted;

  const coordinator = params.backup_coordinator;
  const presses = (): Press[] =>
    sent
      .filter(message => message.type === "call_service" && message.domain === "button" && message.service === "press")
      .map(message => {
        const entity = String((message.service_data as { entity_id?: unknown }).entity_id);
        const target = droneOfButton(entity);
        return { entityId: entity, droneId: target?.[0].id, kind: target?.[1] };
      });
  const patches = (uniqueId: string) =>
    sent
      .filter(message => message.type === "synapse/patch_entity" && message.unique_id === uniqueId)
      .map(message => message.data as Record<string, unknown>);
  const registered = (uniqueId: string) => {
    // what HA was last given: the registration, or a configuration update since
    const registration = sent.filter(message => message.type === "synapse/application_online_ready" || message.type === "synapse/update_configuration").at(-1) as
      | { app_metadata: Record<string, unknown> }
      | undefined;
    for (const list of Object.values(registration?.app_metadata ?? {})) {
      if (!Array.isArray(list)) continue;
      const found = (list as Record<string, unknown>[]).find(entity => entity.unique_id === uniqueId);
      if (found) return found;
    }
    return undefined;
  };
  const lastOf = (uniqueId: string) => patches(uniqueId).at(-1) ?? registered(uniqueId);

  const drone = (droneId: string) => {
    const found = drones.get(droneId);
    if (!found) throw new Error(`no simulated drone ${droneId}`);
    return found;
  };

  for (const spec of options.drones ?? []) drones.set(spec.id, new SimDrone(spec));

  return {
    params,
    sent,
    logs,
    drones,
    presses,
    pressed: () => presses().map(press => (press.kind === "offsite" ? `${press.droneId}:offsite` : String(press.droneId))),
    waitForPresses: (count, timeoutMs) =>
      waitFor(() => presses().length >= count && presses(), `${count} presses (saw ${presses().length})`, timeoutMs),
    addDrone: spec => {
      const sim = new SimDrone(spec);
      drones.set(spec.id, sim);
      return sim;
    },
    report: (droneId, extra) => emit("backup_drone_status", drone(droneId).status(extra)),
    heartbeat: async () => {
      for (const sim of drones.values()) await emit("backup_drone_status", sim.status());
    },
    startManual: (droneId, kind = "primary") => {
      const sim = drone(droneId);
      begin(sim, kind);
      return emit("backup_drone_status", sim.status());
    },
    progress: (droneId, percent, extra = {}) => {
      const sim = drone(droneId);
      const run = sim.run;
      if (!run) throw new Error(`${droneId} runs nothing`);
      const event: ProgressEvent = {
        v: PROTOCOL_VERSION,
        drone_id: droneId,
        run_id: run.runId,
        operation: run.kind === "offsite" ? "offsite" : "scheduled",
        repository: run.kind,
        state: run.kind === "offsite" ? "offsite_creating" : "creating",
        percent,
        eta_seconds: percent === null ? null : 100 - percent,
        original_size: 1000 * (percent ?? 1),
        compressed_size: 500,
        deduplicated_size: 100,
        nfiles: 10 * (percent ?? 1),
        path: "/home/user/file",
        elapsed_seconds: 5,
        expected_size: 100_000,
        finished: false,
        time: new Date().toISOString(),
        ...extra,
      };
      return emit("backup_drone_progress", event);
    },
    finish: async (droneId, outcome, extra = {}) => {
      const sim = drone(droneId);
      const run = sim.run;
      if (!run) throw new Error(`${droneId} runs nothing`);
      const now = new Date();
      const ok = outcome === "success" || outcome === "warning";
      const result: Omit<ResultEvent, "error_kind"> & { error_kind: string | null } = {
        v: PROTOCOL_VERSION,
        drone_id: droneId,
        run_id: run.runId,
        operation: run.kind === "offsite" ? "offsite" : "scheduled",
        repository: run.kind,
        trigger: "button",
        outcome,
        error_kind: ok ? null : "lock_timeout",
        error: ok ? null : "The repository is locked by another process; try again later.",
        warnings: [],
        started_at: run.startedAt.toISOString(),
        finished_at: now.toISOString(),
        duration_seconds: Math.max(0, (now.getTime() - run.startedAt.getTime()) / 1000),
        archive: null,
        pruned: [],
        ...extra,
      };
      sim.run = null;
      const host = sim.hostOf(run.kind);
      concurrent.set(host, (concurrent.get(host) ?? 1) - 1);
      if (ok && run.kind === "primary") sim.lastBackup = now;
      if (ok && run.kind === "offsite") sim.lastOffsiteBackup = now;
      await emit("backup_drone_result", result);
      await emit("backup_drone_status", sim.status());
    },
    emit,
    maxConcurrent: () => Object.fromEntries(maxConcurrent),
    evaluate: () => coordinator.dispatch.evaluate(),
    fired: type =>
      sent
        .filter(message => message.type === "fire_event" && (type === undefined || message.event_type === type))
        .map(message => ({ event_type: String(message.event_type), event_data: message.event_data as Record<string, unknown> })),
    calls: (domain, service) =>
      sent
        .filter(message => message.type === "call_service" && message.domain === domain && (service === undefined || message.service === service))
        .map(message => message.service_data as Record<string, unknown>),
    command: (key, type, extra = {}) =>
      params.hass.socket.onMessage({ type: `synapse/${type}`, event: { unique_id: coordinatorUniqueId(COORDINATOR_ID, key), ...extra } }),
    published: (key, field = "state") => lastOf(coordinatorUniqueId(COORDINATOR_ID, key))?.[field],
    problemSensor: droneId => lastOf(problemUniqueId(COORDINATOR_ID, droneId)),
    setHaState: (entity, state) => params.mock_assistant.events.emitEntityUpdate(entity as never, { state } as never),
    teardown: async () => {
      await booted.teardown();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
