/**
 * Progress latency: from borg writing a progress line (its own `time` stamp) to the
 * `backup_drone_progress` event reaching a subscriber of Home Assistant's event bus. The
 * drone runs as people run it (the built `backup-drone` daemon, standalone mode, a token)
 * against the loopback Home Assistant emulator; borg's stderr is copied to a file on its
 * way to the drone (a `tee` in a wrapper script, which the measured path then includes), and
 * each event is matched to the line it carries by its counters and path.
 */
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { z } from "zod";

import { DRONE_CONFIGURATION } from "../apps/drone/config.mjs";
import { progressEventSchema } from "../libs/protocol/index.mjs";
import { spawnDrone } from "../test/emulator/drone-process.mjs";
import { type HaEmulator, startEmulator } from "../test/emulator/index.mjs";
import { generateDataset } from "./lib/datasets.mjs";
import { mustRun } from "./lib/spawn.mjs";
import { errorText } from "../libs/config/errors.mjs";

/** What the latency measurement needs. */
export interface LatencyContext {
  work: string;
  bin: string;
  passphraseFile: string;
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
  quick: boolean;
}

/** One daemon run's events. */
interface LatencyRun {
  progressIntervalMs: number;
  latenciesMs: number[];
  eventsPerSecond: number;
  events: number;
  unmatched: number;
}

type LatencyResult = { status: "measured"; runs: LatencyRun[]; path: string } | { status: "pending"; reason: string };

const borgLineSchema = z.object({
  type: z.literal("archive_progress"),
  time: z.number(),
  finished: z.boolean(),
  original_size: z.number().optional(),
  nfiles: z.number().optional(),
  path: z.string().optional(),
});

/** The drone's shipped PROGRESS_INTERVAL_MS. */
const DEFAULT_INTERVAL_MS = DRONE_CONFIGURATION.PROGRESS_INTERVAL_MS.default;

const key = (originalSize: number, nfiles: number, path: string | null) => `${originalSize}/${nfiles}/${path ?? ""}`;

/** Measure; returns `pending` with the reason when the emulator cannot be used. */
export async function measureLatency(context: LatencyContext): Promise<LatencyResult> {
  const token = `bench-${Date.now()}-token`;
  let emulator: HaEmulator;
  try {
    emulator = await startEmulator({ token, port: 0 });
  } catch (error) {
    const reason = `the loopback Home Assistant emulator did not start: ${errorText(error)}`;
    context.log(`  pending: ${reason}`);
    return { status: "pending", reason };
  }
  const root = join(context.work, "latency");
  await mkdir(root, { recursive: true });
  try {
    // a first backup long enough for many events at the default interval
    const dataset = await generateDataset(root, {
      name: "large",
      files: context.quick ? 400 : 2_000,
      folders: 10,
      minBytes: 64 * 1024,
      maxBytes: 960 * 1024,
      textShare: 0.25,
      changeShare: 0,
    });
    const runs: LatencyRun[] = [];
    // as shipped, then with every borg progress line published (many more samples of the same path)
    for (const [tag, intervalMs] of [["default", undefined], ["everyline", 0]] as const) {
      const run = await daemonRun(context, { emulator, token }, dataset.root, join(root, tag), { droneId: `latency${tag}`, intervalMs });
      if (typeof run === "string") return { status: "pending", reason: run };
      context.log(`  PROGRESS_INTERVAL_MS=${run.progressIntervalMs}: ${run.events} progress events, ${run.unmatched} unmatched`);
      runs.push(run);
    }
    return {
      status: "measured",
      runs,
      path: "borg stderr → tee → the drone's runner → engine (throttle) → hass websocket fire_event → the emulator's event bus → a listener in the benchmark process",
    };
  } finally {
    await emulator.stop();
  }
}

