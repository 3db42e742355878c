/**
 * A real Home Assistant for the tests: booted from the cached venv with `--skip-pip` on
 * 127.0.0.1 and a generated configuration folder, onboarded through its REST API as the
 * frontend does (owner user, auth code, tokens), with a long-lived token for an
 * administrator and one for a user who is not, stopped with SIGTERM and restartable on the
 * same folder. It keeps HA's log of every boot, and every event on the bus as an admin
 * websocket subscriber sees it.
 *
 * ```ts
 * const ha = await startHomeAssistant();
 * // hass BASE_URL=ha.appUrl TOKEN=ha.adminToken backup-drone daemon …
 * await ha.stop();
 * ```
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

import { z } from "zod";

import { connectSocket, type HaEvent, type HaSocket } from "./client.mjs";
import { RECORDER_DB, type SynapseIntegration, synapseIntegrationOf, writeConfig } from "./config.mjs";
import { type Gate, startGate } from "./gate.mjs";
import { parseLog, type LogEntry } from "./log.mjs";
import { ensureFrontend, ensureVenv, type HaVenv, TOOLS } from "./venv.mjs";

const run = promisify(execFile);

/** How long a boot may take until HA answers HTTP, and then until it reports RUNNING. */
const BOOT_DEADLINE_MS = 180_000;
/** How long HA may take to stop after SIGTERM before it is killed (and the stop reported as failed). */
const STOP_DEADLINE_MS = 60_000;

/** How to start the instance. */
export interface HomeAssistantOptions {
  /** Parent folder of the instance (default: a new temp folder, removed by `remove()`). */
  root?: string;
  /** A synapse-extension checkout to load (default: SYNAPSE_EXTENSION_DIR, when set). `false`: never. */
  synapseDir?: string | false;
  /** Receives the harness's own progress lines. */
  log?: (line: string) => void;
  /** Serve the web interface too, from the `home-assistant-frontend` release HA pins (default: no). */
  frontend?: boolean;
}

/** A persistent notification as HA lists it. */
export interface Notification {
  notification_id: string;
  title: string | null;
  message: string;
}

/** A row of HA's entity registry (`config/entity_registry/list`). */
export interface EntityRegistryEntry {
  entity_id: string;
  unique_id: string;
  platform: string;
  device_id: string | null;
  config_entry_id: string | null;
  entity_category: string | null;
  icon: string | null;
  original_name?: string | null;
  has_entity_name?: boolean;
  disabled_by: string | null;
}

/** A row of HA's device registry (`config/device_registry/list`). */
export interface DeviceRegistryEntry {
  id: string;
  name: string | null;
  manufacturer: string | null;
  model: string | null;
  sw_version: string | null;
  identifiers: [string, string][];
  config_entries: string[];
  via_device_id: string | null;
}

/** A state of HA's state machine. */
export interface HaState {
  entity_id: string;
  state: string;
  attributes: Record<string, unknown>;
  last_changed: string;
  last_updated: string;
}

/** An event stored by the recorder. */
export interface RecordedEvent {
  event_type: string;
  /** The stored data, parsed (`{}` when the recorder refused it as too large). */
  data: Record<string, unknown>;
  /** Bytes of the stored JSON. */
  bytes: number;
  time_fired_ts: number;
}

/** An event on HA's bus, with the boot during which it came. */
export type BusEvent = HaEvent & { boot: number };

/** How a boot lets the apps in. */
export interface BootOptions {
  /**
   * Open the apps' gate as soon as HA is spawned, so that they reconnect while it boots
   * (before custom integrations and the recorder are set up), as they can in real life.
   * Default: only once HA is RUNNING and the harness's subscriber listens.
   */
  openGateEarly?: boolean;
}

/** One boot, measured. */
export interface Boot {
  /** 1, 2, …: each start of the process. */
  index: number;
  /** Seconds from spawning the process to HA reporting RUNNING. */
  seconds: number;
  logFile: string;
}

