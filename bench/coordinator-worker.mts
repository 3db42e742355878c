/**
 * The coordinator at scale, in a process of its own (so that its memory is its own): the
 * coordinator library booted with hass, synapse (in-memory database) and the mock
 * assistant through the integration tests' harness, with simulated drones that answer a
 * press like real ones. Measures memory, one scheduler look, and the gap from a result to
 * the next start. Started with `--expose-gc`.
 */
import { type EventEmitter } from "node:events";

import { deferDotenvx } from "../libs/config/defer-dotenvx.mjs";
import type { SocketMessage } from "../test/helpers/runner.mjs";
import { type CoordinatorMeasurement, workerRequestSchema, type WorkerReply } from "./lib/messages.mjs";

// as the `backup-coordinator` bin does before Digital Alchemy loads (apps/backup_coordinator/main.mts)
deferDotenvx();
const { INTERNAL_MESSAGE } = await import("@digital-alchemy/hass/mock-assistant");
const { bootCoordinator } = await import("../test/integration/coordinator/harness.mjs");

const gc = () => (globalThis as { gc?: () => void }).gc?.();
const memory = () => {
  gc();
  const usage = process.memoryUsage();
  return { rssBytes: usage.rss, heapUsedBytes: usage.heapUsed };
};

async function measure(count: number, cycles: number): Promise<CoordinatorMeasurement> {
  const ids = Array.from({ length: count }, (_, index) => `drone-${String(index).padStart(4, "0")}`);
  // all on one repository host with the default limit of one run per host: strictly one after the other
  // at the bin's log level, and without the tests' log capture, which keeps every line
  const harness = await bootCoordinator({ config: { TICK_SECONDS: 3600 }, keepLogs: false });
  try {
    const empty = memory();
    // a week ago, a day's frequency: all due, the most overdue first
    ids.forEach((id, index) => harness.addDrone({ id, lastBackup: new Date(Date.now() - 7 * 86_400_000 + index * 60_000) }));
    const beat = performance.now();
    await harness.heartbeat();
    const heartbeatMs = performance.now() - beat;

    const presses: { at: number; entityId: string }[] = [];
    const connection = harness.params.mock_assistant.socket.connection as unknown as EventEmitter;
    connection.on(INTERNAL_MESSAGE, (message: SocketMessage) => {
      const data = message.service_data as { entity_id?: unknown } | undefined;
      if (message.type === "call_service" && message.domain === "button" && typeof data?.entity_id === "string") {
        presses.push({ at: performance.now(), entityId: data.entity_id });
      }
    });

    const lookMs: number[] = [];
    for (let index = 0; index < 20; index++) {
      const started = performance.now();
      harness.evaluate();
      lookMs.push(performance.now() - started);
    }
    await harness.waitForPresses(1, 30_000);

    const gapMs: number[] = [];
    for (let cycle = 0; cycle < cycles; cycle++) {
      const running = [...harness.drones.values()].find(drone => drone.run !== null);
      if (!running) throw new Error("no drone runs: the coordinator did not start the next one");
      const before = presses.length;
      const finished = performance.now();
      await harness.finish(running.id, "success");
      await harness.waitForPresses(before + 1, 30_000);
      // wait for our own listener too (it runs after the harness's)
      for (let spin = 0; presses.length <= before && spin < 1000; spin++) await new Promise(resolve => setImmediate(resolve));
      const press = presses[before];
      if (!press) throw new Error("no press recorded");
      gapMs.push(press.at - finished);
    }
    const loaded = memory();
    return {
      drones: count,
      empty,
      loaded: { ...loaded, maxRssBytes: process.resourceUsage().maxRSS * 1024 },
      heartbeatMs,
      lookMs,
      gapMs,
    };
  } finally {
    await harness.teardown();
  }
}

const reply = (message: WorkerReply) =>
  new Promise<void>((resolve, reject) => process.send?.(message, undefined, {}, error => (error ? reject(error) : resolve())));

process.on("message", (raw: unknown) => {
  const parsed = workerRequestSchema.safeParse(raw);
  const request = parsed.success ? parsed.data : undefined;
  const work = async (): Promise<WorkerReply> => {
    if (request?.type === "coordinator") return { type: "coordinator", measurement: await measure(request.drones, request.cycles) };
    if (request?.type === "stop") return { type: "stopped" };
    return { type: "failed", message: "the coordinator worker only measures" };
  };
  work()
    .then(message => reply(message))
    .catch((error: unknown) => reply({ type: "failed", message: error instanceof Error ? (error.stack ?? error.message) : String(error) }))
    .finally(() => {
      if (request?.type === "stop") process.disconnect();
    });
});