/** One scheduled backup by a fresh daemon on a fresh repository: the events it published and their latencies. */
async function daemonRun(
  context: LatencyContext,
  ha: { emulator: HaEmulator; token: string },
  source: string,
  root: string,
  run: { droneId: string; intervalMs: number | undefined },
): Promise<LatencyRun | string> {
  await mkdir(root, { recursive: true });
  const repository = join(root, "repo");
  const baseDir = join(root, "borg-base");
  const passphrase = (await readFile(context.passphraseFile, "utf8")).trim();
  await mustRun("borg", ["init", "--encryption", "repokey-blake2", repository], {
    env: { ...context.env, BORG_PASSPHRASE: passphrase, BORG_BASE_DIR: baseDir },
    cwd: root,
  });
  const borgLog = join(root, "borg-stderr.jsonl");
  const wrapper = join(root, "borg-tee");
  await writeFile(wrapper, `#!/bin/bash\nexec /usr/bin/env borg "$@" 2> >(exec tee -a ${JSON.stringify(borgLog)} >&2)\n`);
  await chmod(wrapper, 0o755);

  const received: { at: number; key: string; state: string; finished: boolean }[] = [];
  let resolveResult!: () => void;
  const resulted = new Promise<void>(resolve => (resolveResult = resolve));
  const stopListening = ha.emulator.onEvent(event => {
    const at = Date.now();
    if (event.event_type === "backup_drone_result") resolveResult();
    if (event.event_type !== "backup_drone_progress") return;
    const progress = progressEventSchema.safeParse(event.data);
    if (!progress.success) return;
    const { original_size, nfiles, path, state, finished } = progress.data;
    received.push({ at, key: key(original_size, nfiles, path), state, finished });
  });
  try {
    // standalone and never backed up: the drone starts a scheduled backup on its own
    const drone = await spawnDrone({
      url: ha.emulator.url,
      token: ha.token,
      passphrase,
      dir: root,
      bin: context.bin,
      drone: {
        DRONE_ID: run.droneId,
        REPOSITORY: repository,
        SOURCES: [source],
        STATE_DIR: join(root, "state"),
        BORG_BASE_DIR: baseDir,
        BORG_BINARY: wrapper,
        MODE: "standalone",
        ...(run.intervalMs === undefined ? {} : { PROGRESS_INTERVAL_MS: run.intervalMs }),
      },
    });
    const timeout = new Promise<"timeout">(resolve => setTimeout(() => resolve("timeout"), context.quick ? 120_000 : 300_000).unref());
    const outcome = await Promise.race([resulted.then(() => "done" as const), drone.exited.then(() => "exited" as const), timeout]);
    await drone.stop();
    if (outcome !== "done") return `the daemon ${outcome === "exited" ? "exited" : "timed out"} before a result: ${drone.output().slice(-500)}`;
  } finally {
    stopListening();
  }

  // borg's own stamp of every progress line, by what the line carries
  const lines = new Map<string, number>();
  for (const text of (await readFile(borgLog, "utf8")).split("\n")) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      continue;
    }
    const line = borgLineSchema.safeParse(json);
    if (!line.success || line.data.finished) continue;
    const id = key(line.data.original_size ?? 0, line.data.nfiles ?? 0, line.data.path ?? null);
    if (!lines.has(id)) lines.set(id, line.data.time * 1000);
  }
  const creating = received.filter(event => event.state === "creating" && !event.finished);
  const latenciesMs: number[] = [];
  let unmatched = 0;
  for (const event of creating) {
    const written = lines.get(event.key);
    if (written === undefined) unmatched += 1;
    else latenciesMs.push(event.at - written);
  }
  const first = creating[0]?.at ?? 0;
  const last = creating.at(-1)?.at ?? 0;
  const eventsPerSecond = creating.length > 1 && last > first ? (creating.length - 1) / ((last - first) / 1000) : 0;
  return { progressIntervalMs: run.intervalMs ?? DEFAULT_INTERVAL_MS, latenciesMs, eventsPerSecond, events: creating.length, unmatched };
}
