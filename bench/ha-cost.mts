/**
 * What one drone costs Home Assistant: the events on its bus and the rows and bytes its
 * recorder stores. A real Home Assistant (test/homeassistant, the recorder on SQLite) with
 * the real synapse integration (SYNAPSE_EXTENSION_DIR) holds one drone and the coordinator,
 * both the built bins at their shipped defaults, added through the integration's config flow.
 *
 * Two windows are measured: a scheduled run (the coordinator's own look finds the drone due
 * when its backup window opens and presses its Scheduled Backup: a first backup with its
 * pre-scan, prune, compact, stats), its `borg create` slowed by a wrapper that lets borg work a
 * hundredth of the time, so that it lasts minutes while borg still writes a progress line each
 * second; then the idle drone and coordinator, heartbeats and statistics only.
 */
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { DRONE_CONFIGURATION } from "../apps/drone/config.mjs";
import { PROGRESS_ENTITY_INTERVAL_MS } from "../apps/drone/ha/entity-sync.mjs";
import {
  COORDINATOR_ENTITIES,
  type CoordinatorEntityKey,
  coordinatorObjectId,
  coordinatorUniqueId,
  problemObjectId,
  problemUniqueId,
} from "../apps/backup_coordinator/ha/entities.mjs";
import { PROGRESS_PUBLISH_MS } from "../apps/backup_coordinator/services/entities.service.mjs";
import { COORDINATOR_EVENT_TYPES } from "../libs/protocol/coordinator-events.mjs";
import { DRONE_ENTITY_KEYS, entityObjectId, entityUniqueId, EVENT_TYPES } from "../libs/protocol/index.mjs";
import { errorText } from "../libs/config/errors.mjs";
import { spawnDrone } from "../test/emulator/drone-process.mjs";
import { makeTestRepository, TEST_PASSPHRASE } from "../test/helpers/borg.mjs";
import { addSynapseApp, coordinatorEvents, droneEvents, startCoordinator } from "../test/homeassistant/apps.mjs";
import { RECORDER_DB } from "../test/homeassistant/config.mjs";
import { type BusEvent, type HomeAssistant, startHomeAssistant } from "../test/homeassistant/instance.mjs";
import { generateDataset } from "./lib/datasets.mjs";
import { type AddedRows, openRecorder, type RecorderSnapshot } from "./lib/recorder.mjs";
import { SETTLE_SECONDS } from "./ha-cost-report.mjs";
import { type HaCost, type HaCostWindow } from "./lib/results.mjs";

/** What the measurement needs. */
export interface HaCostContext {
  work: string;
  /** The built drone bin (dist/apps/drone/main.mjs). */
  bin: string;
  log: (line: string) => void;
  quick: boolean;
}

const DRONE_ID = "bench";
const COORDINATOR_ID = "backup_coordinator";
/** borg runs this many ms of every PERIOD_MS while it creates. */
const RUN_MS = 10;
const PERIOD_MS = 1000;
/** After the last event of a window, the recorder commits (each second here) and the last entity writes land. */
const SETTLE_MS = SETTLE_SECONDS * 1000;
/** The backup window opens at least this long after the coordinator starts (setup and settling take about a minute). */
const WINDOW_LEAD_MS = 150_000;

/** `HH:MM` of the local clock, as BACKUP_WINDOW reads it. */
const clock = (at: Date) => `${String(at.getHours()).padStart(2, "0")}:${String(at.getMinutes()).padStart(2, "0")}`;

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

/**
 * A borg that works RUN_MS of every PERIOD_MS while it creates (SIGSTOP/SIGCONT), so a create
 * of a small data set lasts minutes; borg writes a progress line each time it works (its own
 * throttle is 0.2 s), once a second. Every other borg command runs as it is.
 */
function slowBorgScript(): string {
  const run = (RUN_MS / 1000).toFixed(3);
  const stopped = ((PERIOD_MS - RUN_MS) / 1000).toFixed(3);
  return [
    "#!/bin/sh",
    'case " $* " in *" create "*) ;; *) exec borg "$@" ;; esac',
    'borg "$@" &',
    "pid=$!",
    "trap 'kill -CONT $pid; kill -INT $pid' INT",
    "trap 'kill -CONT $pid; kill -TERM $pid' TERM",
    "while kill -0 $pid 2>/dev/null; do",
    `  sleep ${run}; kill -STOP $pid 2>/dev/null; sleep ${stopped}; kill -CONT $pid 2>/dev/null`,
    "done",
    "wait $pid",
    "",
  ].join("\n");
}

