/**
 * A home in a temp folder: the loopback Home Assistant, drone processes (the real
 * `backup-drone daemon`, each with its own sources and repository) and the real
 * `backup-coordinator`, all meeting only through the emulator, as they would through HA.
 * Used by the fleet tests and by `npm run demo:fleet`.
 */
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { COORDINATOR_EVENT_SCHEMAS, COORDINATOR_EVENT_TYPES, type CoordinatorEventType } from "../../libs/protocol/coordinator-events.mjs";
import { type ArchiveDetail, createBorgClient, type BorgClient, Secret } from "../../libs/borg/index.mjs";
import {
  type DroneEntityKey,
  entityId,
  EVENT_TYPES,
  type ProgressEvent,
  progressEventSchema,
  type ResultEvent,
  resultEventSchema,
  type StatusEvent,
  statusEventSchema,
} from "../../libs/protocol/index.mjs";
import { coordinatorObjectId, type CoordinatorEntityKey, COORDINATOR_ENTITIES } from "../../apps/backup_coordinator/ha/entities.mjs";
import { type FiredEvent, type HaEmulator } from "../emulator/index.mjs";
import { writeRandomFiles } from "../helpers/fs.mjs";
import { builtBin, type Running, startProcess } from "../helpers/process.mjs";

/** A drone of the fleet. */
export interface FleetDroneSpec {
  id: string;
  /** REPOSITORY_HOST: drones with the same host share the per-host limit. Default: the drone's own. */
  host?: string;
  /** Data to back up: files × bytes of random content. */
  files?: number;
  bytes?: number;
  /** Give the drone a passphrase that does not open its repository. */
  wrongPassphrase?: boolean;
  /** More drone keys (e.g. COMPRESSION, BORG_RSH). */
  config?: Record<string, unknown>;
  /**
   * A repository the drone reaches over ssh: `location` is its REPOSITORY (any spelling borg
   * takes), `path` the same repository on this machine's disk, where the fleet initialises it
   * and reads its archives.
   */
  remote?: { location: string; path: string };
}

/** The whole home. */
export interface FleetOptions {
  root: string;
  emulator: HaEmulator;
  token: string;
  drones: FleetDroneSpec[];
  /** Coordinator keys over the fleet's fast defaults. */
  coordinator?: Record<string, unknown>;
  /** Where the processes' output goes, line by line (tests keep it for failures). */
  log?: (source: string, line: string) => void;
}

/** The passphrase of every fleet repository (a canary: it must never show up in HA). */
export const FLEET_PASSPHRASE = "fleet-canary-4b1d7e0c";

/** Settings that make a round take seconds instead of hours; all within the documented bounds. */
const FAST_COORDINATOR = {
  TICK_SECONDS: 1,
  OFFLINE_AFTER_SECONDS: 10,
  START_TIMEOUT_SECONDS: 20,
  RETRY_BASE_MINUTES: 0.05,
  RETRY_ATTEMPTS: 3,
  PER_HOST_LIMIT: 1,
  GLOBAL_LIMIT: 4,
  CALL_TIMEOUT_SECONDS: 10,
};

/** The entity exists in Home Assistant and its application is online. */
const available = (emulator: HaEmulator, entity: string) => {
  const state = emulator.state(entity)?.state;
  return state !== undefined && state !== "unavailable" ? true : undefined;
};

/** One drone: its files, its repository and, while it runs, its process. */
export class FleetDrone {
  readonly dir: string;
  readonly repository: string;
  readonly stateDir: string;
  readonly configFile: string;
  readonly client: BorgClient;
  process: Running | undefined;

  constructor(
    readonly spec: FleetDroneSpec,
    private readonly fleet: Fleet,
  ) {
    this.dir = join(fleet.root, "drones", spec.id);
    this.repository = spec.remote?.path ?? join(fleet.root, "hosts", spec.host ?? `own-${spec.id}`, spec.id);
    this.stateDir = join(this.dir, "state");
    this.configFile = join(this.dir, "backup_drone.json");
    this.client = createBorgClient({
      location: this.repository,
      passphrase: { kind: "passphrase", value: new Secret(FLEET_PASSPHRASE) },
      passphraseTransport: "fd",
      baseDir: join(this.dir, "borg-base-check"),
      lockWaitSeconds: 30,
    });
  }

