/**
 * A real `backup-drone daemon` process against a loopback Home Assistant: configured with a
 * file (drone, hass and synapse sections) and the environment (passphrase, token), as a
 * person would run it; never a secret on the command line.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

import { DRONE_CONFIGURATION } from "../../apps/drone/config.mjs";
import { builtBin } from "../helpers/process.mjs";

const ROOT = join(import.meta.dirname, "..", "..");

/** How to run the drone. */
export interface DroneProcessOptions {
  /** The emulator's url (hass BASE_URL). */
  url: string;
  /** The Home Assistant token (given in HASS_TOKEN). */
  token: string;
  /** The repository's passphrase (given in PASSPHRASE). */
  passphrase: string;
  /** Where the config file, HOME and the working directory go. */
  dir: string;
  /** The `drone` section: DRONE_ID, REPOSITORY, SOURCES, STATE_DIR… (no PASSPHRASE: it goes in the environment). */
  drone: Record<string, unknown>;
  /** More of the `hass` section (e.g. RETRY_INTERVAL). */
  hass?: Record<string, unknown>;
  /**
   * The synapse app's unique id. synapse derives it from hostname, user and app name, so two
   * drones on one machine collide unless it is set: default `backup-drone-<DRONE_ID>`.
   */
  appUniqueId?: string;
  /** More of the `synapse` section. */
  synapse?: Record<string, unknown>;
  /** The command to run: default the package's `backup-drone` bin (the bundle in dist/bin, rebuilt when stale); or a TypeScript source, run through tsx. */
  bin?: string;
  verbose?: boolean;
  /** Receives every output line. */
  onLine?: (line: string) => void;
}

/** A running drone. */
export interface DroneProcess {
  readonly pid: number;
  readonly appUniqueId: string;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves when the output matches; rejects after `timeoutMs` with the output so far. */
  waitForOutput(pattern: RegExp, timeoutMs: number): Promise<void>;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM (a clean shutdown: the drone tells HA it goes offline), then wait for the exit. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL: the drone vanishes without a word, like a crash or a power cut. */
  kill(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The environment of the child: ours without anything that configures a drone or Home Assistant. */
function childEnvironment(extra: Record<string, string>): NodeJS.ProcessEnv {
  const keys = new Set(Object.keys(DRONE_CONFIGURATION).flatMap(key => [key, `DRONE_${key}`]));
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    const upper = key.toUpperCase();
    if (keys.has(upper) || upper.startsWith("BORG_") || upper.startsWith("HASS_") || upper.startsWith("SYNAPSE_") || upper.endsWith("TOKEN")) continue;
    if (upper === "LOG_LEVEL" || upper === "NODE_ENV" || upper === "VITEST" || upper.startsWith("VITEST_")) continue;
    env[key] = value;
  }
  return { ...env, NO_COLOR: "1", ...extra };
}

/** Start `backup-drone daemon` against the emulator; resolves once the process runs. */
export async function spawnDrone(options: DroneProcessOptions): Promise<DroneProcess> {
  const droneId = typeof options.drone.DRONE_ID === "string" ? options.drone.DRONE_ID : "drone";
  const appUniqueId = options.appUniqueId ?? `backup-drone-${droneId}`;
  const configFile = join(options.dir, `backup_drone.${droneId}.json`);
  await writeFile(
    configFile,
    JSON.stringify({
      drone: options.drone,
      hass: { BASE_URL: options.url, ...options.hass },
      synapse: { METADATA_UNIQUE_ID: appUniqueId, ...options.synapse },
    }),
    { mode: 0o600 },
  );
  const script = options.bin ?? (await builtBin("backup-drone"));
  // the child runs in the drone's folder: name tsx's loader by its path
  const loader = script.endsWith(".mts") ? ["--import", pathToFileURL(join(ROOT, "node_modules", "tsx", "dist", "loader.mjs")).href] : [];
  const child: ChildProcess = spawn(process.execPath, [...loader, script, "daemon", "--config", configFile, ...(options.verbose ? ["--verbose"] : [])], {
    cwd: options.dir,
    env: childEnvironment({ HOME: options.dir, DRONE_PASSPHRASE: options.passphrase, HASS_TOKEN: options.token }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const waiters = new Set<() => void>();
  let partial = "";
  const onData = (chunk: Buffer) => {
    const text = chunk.toString();
    output += text;
    if (options.onLine) {
      const lines = (partial + text).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) options.onLine(line);
    }
    for (const waiter of waiters) waiter();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(resolve =>
    child.once("exit", (code, signal) => {
      for (const waiter of waiters) waiter();
      resolve({ code, signal });
    }),
  );
  await new Promise<void>((resolve, reject) => {
    child.once("spawn", () => resolve());
    child.once("error", reject);
  });
  let finished = false;
  void exited.then(() => {
    finished = true;
  });

  const signal = async (name: NodeJS.Signals) => {
    if (!finished) child.kill(name);
    return await exited;
  };

  return {
    pid: child.pid ?? 0,
    appUniqueId,
    output: () => output,
    exited,
    waitForOutput: (pattern, timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (pattern.test(output)) {
            cleanup();
            resolve();
          } else if (finished) {
            cleanup();
            reject(new Error(`the drone exited before printing ${String(pattern)}; output:\n${output}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no ${String(pattern)} within ${timeoutMs} ms; output:\n${output}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      }),
    stop: () => signal("SIGTERM"),
    kill: () => signal("SIGKILL"),
  };
}