/** A readable owner for an entity's object id or unique id: the drone's and the coordinator's entities by key. */
function entityLabels(): Map<string, string> {
  const labels = new Map<string, string>();
  for (const key of DRONE_ENTITY_KEYS) {
    labels.set(entityObjectId(DRONE_ID, key), `drone ${key}`);
    labels.set(entityUniqueId(DRONE_ID, key), `drone ${key}`);
  }
  for (const key of Object.keys(COORDINATOR_ENTITIES) as CoordinatorEntityKey[]) {
    labels.set(coordinatorObjectId(COORDINATOR_ID, key), `coordinator ${key}`);
    labels.set(coordinatorUniqueId(COORDINATOR_ID, key), `coordinator ${key}`);
  }
  labels.set(problemObjectId(DRONE_ID), "coordinator problem sensor");
  labels.set(problemUniqueId(COORDINATOR_ID, DRONE_ID), "coordinator problem sensor");
  return labels;
}

/** `entity:sensor.bench_progress` or `synapse:<its unique id>` → `drone progress`; unknown entities keep their id. */
export function ownerLabel(owner: string, labels: Map<string, string>): string {
  const entity = /^(entity|statistic):[a-z_]+\.(.+)$/.exec(owner);
  if (entity?.[2] !== undefined) return labels.get(entity[2]) ?? owner.slice(owner.indexOf(":") + 1);
  if (owner.startsWith("synapse:")) return labels.get(owner.slice("synapse:".length)) ?? owner;
  return owner.startsWith("event:") ? owner.slice("event:".length) : owner;
}

/** The bus events of a window, counted by type (state_changed by entity), with their bytes as a subscriber receives them. */
function busCounts(events: BusEvent[], from: number, to: number, labels: Map<string, string>): HaCostWindow["bus"] {
  const counts = new Map<string, { events: number; bytes: number }>();
  for (const event of events) {
    const at = Date.parse(event.time_fired);
    if (at < from || at > to) continue;
    const { boot: _boot, ...sent } = event;
    const entity = typeof event.data.entity_id === "string" ? event.data.entity_id : "";
    const type = event.event_type === "state_changed" ? `state_changed: ${ownerLabel(`entity:${entity}`, labels)}` : event.event_type;
    const entry = counts.get(type) ?? { events: 0, bytes: 0 };
    entry.events++;
    entry.bytes += Buffer.byteLength(JSON.stringify(sent));
    counts.set(type, entry);
  }
  return [...counts].map(([type, entry]) => ({ type, ...entry })).sort((a, b) => b.bytes - a.bytes);
}

/** The recorder's rows of a window, with readable owners. */
function recorderRows(added: AddedRows[], labels: Map<string, string>): HaCostWindow["recorder"] {
  return added.map(row => ({ ...row, owner: ownerLabel(row.owner, labels) })).sort((a, b) => b.bytes - a.bytes);
}

const diskDelta = (before: RecorderSnapshot, after: RecorderSnapshot) =>
  Object.entries(after.tables).reduce((sum, [table, mark]) => sum + mark.diskBytes - (before.tables[table]?.diskBytes ?? 0), 0);

