/**
 * The pre-scan's worker thread (see `prescanBeside` in ./prescan-beside.mts): lowers its own nice
 * value to 19 (Linux keeps one per thread, so neither the drone's main thread nor the borg it
 * starts are touched), walks the sources and posts what it found with the nice value it ran at.
 * It imports nothing but the walk, so that it starts in a few milliseconds.
 */
import { getPriority, setPriority } from "node:os";
import { parentPort, workerData } from "node:worker_threads";

import { prescan, type PrescanOptions } from "./prescan.mjs";

try {
  setPriority(19);
} catch {
  // a system that refuses it: the walk runs at the thread's priority
}
const options = workerData as Omit<PrescanOptions, "signal">;
parentPort?.postMessage({ found: await prescan(options), nice: getPriority() });
