/**
 * The real `backup-coordinator` process (the built bin, as systemd starts it) against the
 * loopback Home Assistant (test/emulator) holding 1,000 drones: each drone's Scheduled Backup
 * button as a state, and its status events on the bus, repeated as heartbeats. The memory
 * figure is the coordinator process's own (VmHWM and VmRSS from /proc), with no part of Home
 * Assistant in it, unlike the in-process harness of coordinator-worker.mts. Node runs with the
 * options of the shipped systemd unit (deploy/backup-coordinator.service).
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";

import { coordinatorObjectId } from "../apps/backup_coordinator/ha/entities.mjs";
import { EVENT_TYPES } from "../libs/protocol/index.mjs";
import { startEmulator } from "../test/emulator/index.mjs";
import { statusOf } from "./coordinator.mjs";

/** What the measurement of the real process gives. */
export interface CoordinatorRealMeasurement {
  drones: number;
  heartbeats: number;
  /** VmRSS once the coordinator's entities are in Home Assistant, before any drone. */
  bootRssBytes: number;
  /** VmRSS after the last heartbeat of every drone, once the coordinator has settled. */
  rssBytes: number;
  /** VmHWM: the peak RSS of the coordinator process over the whole run. */
  peakRssBytes: number;
  /** Scheduled Backup buttons the coordinator pressed: it took the drones in and scheduled them. */
  presses: number;
  /** CPU time (user + system) of the coordinator process from boot to the end of the last round, in ms. */
  cpuMs: number;
  /** The node options it ran with (those of its systemd unit). */
  nodeOptions: string[];
}

/** The systemd unit the coordinator ships with: the bench starts node with the options it gives. */
export const COORDINATOR_UNIT = new URL("../deploy/backup-coordinator.service", import.meta.url);

/** The node options of a unit's `ExecStart=` (those before the script), e.g. `--optimize-for-size`. */
export function unitNodeOptions(unit: string): string[] {
  const line = /^ExecStart=(.*)$/m.exec(unit)?.[1];
  if (line === undefined) throw new Error("the coordinator's systemd unit has no ExecStart= line");
  const words = line.trim().split(/\s+/).slice(1);
  const script = words.findIndex(word => !word.startsWith("-"));
  if (script < 0) throw new Error("the coordinator's systemd unit's ExecStart= names no script");
  return words.slice(0, script);
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

/** VmRSS and VmHWM of a process, in bytes. */
async function memoryOf(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN) * 1024;
  return { rss: field("VmRSS"), hwm: field("VmHWM") };
}

/** User + system CPU time of a process so far, in ms (/proc/PID/stat, in clock ticks of 10 ms). */
async function cpuOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  // the command name may hold spaces: the fields are counted after its closing parenthesis
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Boot the coordinator bin against the emulator, bring `count` drones, send `heartbeats` rounds of their status. */
export async function measureCoordinatorReal(bin: string, count: number, heartbeats: number, log: (line: string) => void,
  /** Node options instead of the unit's, to compare them. */
  nodeOptionsInstead?: readonly string[],
): Promise<CoordinatorRealMeasurement> {
  const nodeOptions = nodeOptionsInstead ? [...nodeOptionsInstead] : unitNodeOptions(await readFile(COORDINATOR_UNIT, "utf8"));
  const token = randomBytes(24).toString("base64url");
  const emulator = await startEmulator({ token });
  const dir = await mkdtemp(join(tmpdir(), "bench-coordinator-"));
  const configFile = join(dir, "backup_coordinator.json");
  await writeFile(
    configFile,
    JSON.stringify({ hass: { BASE_URL: emulator.url, TOKEN: token }, synapse: { DATABASE_URL: `file:${join(dir, "synapse.db")}` } }),
    { mode: 0o600 },
  );
  const child = spawn(process.execPath, [...nodeOptions, bin, "--config", configFile], {
    cwd: dir,
    env: { ...process.env, XDG_STATE_HOME: dir, HOME: dir },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const keep = (chunk: Buffer) => void (output = (output + chunk.toString()).slice(-4000));
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const exited = new Promise<void>(resolve => child.once("exit", () => resolve()));
  try {
    const pid = child.pid;
    if (pid === undefined) throw new Error("the coordinator did not start");
    const pause = `switch.${coordinatorObjectId("backup_coordinator", "pause")}`;
    const deadline = Date.now() + 120_000;
    while (emulator.state(pause) === undefined || emulator.state(pause)?.state === "unavailable") {
      if (child.exitCode !== null) throw new Error(`the coordinator exited ${child.exitCode}: ${output}`);
      if (Date.now() > deadline) throw new Error(`the coordinator's ${pause} did not appear in Home Assistant: ${output}`);
      await sleep(100);
    }
    await sleep(2_000);
    const boot = await memoryOf(pid);
    const bootCpu = await cpuOf(pid);
    log(`  coordinator booted: ${(boot.rss / 2 ** 20).toFixed(0)} MiB`);
    const now = new Date();
    const statuses = Array.from({ length: count }, (_, index) => statusOf(index, now));
    // the buttons the coordinator presses exist, as the drones' synapse entities would
    for (const status of statuses) {
      const button = status.entities.scheduled_backup;
      if (button === undefined) continue;
      await fetch(`${emulator.url}/api/states/${button}`, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: JSON.stringify({ state: "unknown", attributes: { friendly_name: `${status.drone_id} Scheduled Backup` } }),
      });
    }
    for (let round = 0; round < heartbeats; round++) {
      const at = new Date();
      for (const [index, status] of statuses.entries()) {
        emulator.fireEvent(EVENT_TYPES.status, { ...status, time: at.toISOString() });
        // a home's drones do not all speak in the same millisecond
        if (index % 100 === 99) await sleep(20);
      }
      await sleep(3_000);
      const memory = await memoryOf(pid);
      log(`  heartbeat ${round + 1}/${heartbeats} of ${count} drones: ${(memory.rss / 2 ** 20).toFixed(0)} MiB, peak ${(memory.hwm / 2 ** 20).toFixed(0)} MiB`);
    }
    const end = await memoryOf(pid);
    const cpuMs = (await cpuOf(pid)) - bootCpu;
    const presses = emulator.events().filter(event => event.event_type === "call_service" && event.data.domain === "button" && event.data.service === "press").length;
    return { drones: count, heartbeats, bootRssBytes: boot.rss, rssBytes: end.rss, peakRssBytes: end.hwm, presses, cpuMs, nodeOptions };
  } finally {
    child.kill("SIGTERM");
    await Promise.race([exited, sleep(15_000)]);
    if (child.exitCode === null) child.kill("SIGKILL");
    await emulator.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