/** Measure; `skipped` with the reason when no synapse-extension checkout is named. */
export async function measureHaCost(context: HaCostContext): Promise<HaCost> {
  const checkout = process.env.SYNAPSE_EXTENSION_DIR?.trim() ?? "";
  if (checkout === "") {
    return {
      status: "skipped",
      reason: "SYNAPSE_EXTENSION_DIR is not set: point it at a checkout of Digital-Alchemy-TS/synapse-extension to measure a drone on a real Home Assistant",
    };
  }
  const { log, quick } = context;
  const dir = join(context.work, "ha-cost");
  await mkdir(dir, { recursive: true });
  const idleMinutes = quick ? 5 : 10;

  log("  generating the drone's data…");
  const dataset = await generateDataset(join(dir, "data"), {
    name: "small_files",
    // about 10 minutes of create at borg's 1 % duty here (40,000 files took 14–16 minutes), so
    // that the run measured is the one the target speaks of, not a projection of a longer one
    files: quick ? 6_000 : 26_000,
    folders: quick ? 20 : 80,
    minBytes: 256,
    maxBytes: 8 * 1024,
    textShare: 0.5,
    changeShare: 0,
  });
  const slowBorg = join(dir, "slow-borg");
  await writeFile(slowBorg, slowBorgScript());
  await chmod(slowBorg, 0o755);

  const repo = await makeTestRepository();
  let ha: HomeAssistant | undefined;
  const stops: (() => Promise<unknown>)[] = [];
  try {
    ha = await startHomeAssistant({ synapseDir: checkout, log: line => log(`  ${line}`) });
    const home = ha;
    const labels = entityLabels();

    const drone = await spawnDrone({
      url: home.appUrl,
      token: home.adminToken,
      passphrase: TEST_PASSPHRASE,
      dir: repo.root,
      bin: context.bin,
      // the shipped defaults, but for what ties the drone to this machine's temp folders
      drone: {
        DRONE_ID,
        REPOSITORY: repo.repository.location,
        SOURCES: [dataset.root],
        STATE_DIR: join(repo.root, "state"),
        BORG_BASE_DIR: repo.repository.baseDir,
        BORG_BINARY: slowBorg,
        MODE: "coordinated",
      },
      hass: { RETRY_INTERVAL: 1 },
    });
    stops.push(() => drone.stop());
    await drone.waitForOutput(/application is not registered in hass/, 120_000);
    await addSynapseApp(home, `Backup drone ${DRONE_ID}`);
    await drone.waitForOutput(/application confirmed registration/, 60_000);

    // the run starts as scheduled runs do: the coordinator's own look finds the drone due, here
    // when its backup window opens, a few minutes on (a first backup is due at once otherwise)
    const opens = new Date(Math.ceil((Date.now() + WINDOW_LEAD_MS) / 60_000) * 60_000);
    const closes = new Date(opens.getTime() + 6 * 3600_000);
    const coordinator = await startCoordinator(home, join(dir, "coordinator"), { TICK_SECONDS: 30, BACKUP_WINDOW: `${clock(opens)}-${clock(closes)}` });
    stops.push(async () => {
      coordinator.kill();
      await coordinator.done;
    });
    await coordinator.waitFor(/application is not registered in hass/, 120_000);
    await addSynapseApp(home, "Backup Coordinator");
    await coordinator.waitFor(new RegExp(`drone ${DRONE_ID} discovered`), 60_000);
    log(`  drone and coordinator registered; the backup window opens at ${clock(opens)}…`);
    await sleep(SETTLE_MS);
    if (Date.now() > opens.getTime()) throw new Error("the backup window opened before the drone and the coordinator had settled");

    const recorder = openRecorder(join(home.configDir, RECORDER_DB));
    try {
      // ---------------------------------------------------------------- a scheduled run
      const runFrom = Date.now();
      const before = recorder.snapshot();
      const finished = await home.waitFor(
        () => coordinatorEvents(home, COORDINATOR_EVENT_TYPES.runFinished).find(event => event.drone_id === DRONE_ID && event.ours),
        60 * 60_000,
        "the coordinator's scheduled run of the drone",
      );
      if (finished.outcome !== "success") throw new Error(`the scheduled run ended ${finished.outcome}`);
      await sleep(SETTLE_MS);
      const runTo = Date.now();
      const afterRun = recorder.snapshot();
      const result = droneEvents(home, EVENT_TYPES.result, DRONE_ID).find(({ data }) => data.operation === "scheduled")?.data;
      const creating = droneEvents(home, EVENT_TYPES.progress, DRONE_ID).filter(({ data }) => data.state === "creating").map(({ data }) => Date.parse(data.time));
      const createSeconds = creating.length > 1 ? (Math.max(...creating) - Math.min(...creating)) / 1000 : 0;
      log(`  run: ${result?.duration_seconds.toFixed(0) ?? "?"} s, of which create ${createSeconds.toFixed(0)} s`);

      // ---------------------------------------------------------------- idle
      log(`  idle for ${idleMinutes} minutes…`);
      const idleFrom = Date.now();
      await sleep(idleMinutes * 60_000);
      const idleTo = Date.now();
      const afterIdle = recorder.snapshot();

      return {
        status: "measured",
        haVersion: home.version,
        synapseVersion: home.synapse?.version ?? "",
        settings: {
          progressIntervalMs: DRONE_CONFIGURATION.PROGRESS_INTERVAL_MS.default,
          statusIntervalSeconds: DRONE_CONFIGURATION.STATUS_INTERVAL_SECONDS.default,
          droneProgressEntityMs: PROGRESS_ENTITY_INTERVAL_MS,
          coordinatorProgressMs: PROGRESS_PUBLISH_MS,
          borgDutyPercent: (RUN_MS / PERIOD_MS) * 100,
        },
        data: { files: dataset.files, bytes: dataset.bytes },
        run: {
          seconds: (runTo - runFrom) / 1000,
          runSeconds: result?.duration_seconds ?? 0,
          createSeconds,
          bus: busCounts(home.events(), runFrom, runTo, labels),
          recorder: recorderRows(recorder.added(before, afterRun), labels),
          diskBytes: diskDelta(before, afterRun),
        },
        idle: {
          seconds: (idleTo - idleFrom) / 1000,
          bus: busCounts(home.events(), idleFrom, idleTo, labels),
          recorder: recorderRows(recorder.added(afterRun, afterIdle), labels),
          diskBytes: diskDelta(afterRun, afterIdle),
        },
      };
    } finally {
      recorder.close();
    }
  } catch (error) {
    return { status: "failed", reason: errorText(error) };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    await ha?.remove().catch(() => undefined);
    await repo.remove();
  }
}
