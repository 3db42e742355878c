/**
 * The in-process variant: a child process that boots the drone library (as a DA app of its
 * own would, with TestRunner and no configuration from env, argv or files) and times engine
 * create calls on request. Started by the benchmark with IPC; one drone at a time.
 */
import { TestRunner, type TServiceParams } from "@digital-alchemy/core";
import { LIB_DRONE } from "../apps/drone/drone.module.mjs";

import { type ProgressSample, workerRequestSchema, type WorkerReply } from "./lib/messages.mjs";

let teardown: (() => Promise<void>) | undefined;
let params: TServiceParams | undefined;
const samples: ProgressSample[] = [];

const reply = (message: WorkerReply) =>
  new Promise<void>((resolve, reject) => process.send?.(message, undefined, {}, error => (error ? reject(error) : resolve())));

async function boot(config: Record<string, unknown>) {
  await teardown?.();
  const runner = TestRunner({ target: LIB_DRONE })
    .setOptions({ configSources: { argv: false, env: false, file: false } })
    .configure({ boilerplate: { LOG_LEVEL: "warn" }, drone: config } as never);
  await runner.run(p => {
    params = p;
  });
  teardown = () => runner.teardown();
  params?.drone.engine.engine.onProgress(event => {
    samples.push({
      receivedAt: Date.now(),
      percent: event.percent,
      etaSeconds: event.eta_seconds,
      elapsedSeconds: event.elapsed_seconds,
      finished: event.finished,
      originalSize: event.original_size,
    });
  });
}

/** The engine of the drone booted last. */
function bootedEngine() {
  const engine = params?.drone.engine.engine;
  if (!engine) throw new Error("no drone booted");
  return engine;
}

async function create() {
  const engine = bootedEngine();
  samples.length = 0;
  const startedAt = Date.now();
  const started = performance.now();
  const result = await engine.run("create", "library");
  const ms = performance.now() - started;
  return {
    type: "created" as const,
    ms,
    startedAt,
    outcome: result.outcome,
    error: result.error,
    progress: [...samples],
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  };
}

process.on("message", (raw: unknown) => {
  const parsed = workerRequestSchema.safeParse(raw);
  if (!parsed.success) {
    void reply({ type: "failed", message: `bad request: ${parsed.error.message}` });
    return;
  }
  const request = parsed.data;
  const work = async (): Promise<WorkerReply> => {
    if (request.type === "boot") {
      await boot(request.config);
      return { type: "booted", rssBytes: process.memoryUsage().rss };
    }
    if (request.type === "init") {
      await bootedEngine().initRepository({ encryption: request.encryption, makeParentDirs: true });
      return { type: "initialized" };
    }
    if (request.type === "create") return create();
    await teardown?.();
    teardown = undefined;
    return { type: "stopped" };
  };
  work()
    .then(message => reply(message))
    .catch((error: unknown) => reply({ type: "failed", message: error instanceof Error ? (error.stack ?? error.message) : String(error) }))
    .finally(() => {
      if (request.type === "stop") process.disconnect();
    });
});