  /** Sources, passphrase file, config file and an initialised repository. */
  async prepare(): Promise<void> {
    await writeRandomFiles(join(this.dir, "source"), this.spec.files ?? 12, this.spec.bytes ?? 512 * 1024);
    await mkdir(join(this.repository, ".."), { recursive: true });
    await this.client.init({ encryption: "repokey-blake2" });
    const passphraseFile = join(this.dir, "passphrase");
    await writeFile(passphraseFile, this.spec.wrongPassphrase ? "not-the-passphrase" : FLEET_PASSPHRASE, { mode: 0o600 });
    await chmod(passphraseFile, 0o600);
    const drone = {
      DRONE_ID: this.spec.id,
      REPOSITORY: this.spec.remote?.location ?? this.repository,
      PASSPHRASE_FILE: passphraseFile,
      SOURCES: [join(this.dir, "source")],
      STATE_DIR: this.stateDir,
      BORG_BASE_DIR: join(this.dir, "borg-base"),
      MODE: "coordinated",
      STATUS_INTERVAL_SECONDS: 5,
      PROGRESS_INTERVAL_MS: 250,
      LOCK_WAIT_SECONDS: 30,
      ...(this.spec.host === undefined ? {} : { REPOSITORY_HOST: this.spec.host }),
      ...this.spec.config,
    };
    const hass = { BASE_URL: this.fleet.emulator.url, TOKEN: this.fleet.token };
    await writeFile(this.configFile, JSON.stringify({ drone, hass }, null, 2), { mode: 0o600 });
  }

  /** New content in every source file: the next backup has all of it to write again. */
  async changeData(): Promise<void> {
    await writeRandomFiles(join(this.dir, "source"), this.spec.files ?? 12, this.spec.bytes ?? 512 * 1024);
  }

  /**
   * Start `backup-drone daemon` and wait until Home Assistant sees it (its first status event)
   * and synapse registered it; `registered: false` waits for the status event only (a drone the
   * synapse integration refuses).
   */
  async start(options: { registered?: boolean } = {}): Promise<void> {
    const since = this.fleet.emulator.events().length;
    const startedAt = Date.now() / 1000;
    const bin = await builtBin("backup-drone");
    this.process = startProcess(bin, ["daemon", "--config", this.configFile], { cwd: this.dir });
    this.fleet.pipe(this.spec.id, this.process);
    await this.fleet.waitFor(
      () => this.fleet.statuses(this.spec.id, since).at(-1),
      60_000,
      `drone ${this.spec.id} online (its first status event)`,
    );
    if (options.registered === false) return;
    // its buttons answer once synapse has registered it, and its entities follow it once it heartbeats
    const button = this.entity("scheduled_backup");
    await this.fleet.waitFor(() => available(this.fleet.emulator, button), 60_000, `${button} available in Home Assistant`);
    await this.fleet.heartbeatSince(`Backup drone ${this.spec.id}`, startedAt);
  }

  /** SIGTERM, and wait for the exit. */
  stop(): Promise<void> {
    return this.end("SIGTERM");
  }

  /** kill -9: no goodbye, no checkpoint. */
  crash(): Promise<void> {
    return this.end("SIGKILL");
  }

  private async end(signal: NodeJS.Signals): Promise<void> {
    const running = this.process;
    if (!running) return;
    running.kill(signal);
    await running.done;
    this.process = undefined;
  }

  /** The drone's archives with borg's own start and end times. */
  async archives(): Promise<ArchiveDetail[]> {
    const { value } = await this.client.info({ prefix: `${this.spec.id}@`, last: 1000 });
    return value.archives;
  }

  /** The HA entity id of one of this drone's entities. */
  entity(key: DroneEntityKey): string {
    return this.fleet.emulator.entityIdFor(`backup_drone_${this.spec.id}_${key}`) ?? entityId(this.spec.id, key);
  }
}