/** A running (or stopped) real Home Assistant. */
export interface HomeAssistant {
  /** HA's own address ("http://127.0.0.1:PORT"), for the tests' REST and websocket calls. */
  readonly url: string;
  readonly port: number;
  /** The address for the apps (hass BASE_URL): the gate in front of HA. */
  readonly appUrl: string;
  /** The relay between the apps and HA: hold it, open it, or cut its connections. */
  readonly gate: Gate;
  readonly configDir: string;
  readonly venv: HaVenv;
  /** The version HA reports over the websocket. */
  readonly version: string;
  /** The synapse integration loaded, if any. */
  readonly synapse: SynapseIntegration | undefined;
  /** A long-lived token of the owner (an administrator). */
  readonly adminToken: string;
  /** A long-lived token of a user who is not an administrator. */
  readonly userToken: string;
  /** Every boot so far. */
  boots(): Boot[];
  readonly running: boolean;
  /** A new websocket connection (admin by default); close it when done. */
  socket(token?: string): Promise<HaSocket>;
  /** Every event on the bus since the first boot, as an admin subscriber received it. */
  events(): BusEvent[];
  /** Resolves with the first value `probe` gives that is not undefined; rejects after `timeoutMs` naming `what`. */
  waitFor<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number, what: string): Promise<T>;
  /** Call a service over the websocket as the UI does (admin by default). */
  callService(domain: string, service: string, data: Record<string, unknown>, token?: string): Promise<unknown>;
  states(): Promise<HaState[]>;
  entityRegistry(): Promise<EntityRegistryEntry[]>;
  deviceRegistry(): Promise<DeviceRegistryEntry[]>;
  notifications(): Promise<Notification[]>;
  /** Events of one type stored in the recorder's database, oldest first. */
  recordedEvents(eventType: string): Promise<RecordedEvent[]>;
  /** Every entry of HA's log across boots. */
  log(): Promise<LogEntry[]>;
  /** The log's ERROR and CRITICAL entries across boots. */
  errors(): Promise<LogEntry[]>;
  /** Stop (SIGTERM, wait) and boot again on the same folder; resolves once HA is RUNNING. */
  restart(options?: BootOptions & { downMs?: number }): Promise<void>;
  /** Boot again after stop(). */
  start(options?: BootOptions): Promise<void>;
  /** SIGTERM and wait for the exit; rejects if HA had to be killed. */
  stop(): Promise<void>;
  /** Stop if running, then delete the instance's folder (when the harness made it). */
  remove(): Promise<void>;
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

