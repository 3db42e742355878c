/** The messages between the benchmark and its worker processes (validated on receipt). */
import { fork, type ChildProcess } from "node:child_process";
import { join } from "node:path";

import { z } from "zod";

/** A request to the in-process drone worker. */
export const workerRequestSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("boot"), config: z.record(z.string(), z.unknown()) }),
  /** `engine.initRepository` of the booted drone. */
  z.object({ type: z.literal("init"), encryption: z.literal("repokey-blake2") }),
  z.object({ type: z.literal("create") }),
  z.object({ type: z.literal("coordinator"), drones: z.number().int().positive(), cycles: z.number().int().positive() }),
  z.object({ type: z.literal("stop") }),
]);
export type WorkerRequest = z.infer<typeof workerRequestSchema>;

/** One progress event as the worker saw it. */
export const progressSampleSchema = z.object({
  /** When the listener got it (epoch ms). */
  receivedAt: z.number(),
  percent: z.number().nullable(),
  etaSeconds: z.number().nullable(),
  elapsedSeconds: z.number(),
  finished: z.boolean(),
  originalSize: z.number(),
});
export type ProgressSample = z.infer<typeof progressSampleSchema>;

/** What the coordinator worker measured (sizes in bytes, times in ms). */
export const coordinatorMeasurementSchema = z.object({
  drones: z.number(),
  /** After boot, before any drone reported. */
  empty: z.object({ rssBytes: z.number(), heapUsedBytes: z.number() }),
  /** After every drone's heartbeat and the gap cycles (after a GC). */
  loaded: z.object({ rssBytes: z.number(), heapUsedBytes: z.number(), maxRssBytes: z.number() }),
  /** Delivering one heartbeat of every drone. */
  heartbeatMs: z.number(),
  /** The scheduler's whole look (detect, plan, carry out) with every drone known. */
  lookMs: z.array(z.number()),
  /** From a result event entering the Home Assistant client to the next drone's button press leaving it. */
  gapMs: z.array(z.number()),
});
export type CoordinatorMeasurement = z.infer<typeof coordinatorMeasurementSchema>;

/** A reply of the worker. */
export const workerReplySchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("booted"), rssBytes: z.number() }),
  z.object({
    type: z.literal("created"),
    ms: z.number(),
    startedAt: z.number(),
    outcome: z.string(),
    error: z.string().nullable().optional(),
    progress: z.array(progressSampleSchema),
    maxRssBytes: z.number(),
  }),
  z.object({ type: z.literal("initialized") }),
  z.object({ type: z.literal("stopped") }),
  z.object({ type: z.literal("coordinator"), measurement: coordinatorMeasurementSchema }),
  z.object({ type: z.literal("failed"), message: z.string() }),
]);
export type WorkerReply = z.infer<typeof workerReplySchema>;

/** A worker process answering one request at a time. */
export interface Worker {
  request(message: WorkerRequest): Promise<WorkerReply>;
  stop(): Promise<void>;
}

const ROOT = join(import.meta.dirname, "..", "..");

/**
 * Start a worker of the benchmark in its own process, from its compiled form in dist/bench
 * (see bench/tsconfig.workers.json; `npm run bench` compiles it): plain Node, so that the
 * memory measured is the worker's own and not a TypeScript loader's.
 */
export function startWorker(script: "drone-worker" | "coordinator-worker", execArgv: readonly string[] = []): Worker {
  const child: ChildProcess = fork(join(ROOT, "dist", "bench", "bench", `${script}.mjs`), [], {
    cwd: ROOT,
    execArgv: [...execArgv],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  let waiting: { resolve: (reply: WorkerReply) => void; reject: (error: Error) => void } | undefined;
  child.on("message", (raw: unknown) => {
    const parsed = workerReplySchema.safeParse(raw);
    const current = waiting;
    waiting = undefined;
    if (!current) return;
    if (!parsed.success) current.reject(new Error(`bad reply from ${script}: ${parsed.error.message}`));
    else if (parsed.data.type === "failed") current.reject(new Error(`${script}: ${parsed.data.message}`));
    else current.resolve(parsed.data);
  });
  child.once("exit", code => waiting?.reject(new Error(`${script} exited (${code ?? "signal"})`)));
  child.on("error", error => waiting?.reject(error));
  return {
    request: message =>
      new Promise((resolve, reject) => {
        waiting = { resolve, reject };
        child.send(message);
      }),
    stop: async () => {
      if (child.exitCode !== null || !child.connected) return;
      const exited = new Promise<void>(resolve => child.once("exit", () => resolve()));
      child.send({ type: "stop" } satisfies WorkerRequest);
      await exited;
    },
  };
}