/** The coordinator process. */
export class FleetCoordinator {
  readonly dir: string;
  readonly configFile: string;
  process: Running | undefined;

  constructor(private readonly fleet: Fleet) {
    this.dir = join(fleet.root, "coordinator");
    this.configFile = join(this.dir, "backup_coordinator.json");
  }

  async prepare(settings: Record<string, unknown>): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const config = {
      backup_coordinator: { ...FAST_COORDINATOR, ...settings },
      hass: { BASE_URL: this.fleet.emulator.url, TOKEN: this.fleet.token },
      synapse: { DATABASE_URL: `file:${join(this.dir, "synapse.db")}` },
    };
    await writeFile(this.configFile, JSON.stringify(config, null, 2), { mode: 0o600 });
  }

  /** Start `backup-coordinator` and wait until its entities are in Home Assistant. */
  async start(): Promise<void> {
    const bin = await builtBin("backup-coordinator");
    this.process = startProcess(bin, ["--config", this.configFile], { cwd: this.dir, env: { XDG_STATE_HOME: this.dir } });
    this.fleet.pipe("coordinator", this.process);
    const startedAt = Date.now() / 1000;
    const pause = this.entity("pause");
    await this.fleet.waitFor(() => available(this.fleet.emulator, pause), 60_000, `the coordinator's ${pause} available in Home Assistant`);
    await this.fleet.heartbeatSince("Backup Coordinator", startedAt);
  }

  async stop(): Promise<void> {
    const running = this.process;
    if (!running) return;
    running.kill("SIGTERM");
    await running.done;
    this.process = undefined;
  }

  /** The HA entity id of one of the coordinator's entities. */
  entity(key: CoordinatorEntityKey): string {
    return `${COORDINATOR_ENTITIES[key].domain}.${coordinatorObjectId("backup_coordinator", key)}`;
  }
}

/** A drone event as Home Assistant received it. */
interface Received<T> {
  event: T;
  at: number;
}

/** The home: emulator, drones, coordinator. */
export class Fleet {
  readonly root: string;
  readonly emulator: HaEmulator;
  readonly token: string;
  readonly drones: Map<string, FleetDrone>;
  readonly coordinator: FleetCoordinator;
  private readonly log: (source: string, line: string) => void;

  constructor(private readonly options: FleetOptions) {
    this.root = options.root;
    this.emulator = options.emulator;
    this.token = options.token;
    this.log = options.log ?? (() => undefined);
    this.drones = new Map(options.drones.map(spec => [spec.id, new FleetDrone(spec, this)]));
    this.coordinator = new FleetCoordinator(this);
  }

  /** Prepare every drone and the coordinator (no process started). */
  async prepare(): Promise<void> {
    await Promise.all([...this.drones.values()].map(drone => drone.prepare()));
    await this.coordinator.prepare(this.options.coordinator ?? {});
  }

  drone(id: string): FleetDrone {
    const drone = this.drones.get(id);
    if (!drone) throw new Error(`no drone ${id} in this fleet`);
    return drone;
  }

  /** Start every drone, then the coordinator. */
  async startAll(): Promise<void> {
    await Promise.all([...this.drones.values()].map(drone => drone.start()));
    await this.coordinator.start();
  }

  /** Stop the coordinator and every drone (SIGTERM). */
  async stopAll(): Promise<void> {
    await this.coordinator.stop();
    await Promise.all([...this.drones.values()].map(drone => drone.stop()));
  }

  /** Forward a process's output to the log, line by line. */
  pipe(source: string, running: Running): void {
    const seen = { stdout: 0, stderr: 0 };
    const flush = () => {
      const output = running.output();
      for (const stream of ["stdout", "stderr"] as const) {
        const lines = output[stream].split("\n");
        for (const line of lines.slice(seen[stream], -1)) this.log(source, line);
        seen[stream] = Math.max(seen[stream], lines.length - 1);
      }
    };
    const timer = setInterval(flush, 200);
    void running.done.then(() => {
      clearInterval(timer);
      flush();
    });
  }

