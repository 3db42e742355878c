/**
 * Cancel requests between processes: the request file is judged (valid, for this process,
 * fresh) before anything is cancelled; the signal is sent only to a process that catches it;
 * borg commands that ignore a first SIGINT get SIGTERM at once.
 */
import { stat, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import {
  CANCEL_SIGNAL,
  catchesCancelSignal,
  judgeCancelRequest,
  listenForCancelRequests,
  takeCancelRequest,
  writeCancelRequest,
} from "../../../apps/drone/core/cancel-request.mjs";
import { stopSignals } from "../../../libs/borg/index.mjs";
import { tempDir } from "../../helpers/fs.mjs";

const NOW = new Date("2026-11-30T10:00:00.000Z");
const request = (fields: Record<string, unknown> = {}) =>
  JSON.stringify({ v: 1, by: "cli (me@laptop)", at: "2026-11-30T09:59:50.000Z", pid: 4242, runId: "run-1", ...fields });

describe("cancel requests", () => {
  let dir: { path: string; remove: () => Promise<void> } | undefined;
  afterEach(async () => {
    await dir?.remove();
    dir = undefined;
  });

  it("a valid, fresh request for this process is taken", () => {
    expect(judgeCancelRequest(request(), 4242, NOW)).toEqual({
      request: { v: 1, by: "cli (me@laptop)", at: "2026-11-30T09:59:50.000Z", pid: 4242, runId: "run-1" },
    });
    expect(judgeCancelRequest(request({ runId: null }), 4242, NOW)).toMatchObject({ request: { runId: null } });
  });

  it("ignores a request for another process, a stale one, a damaged one, and says why", () => {
    expect(judgeCancelRequest(request(), 99, NOW)).toEqual({ ignored: "the request was meant for pid 4242" });
    expect(judgeCancelRequest(request({ at: "2026-11-30T09:58:00.000Z" }), 4242, NOW)).toEqual({
      ignored: "the request is stale (written 2026-11-30T09:58:00.000Z)",
    });
    expect(judgeCancelRequest("{", 4242, NOW)).toEqual({ ignored: "the request file is not JSON" });
    expect(judgeCancelRequest(request({ by: "" }), 4242, NOW)).toEqual({ ignored: "the request file is not valid (by)" });
    expect(judgeCancelRequest(request({ v: 2 }), 4242, NOW)).toEqual({ ignored: "the request file is not valid (v)" });
  });

  it("the request file is written for its owner only (0600) and taken once", async () => {
    dir = await tempDir("cancel-request");
    const path = join(dir.path, "laptop.cancel");
    await writeCancelRequest(path, { v: 1, by: "cli (me@laptop)", at: new Date().toISOString(), pid: process.pid, runId: null });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await takeCancelRequest(path)).toMatchObject({ request: { by: "cli (me@laptop)" } });
    expect(await takeCancelRequest(path)).toBeUndefined();
  });

  it("a process catches SIGUSR2 only while it listens; a listener cancels the run the request names, not another", async () => {
    dir = await tempDir("cancel-listen");
    const path = join(dir.path, "laptop.cancel");
    expect(catchesCancelSignal(process.pid)).toBe(false);
    const cancelled: string[] = [];
    const logs: string[] = [];
    let running: string | null = "run-2";
    const stop = listenForCancelRequests({
      path,
      runningRunId: () => running,
      cancel: by => Promise.resolve(void cancelled.push(by)),
      log: { info: message => void logs.push(message), warn: message => void logs.push(message) },
    });
    try {
      expect(catchesCancelSignal(process.pid)).toBe(true);
      const signalled = async (runId: string | null) => {
        await writeFile(path, JSON.stringify({ v: 1, by: "cli (me@laptop)", at: new Date().toISOString(), pid: process.pid, runId }));
        const before = logs.length;
        process.kill(process.pid, CANCEL_SIGNAL);
        for (let waited = 0; logs.length === before && waited < 5000; waited += 10) await new Promise(resolve => setTimeout(resolve, 10));
      };
      await signalled("run-1");
      expect(cancelled).toEqual([]);
      expect(logs.at(-1)).toBe("cancel request of cli (me@laptop) ignored: it was for run run-1, which has ended");
      await signalled("run-2");
      expect(cancelled).toEqual(["cli (me@laptop)"]);
      running = null;
      await signalled(null);
      expect(cancelled).toEqual(["cli (me@laptop)", "cli (me@laptop)"]);
    } finally {
      stop();
    }
    expect(catchesCancelSignal(process.pid)).toBe(false);
  });

  it("borg commands that act on a first SIGINT get it; the others get SIGTERM at once", () => {
    expect(stopSignals("create")).toEqual(["SIGINT", "SIGTERM", "SIGKILL"]);
    expect(stopSignals("prune")).toEqual(["SIGINT", "SIGTERM", "SIGKILL"]);
    for (const command of ["check", "compact", "extract", "info", "list"]) expect(stopSignals(command)).toEqual(["SIGTERM", "SIGKILL"]);
  });
});
