/**
 * One way to boot an app of ours with DA's TestRunner against Home Assistant in memory (the
 * mock assistant): no configuration from argv, env or files, every log line and every
 * outgoing websocket message kept, and synapse's install and registration checks replaced,
 * so that it registers and patches as with a Home Assistant that has the integration.
 */
import { type EventEmitter } from "node:events";
import { inspect } from "node:util";

import { TestRunner, type TLibrary, type TServiceParams } from "@digital-alchemy/core";
import { INTERNAL_MESSAGE, LIB_MOCK_ASSISTANT } from "@digital-alchemy/hass/mock-assistant";

/** A canary Home Assistant token: like the passphrase, it must never show up in a log or a message. */
export const TEST_HASS_TOKEN = "canary-hass-token-5b1e0c7a";

/** An outgoing websocket message. */
export interface SocketMessage {
  type: string;
  id?: number;
  [key: string]: unknown;
}

const render = (value: unknown) => (typeof value === "string" ? value : inspect(value, { depth: 8, breakLength: Infinity }));

/**
 * A DA custom logger that keeps every line, rendered as text, in `logs`. `trace: false`
 * drops trace lines; `keep: false` drops every line (nothing accumulates).
 */
export function capturingLogger(logs: string[], options: { trace?: boolean; keep?: boolean } = {}) {
  const keep = options.keep ?? true;
  const capture =
    (level: string) =>
    (...args: unknown[]) => {
      if (keep) logs.push(`${level} ${args.map(render).join(" ")}`);
    };
  return {
    trace: (options.trace ?? true) ? capture("trace") : () => {},
    debug: capture("debug"),
    info: capture("info"),
    warn: capture("warn"),
    error: capture("error"),
    fatal: capture("fatal"),
  };
}

/** What to boot, and how. */
export interface MockAssistantBoot {
  /** The app's library (LIB_DRONE, LIB_BACKUP_COORDINATOR). */
  target: TLibrary;
  /** Libraries appended before the mock assistant (LIB_HASS, LIB_SYNAPSE when the target does not bring them). */
  libraries?: TLibrary[];
  /** The mock assistant's Home Assistant (registry rows, states). */
  fixturesFile: string;
  /** The target module's configuration section, by module name. */
  module: Record<string, Record<string, unknown>>;
  /** synapse's database and app id; false: synapse is not loaded. */
  synapse: false | { databaseUrl: string; uniqueId: string; config?: Record<string, unknown> };
  /** More `hass` configuration. */
  hass?: Record<string, unknown>;
  logLevel: "trace" | "debug" | "info";
  logger?: { trace?: boolean; keep?: boolean };
  /** Sees every outgoing websocket message after it was kept (to answer it as HA would). */
  onMessage?: (message: SocketMessage, params: TServiceParams) => void;
}

/** A booted app, what it sent and logged. */
export interface BootedApp {
  params: TServiceParams;
  /** Every outgoing websocket message, in order. */
  sent: SocketMessage[];
  /** Every log line, rendered as text. */
  logs: string[];
  teardown: () => Promise<void>;
}

/** Boot `target` with the mock assistant (see the file's comment). */
export async function bootWithMockAssistant(boot: MockAssistantBoot): Promise<BootedApp> {
  const logs: string[] = [];
  const sent: SocketMessage[] = [];
  let runner = TestRunner({ target: boot.target });
  for (const library of boot.libraries ?? []) runner = runner.appendLibrary(library);
  runner = runner
    .appendLibrary(LIB_MOCK_ASSISTANT)
    .setOptions({
      configSources: { argv: false, env: false, file: false },
      customLogger: capturingLogger(logs, boot.logger),
    })
    .configure({
      boilerplate: { LOG_LEVEL: boot.logLevel },
      hass: { RETRY_INTERVAL: 1, TOKEN: TEST_HASS_TOKEN, ...boot.hass },
      mock_assistant: { FIXTURES_FILE: boot.fixturesFile },
      ...(boot.synapse === false
        ? {}
        : { synapse: { DATABASE_URL: boot.synapse.databaseUrl, METADATA_UNIQUE_ID: boot.synapse.uniqueId, ...boot.synapse.config } }),
      ...boot.module,
    });

  let params!: TServiceParams;
  await runner.run(p => {
    params = p;
    // the mock's connection is an EventEmitter (typed as a `ws` socket, whose types are not installed)
    const connection = p.mock_assistant.socket.connection as unknown as EventEmitter;
    connection.on(INTERNAL_MESSAGE, (message: SocketMessage) => {
      sent.push(message);
      boot.onMessage?.(message, p);
    });
    if (boot.synapse === false) return;
    p.lifecycle.onPreInit(() => {
      p.synapse.configure.checkInstallState = () => Promise.resolve(true);
      p.synapse.configure.isRegistered = () => true;
    });
  });
  return { params, sent, logs, teardown: () => runner.teardown() };
}