  /** Wait for `probe` to return something, naming what was awaited when it times out. */
  waitFor<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return this.emulator.waitFor(probe, timeoutMs, what);
  }

  /** Wait for a heartbeat of the synapse application titled `title` after `since` (unix seconds). */
  async heartbeatSince(title: string, since: number): Promise<void> {
    await this.waitFor(
      () => (this.emulator.applications().some(app => app.name === title && (app.lastHeartbeat ?? 0) >= since) ? true : undefined),
      60_000,
      `a heartbeat of ${title}`,
    );
  }

  /** Drone events of one type that reached Home Assistant, validated, from index `since` of the bus. */
  private droneEvents<T extends { drone_id: string }>(
    type: string,
    schema: { parse: (data: unknown) => T },
    droneId?: string,
    since = 0,
  ): Received<T>[] {
    return this.emulator
      .events()
      .slice(since)
      .filter(event => event.event_type === type)
      .map(event => ({ event: schema.parse(event.data), at: Date.parse(event.time_fired) }))
      .filter(({ event }) => droneId === undefined || event.drone_id === droneId);
  }

  statuses(droneId?: string, since = 0): StatusEvent[] {
    return this.droneEvents(EVENT_TYPES.status, statusEventSchema, droneId, since).map(({ event }) => event);
  }

  results(droneId?: string, since = 0): ResultEvent[] {
    return this.droneEvents(EVENT_TYPES.result, resultEventSchema, droneId, since).map(({ event }) => event);
  }

  progress(droneId?: string, since = 0): ProgressEvent[] {
    return this.droneEvents(EVENT_TYPES.progress, progressEventSchema, droneId, since).map(({ event }) => event);
  }

  /** The coordinator's events of one type, validated with their schema. */
  coordinatorEvents<K extends CoordinatorEventType>(type: K, since = 0) {
    const schema = COORDINATOR_EVENT_SCHEMAS[type];
    return this.emulator
      .events()
      .slice(since)
      .filter((event: FiredEvent) => event.event_type === type)
      .map(event => schema.parse(event.data) as ReturnType<(typeof COORDINATOR_EVENT_SCHEMAS)[K]["parse"]>);
  }

  /** Scheduled runs that ended, per drone, from index `since` of the bus. */
  finishedScheduled(droneId: string, since = 0): ResultEvent[] {
    return this.results(droneId, since).filter(result => result.operation === "scheduled");
  }

  /** Wait until every listed drone has finished a scheduled run (any outcome) since `since`. */
  async round(ids: readonly string[], since: number, timeoutMs: number): Promise<Map<string, ResultEvent>> {
    const done = new Map<string, ResultEvent>();
    await this.waitFor(
      () => {
        for (const id of ids) {
          const result = this.finishedScheduled(id, since).at(-1);
          if (result) done.set(id, result);
        }
        return done.size === ids.length ? true : undefined;
      },
      timeoutMs,
      `a scheduled run of each of ${ids.join(", ")} (finished so far: ${[...done.keys()].join(", ") || "none"})`,
    );
    return done;
  }

  /** Press a button as a person would in the HA UI. */
  press(entity: string): Promise<void> {
    return this.emulator.callService("button", "press", { entity_id: entity });
  }
}

/**
 * Most runs at once per repository host, from borg's own archive start and end times. borg
 * records whole seconds: a run that ended in the second another began did not overlap it,
 * and a run shorter than a second still occupied its second.
 */
export function peakConcurrency(runs: readonly { host: string; start: Date; end: Date }[]): Map<string, number> {
  const peaks = new Map<string, number>();
  for (const host of new Set(runs.map(run => run.host))) {
    const edges = runs
      .filter(run => run.host === host)
      .flatMap(run => [
        { at: run.start.getTime(), delta: 1 },
        { at: Math.max(run.end.getTime(), run.start.getTime() + 1000), delta: -1 },
      ])
      // an end and a start at the same instant do not overlap
      .sort((a, b) => a.at - b.at || a.delta - b.delta);
    let now = 0;
    let peak = 0;
    for (const edge of edges) {
      now += edge.delta;
      peak = Math.max(peak, now);
    }
    peaks.set(host, peak);
  }
  return peaks;
}

export { COORDINATOR_EVENT_TYPES };
