/**
 * The pre-scan beside a running borg: in a worker thread at nice 19 (./prescan-worker.mts)
 * where the built worker module is there, else on this thread (./prescan.mts).
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";

import { z } from "zod";

import { type Expectation } from "./estimate.mjs";
import { prescan, type PrescanOptions } from "./prescan.mjs";

const workerReply = z.object({ found: z.object({ originalSize: z.number(), nfiles: z.number() }), nice: z.number() });

/** Where the worker's module is: beside this one once built (tsc's output, or the bundles in dist/bin). */
const WORKER = new URL("./prescan-worker.mjs", import.meta.url);

/**
 * The pre-scan beside a running borg, in a worker thread at nice 19 (./prescan-worker.mts):
 * its walk then takes only CPU that borg and the kernel's writeback of borg's repository leave
 * idle. On the drone's own thread it cost about 0.3 s of a 50,000-file first backup's wall time
 * on a two-core machine (docs/benchmarks.md). Where the worker's module is not there (the
 * sources run as TypeScript) or no worker starts, the walk runs on this thread. An abort ends
 * the worker; a worker still walking never keeps the process alive.
 */
export function prescanBeside(options: PrescanOptions, onWorker?: (nice: number) => void): Promise<Expectation> {
  if (!existsSync(fileURLToPath(WORKER))) return prescan(options);
  const { signal, ...walk } = options;
  let worker: Worker;
  try {
    worker = new Worker(WORKER, { workerData: walk });
  } catch {
    return prescan(options);
  }
  worker.unref();
  return new Promise((resolve, reject) => {
    const abort = () => void worker.terminate();
    signal?.addEventListener("abort", abort, { once: true });
    worker.once("message", (message: unknown) => {
      const reply = workerReply.safeParse(message);
      if (!reply.success) return reject(new Error("the pre-scan's worker answered something else"));
      onWorker?.(reply.data.nice);
      resolve(reply.data.found);
    });
    worker.once("error", reject);
    worker.once("exit", code => {
      signal?.removeEventListener("abort", abort);
      reject(new Error(`the pre-scan's worker ended (${code}) without an answer`));
    });
  });
}
