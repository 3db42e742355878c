/**
 * The product's apps against the real Home Assistant: a `backup-drone daemon` on a real borg
 * repository, the `backup-coordinator`, both pointed at HA's gate (`ha.appUrl`), and the
 * drones' events read back from HA's bus and validated with the protocol's schemas.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { COORDINATOR_EVENT_SCHEMAS, type CoordinatorEventType } from "../../libs/protocol/coordinator-events.mjs";
import { EVENT_SCHEMAS, type EVENT_TYPES, type ProgressEvent, type ResultEvent, type StatusEvent } from "../../libs/protocol/index.mjs";
import { type DroneProcess, spawnDrone } from "../emulator/drone-process.mjs";
import { TEST_PASSPHRASE, type TestRepository } from "../helpers/borg.mjs";
import { builtBin, type Running, startProcess } from "../helpers/process.mjs";
import { type BusEvent, type HomeAssistant } from "./instance.mjs";

/** A drone daemon for one test repository. */
export interface DroneOnHa {
  ha: HomeAssistant;
  repo: TestRepository;
  droneId: string;
  /** Default: the admin token. */
  token?: string;
  /** More keys of the `drone` section (MODE, HOOK_BEFORE…). */
  drone?: Record<string, unknown>;
  onLine?: (line: string) => void;
}

/** Start `backup-drone daemon` against HA's gate; it reconnects every second when HA is away. */
export function startDrone(options: DroneOnHa): Promise<DroneProcess> {
  const { repo } = options;
  return spawnDrone({
    url: options.ha.appUrl,
    token: options.token ?? options.ha.adminToken,
    passphrase: TEST_PASSPHRASE,
    dir: repo.root,
    drone: {
      DRONE_ID: options.droneId,
      REPOSITORY: repo.repository.location,
      SOURCES: [join(repo.root, "source")],
      STATE_DIR: join(repo.root, "state"),
      BORG_BASE_DIR: repo.repository.baseDir,
      LOCK_WAIT_SECONDS: 5,
      STATUS_INTERVAL_SECONDS: 5,
      PROGRESS_INTERVAL_MS: 250,
      ...options.drone,
    },
    hass: { RETRY_INTERVAL: 1 },
    ...(options.onLine ? { onLine: options.onLine } : {}),
  });
}

/** The coordinator's configuration over the fast settings the scenarios use. */
export async function startCoordinator(ha: HomeAssistant, dir: string, settings: Record<string, unknown> = {}, token = ha.adminToken): Promise<Running> {
  await mkdir(dir, { recursive: true });
  const configFile = join(dir, "backup_coordinator.json");
  const config = {
    backup_coordinator: { TICK_SECONDS: 1, CALL_TIMEOUT_SECONDS: 10, ...settings },
    hass: { BASE_URL: ha.appUrl, TOKEN: token, RETRY_INTERVAL: 1 },
    synapse: { DATABASE_URL: `file:${join(dir, "synapse.db")}` },
  };
  await writeFile(configFile, JSON.stringify(config, null, 2), { mode: 0o600 });
  return startProcess(await builtBin("backup-coordinator"), ["--config", configFile], { cwd: dir, env: { XDG_STATE_HOME: dir } });
}

type DroneEventType = (typeof EVENT_TYPES)[keyof typeof EVENT_TYPES];
type DroneEventOf<T extends DroneEventType> = T extends typeof EVENT_TYPES.progress ? ProgressEvent : T extends typeof EVENT_TYPES.result ? ResultEvent : StatusEvent;

/** A drone's events of one type on HA's bus, validated, with the boot they came in and who fired them. */
export function droneEvents<T extends DroneEventType>(
  ha: HomeAssistant,
  type: T,
  droneId: string,
): { data: DroneEventOf<T>; boot: number; userId: string | null; event: BusEvent }[] {
  return ha
    .events()
    .filter(event => event.event_type === type && event.data.drone_id === droneId)
    .map(event => ({ data: EVENT_SCHEMAS[type].parse(event.data) as DroneEventOf<T>, boot: event.boot, userId: event.context.user_id, event }));
}

/** The coordinator's events of one type on HA's bus, validated. */
export function coordinatorEvents<K extends CoordinatorEventType>(ha: HomeAssistant, type: K) {
  return ha
    .events()
    .filter(event => event.event_type === type)
    .map(event => COORDINATOR_EVENT_SCHEMAS[type].parse(event.data) as ReturnType<(typeof COORDINATOR_EVENT_SCHEMAS)[K]["parse"]>);
}
