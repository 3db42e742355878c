/**
 * The product's apps against the real Home Assistant: a `backup-drone daemon` on a real borg
 * repository, the `backup-coordinator`, both pointed at HA's gate (`ha.appUrl`), and the
 * drones' events read back from HA's bus and validated with the protocol's schemas.
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { z } from "zod";

import { COORDINATOR_EVENT_SCHEMAS, type CoordinatorEventType } from "../../libs/protocol/coordinator-events.mjs";
import { EVENT_SCHEMAS, EVENT_TYPES, type ProgressEvent, type ResultEvent, type StatusEvent } from "../../libs/protocol/index.mjs";
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

/**
 * A run held in its before hook until `release()`: the drone settings that hold it (hooks run
 * only in a scheduled backup), and the id of the held run once the drone reports it.
 */
export async function heldRun(ha: HomeAssistant, name: string) {
  const hold = join(ha.configDir, "..", `hold-${name}`);
  await writeFile(hold, "");
  return {
    settings: { HOOK_BEFORE: `while [ -e '${hold}' ]; do sleep 0.1; done`, HOOK_TIMEOUT_SECONDS: 600 },
    /** Resolves with the run id once the drone's status says it runs its before hook. */
    started: async (droneId: string) => {
      const running = await ha.waitFor(
        () => droneEvents(ha, EVENT_TYPES.status, droneId).find(({ data }) => data.state === "running_hooks"),
        60_000,
        `${droneId} running its before hook`,
      );
      if (running.data.run_id === null) throw new Error(`${droneId} runs its before hook without a run id`);
      return running.data.run_id;
    },
    release: () => rm(hold),
    /**
     * Stop HA, let the held run `runId` end while it is down (the drone keeps its result), and
     * start HA again; resolves with that result as HA's bus got it after the restart.
     */
    endWhileHaIsDown: async (drone: DroneProcess, droneId: string, runId: string) => {
      await ha.stop();
      await rm(hold);
      await drone.waitForOutput(/scheduled ended: success/, 120_000);
      await drone.waitForOutput(/backup_drone_result event kept, it is sent on reconnect/, 10_000);
      if (droneEvents(ha, EVENT_TYPES.result, droneId).some(({ data }) => data.run_id === runId)) throw new Error(`${droneId}'s result reached HA while it was down`);
      await ha.start();
      return await ha.waitFor(
        () => droneEvents(ha, EVENT_TYPES.result, droneId).find(({ data }) => data.run_id === runId),
        120_000,
        `${droneId}'s kept result after the restart`,
      );
    },
  };
}

const flowSchema = z.object({
  flow_id: z.string(),
  type: z.string(),
  title: z.string().optional(),
  data_schema: z.array(z.object({ name: z.string(), options: z.array(z.tuple([z.string(), z.string()])).optional() })).optional(),
});

/** One step of a config flow over HA's REST API, as the Settings page drives it. */
async function configFlow(ha: HomeAssistant, path: string, body: Record<string, unknown>) {
  const response = await fetch(`${ha.url}/api/config/config_entries/${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${ha.adminToken}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`POST ${path}: HTTP ${response.status} ${await response.text()}`);
  return flowSchema.parse(await response.json());
}

/**
 * Add the synapse app shown as `title` as a person does (Settings → Add integration → Digital
 * Alchemy → pick it): the picker is reopened until the app has answered its discovery.
 */
export async function addSynapseApp(ha: HomeAssistant, title: string, timeoutMs = 60_000): Promise<void> {
  const form = await ha.waitFor(
    async () => {
      const opened = await configFlow(ha, "flow", { handler: "synapse", show_advanced_options: false });
      if (opened.data_schema?.[0]?.options?.some(([, shown]) => shown === title)) return opened;
      await fetch(`${ha.url}/api/config/config_entries/flow/${opened.flow_id}`, { method: "DELETE", headers: { authorization: `Bearer ${ha.adminToken}` } });
      return undefined;
    },
    timeoutMs,
    `${title} in the synapse integration's picker`,
  );
  const name = form.data_schema?.[0]?.options?.find(([, shown]) => shown === title)?.[0];
  const done = await configFlow(ha, `flow/${form.flow_id}`, { name });
  if (done.type !== "create_entry") throw new Error(`adding ${title} ended with ${done.type}, not create_entry`);
}