/** Poll `probe` until it gives a value, at most `timeoutMs`; `gone` names a reason to stop waiting at once. */
async function poll<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  what: string,
  everyMs = 200,
  gone: () => string | undefined = () => undefined,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    const reason = gone();
    if (reason !== undefined) throw new Error(reason);
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const why = lastError === undefined ? "" : ` (last error: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(everyMs);
  }
}

const authCodeSchema = z.object({ auth_code: z.string() });
const tokenSchema = z.object({ access_token: z.string(), token_type: z.literal("Bearer") });
const onboardingSchema = z.array(z.object({ step: z.string(), done: z.boolean() }));
const flowSchema = z.object({ flow_id: z.string(), type: z.string() });
const flowResultSchema = z.object({ type: z.literal("create_entry"), result: z.string() });
const userSchema = z.object({ user: z.object({ id: z.string() }) });
const configSchema = z.object({ state: z.string(), version: z.string() });

/** POST JSON (or a form) and return the parsed reply; throws with HA's answer on an HTTP error. */
async function post(url: string, body: Record<string, unknown> | URLSearchParams, bearer?: string): Promise<unknown> {
  const form = body instanceof URLSearchParams;
  const response = await fetch(url, {
    method: "POST",
    headers: { ...(form ? {} : { "content-type": "application/json" }), ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
    body: form ? body : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`POST ${new URL(url).pathname}: HTTP ${response.status} ${text}`);
  return JSON.parse(text) as unknown;
}

/** Boot a real Home Assistant (installing the venv first when the cache lacks it) and onboard it. */
export async function startHomeAssistant(options: HomeAssistantOptions = {}): Promise<HomeAssistant> {
  const say = options.log ?? (() => undefined);
  const venv = await ensureVenv({ log: say });
  if (options.frontend) await ensureFrontend(venv, say);
  const ownRoot = options.root === undefined;
  const root = options.root ?? (await mkdtemp(join(tmpdir(), "bc-ha-")));
  const configDir = join(root, "config");
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const checkout = options.synapseDir === undefined ? process.env.SYNAPSE_EXTENSION_DIR?.trim() || undefined : options.synapseDir || undefined;
  const synapse = checkout === undefined ? undefined : await synapseIntegrationOf(checkout);
  await writeConfig({ dir: configDir, port, frontend: options.frontend ?? false, ...(checkout === undefined ? {} : { synapseDir: checkout }) });

  const gate = await startGate(port);
  const boots: Boot[] = [];
  /** Every boot's log file, from its spawn on (a boot that fails still has its log read). */
  const logFiles: { index: number; file: string }[] = [];
  const bus: BusEvent[] = [];
  let child: ChildProcess | undefined;
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;
  let observer: HaSocket | undefined;
  let adminToken = "";
  let userToken = "";
  let version = "";

  const clientId = `${url}/`;
  const redirectUri = `${url}/?auth_callback=1`;

  /** The auth code flow's last step: an access token for an auth code. */
  const accessToken = async (code: string) =>
    tokenSchema.parse(await post(`${url}/auth/token`, new URLSearchParams({ grant_type: "authorization_code", code, client_id: clientId }))).access_token;

  /** A login as a person does it in the login form: username and password for an access token. */
  const login = async (username: string, password: string) => {
    const flow = flowSchema.parse(await post(`${url}/auth/login_flow`, { client_id: clientId, handler: ["homeassistant", null], redirect_uri: redirectUri }));
    const done = flowResultSchema.parse(await post(`${url}/auth/login_flow/${flow.flow_id}`, { client_id: clientId, username, password }));
    return await accessToken(done.result);
  };

  const longLived = async (token: string, name: string) => {
    const socket = await connectSocket(url, token);
    try {
      return z.string().parse(await socket.command({ type: "auth/long_lived_access_token", client_name: name, lifespan: 30 }));
    } finally {
      await socket.close();
    }
  };

  /**
   * Onboarding as the frontend does it, minus the core_config step: that step starts the
   * met, radio_browser, google_translate and shopping_list config flows, which fetch from
   * the internet and whose pip requirements a `--skip-pip` boot lacks (each would log an
   * ERROR). Nothing the apps use depends on it.
   */
  const onboard = async () => {
    const password = randomBytes(18).toString("base64url");
    const owner = authCodeSchema.parse(
      await post(`${url}/api/onboarding/users`, { client_id: clientId, name: "Owner", username: "owner", password, language: "en" }),
    );
    const ownerAccess = await accessToken(owner.auth_code);
    await post(`${url}/api/onboarding/analytics`, {}, ownerAccess);
    await post(`${url}/api/onboarding/integration`, { client_id: clientId, redirect_uri: redirectUri }, ownerAccess);
    adminToken = await longLived(ownerAccess, "backup-coordinator tests (admin)");

    // a person added under Settings → People, without "Administrator"
    const socket = await connectSocket(url, adminToken);
    const memberPassword = randomBytes(18).toString("base64url");
    try {
      const created = userSchema.parse(await socket.command({ type: "config/auth/create", name: "Member", group_ids: ["system-users"] }));
      await socket.command({ type: "config/auth_provider/homeassistant/create", user_id: created.user.id, username: "member", password: memberPassword });
    } finally {
      await socket.close();
    }
    userToken = await longLived(await login("member", memberPassword), "backup-coordinator tests (member)");
  };

  /** Subscribe to every event with the admin token, for events(); after each boot. */
  const observe = async (boot: number) => {
    observer = await connectSocket(url, adminToken);
    await observer.subscribe(undefined, event => void bus.push({ ...event, boot }));
  };

  const boot = async (bootOptions: BootOptions = {}) => {
    const index = logFiles.length + 1;
    const logFile = join(root, `home-assistant.boot-${index}.log`);
    const consoleFile = createWriteStream(join(root, `console.boot-${index}.log`));
    const started = Date.now();
    logFiles.push({ index, file: logFile });
    say(`booting Home Assistant ${venv.haVersion} (boot ${index}) on ${url}`);
    const process_ = spawn(venv.python, ["-m", "homeassistant", "--config", configDir, "--skip-pip", "--log-file", logFile, "--log-no-color"], {
      cwd: root,
      // HA needs nothing of ours; SUPERVISOR or a token in the environment would only confuse it
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: root, LANG: "C.UTF-8", TZ: "UTC" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = process_;
    if (bootOptions.openGateEarly) gate.open();
    process_.stdout?.pipe(consoleFile);
    process_.stderr?.pipe(consoleFile);
    exited = new Promise(resolve => process_.once("exit", (code, signal) => resolve({ code, signal })));
    let gone = false;
    void exited.then(() => {
      gone = true;
    });

    const exitedEarly = () => (gone ? `Home Assistant exited during boot ${index}; see ${logFile} and ${join(root, `console.boot-${index}.log`)}` : undefined);
    // the onboarding view answers without a token as soon as HTTP is up
    const steps = await poll(
      async () => {
        const response = await fetch(`${url}/api/onboarding`);
        return response.ok ? onboardingSchema.parse(await response.json()) : undefined;
      },
      BOOT_DEADLINE_MS,
      `Home Assistant's HTTP server on ${url}`,
      250,
      exitedEarly,
    );
    if (!steps.find(step => step.step === "user")?.done) await onboard();
    // RUNNING: every integration set up, the bus open to the apps' events
    const config = await poll(
      async () => {
        const socket = await connectSocket(url, adminToken);
        try {
          const reply = configSchema.parse(await socket.command({ type: "get_config" }));
          return reply.state === "RUNNING" ? reply : undefined;
        } finally {
          await socket.close();
        }
      },
      BOOT_DEADLINE_MS,
      "Home Assistant to report RUNNING",
      250,
      exitedEarly,
    );
    version = config.version;
    await observe(index);
    gate.open();
    boots.push({ index, seconds: Math.round((Date.now() - started) / 100) / 10, logFile });
    say(`Home Assistant ${version} running after ${boots.at(-1)?.seconds} s`);
  };

  const stop = async () => {
    const running = child;
    if (!running || !exited) return;
    // the apps find HA gone until the next boot lets them in again
    gate.hold();
    await observer?.close().catch(() => undefined);
    observer = undefined;
    running.kill("SIGTERM");
    const timer = setTimeout(() => running.kill("SIGKILL"), STOP_DEADLINE_MS);
    const end = await exited;
    clearTimeout(timer);
    child = undefined;
    exited = undefined;
    if (end.signal === "SIGKILL") throw new Error(`Home Assistant did not stop within ${STOP_DEADLINE_MS / 1000} s of SIGTERM and was killed`);
  };

  const withSocket = async <T,>(token: string, use: (socket: HaSocket) => Promise<T>): Promise<T> => {
    const socket = await connectSocket(url, token);
    try {
      return await use(socket);
    } finally {
      await socket.close();
    }
  };

  const logEntries = async () => {
    const entries: LogEntry[] = [];
    for (const { index, file } of logFiles) {
      if (existsSync(file)) entries.push(...parseLog(await readFile(file, "utf8"), index));
    }
    return entries;
  };

  try {
    await boot();
  } catch (error) {
    await stop().catch(() => undefined);
    await gate.close();
    throw error;
  }

  return {
    url,
    port,
    appUrl: gate.url,
    gate,
    configDir,
    venv,
    get version() {
      return version;
    },
    synapse,
    get adminToken() {
      return adminToken;
    },
    get userToken() {
      return userToken;
    },
    boots: () => [...boots],
    get running() {
      return child !== undefined;
    },
    socket: (token = adminToken) => connectSocket(url, token),
    events: () => [...bus],
    waitFor: (probe, timeoutMs, what) => poll(probe, timeoutMs, what),
    callService: (domain, service, data, token = adminToken) =>
      withSocket(token, socket => socket.command({ type: "call_service", domain, service, service_data: data })),
    states: () => withSocket(adminToken, socket => socket.command<HaState[]>({ type: "get_states" })),
    entityRegistry: () => withSocket(adminToken, socket => socket.command<EntityRegistryEntry[]>({ type: "config/entity_registry/list" })),
    deviceRegistry: () => withSocket(adminToken, socket => socket.command<DeviceRegistryEntry[]>({ type: "config/device_registry/list" })),
    notifications: () => withSocket(adminToken, socket => socket.command<Notification[]>({ type: "persistent_notification/get" })),
    async recordedEvents(eventType) {
      const sql =
        "SELECT t.event_type AS event_type, d.shared_data AS shared_data, e.time_fired_ts AS time_fired_ts " +
        "FROM events e JOIN event_types t ON e.event_type_id = t.event_type_id LEFT JOIN event_data d ON e.data_id = d.data_id " +
        "WHERE t.event_type = ? ORDER BY e.time_fired_ts, e.event_id";
      const { stdout } = await run(venv.python, [TOOLS, "query", join(configDir, RECORDER_DB), sql, eventType], { maxBuffer: 64 * 1024 * 1024 });
      const rows = z.array(z.object({ event_type: z.string(), shared_data: z.string().nullable(), time_fired_ts: z.number() })).parse(JSON.parse(stdout));
      return rows.map(row => ({
        event_type: row.event_type,
        data: z.record(z.string(), z.unknown()).parse(JSON.parse(row.shared_data ?? "{}")),
        bytes: Buffer.byteLength(row.shared_data ?? ""),
        time_fired_ts: row.time_fired_ts,
      }));
    },
    log: logEntries,
    errors: async () => (await logEntries()).filter(entry => entry.level === "ERROR" || entry.level === "CRITICAL"),
    async restart(restartOptions = {}) {
      await stop();
      if (restartOptions.downMs) await sleep(restartOptions.downMs);
      await boot(restartOptions);
    },
    async start(startOptions = {}) {
      if (child) throw new Error("start: Home Assistant is already running");
      await boot(startOptions);
    },
    stop,
    async remove() {
      try {
        await stop();
      } finally {
        await gate.close();
      }
      if (ownRoot) await rm(root, { recursive: true, force: true });
    },
  };
}
