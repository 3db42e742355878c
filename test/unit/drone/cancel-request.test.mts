/**
 * Cancel requests between processes: the request file is judged (valid, for this process,
 * fresh) before anything is cancelled; the signal is sent only to a process that catches it;
 * borg commands that ignore a first SIGINT get SIGTERM at once.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { stat, writeFile } from "node:fs/promises";
import { hostname, userInfo } from "node:os";
import { join } from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import {
  CANCEL_SIGNAL,
  cancelRequestPath,
  catchesCancelSignal,
  cliRequester,
  deliverCancel,
  judgeCancelRequest,
  listenForCancelRequests,
  takeCancelRequest,
  writeCancelRequest,
} from "../../../apps/drone/core/cancel-request.mjs";
import { processIdentity } from "../../../apps/drone/core/process-identity.mjs";
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

  it("a listener cancels the run the request names, not another; once stopped, the signal is ignored until exit", async () => {
    dir = await tempDir("cancel-listen");
    const path = join(dir.path, "laptop.cancel");
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
    // stopped (the process shuts down): a signal is logged and ignored, never Node's default, which ends the process
    expect(catchesCancelSignal(process.pid)).toBe(true);
    await writeFile(path, JSON.stringify({ v: 1, by: "cli (me@laptop)", at: new Date().toISOString(), pid: process.pid, runId: null }));
    const before = logs.length;
    process.kill(process.pid, CANCEL_SIGNAL);
    for (let waited = 0; logs.length === before && waited < 5000; waited += 10) await new Promise(resolve => setTimeout(resolve, 10));
    expect(logs.at(-1)).toBe("SIGUSR2 received while stopping: ignored (the run is being stopped already)");
    expect(cancelled).toHaveLength(2);
    expect(process.listenerCount(CANCEL_SIGNAL)).toBe(1);
  });

  it("a name that is not printable (a newline, a control character) is refused in a request, and cliRequester names the user by the passwd entry", () => {
    expect(judgeCancelRequest(request({ by: "cli (me@laptop)\nERROR forged line" }), 4242, NOW)).toEqual({ ignored: "the request file is not valid (by)" });
    expect(judgeCancelRequest(request({ by: "cli (me\u001b[31m@laptop)" }), 4242, NOW)).toEqual({ ignored: "the request file is not valid (by)" });
    expect(judgeCancelRequest(request({ by: "Automation: nuit 🌙 sauvegarde" }), 4242, NOW)).toMatchObject({ request: { by: "Automation: nuit 🌙 sauvegarde" } });
    const saved = process.env.USER;
    process.env.USER = "forged\nname";
    try {
      expect(cliRequester()).toBe(`cli (${userInfo().username}@${hostname()})`);
    } finally {
      process.env.USER = saved;
    }
  });

  it("a lock owner whose signal mask cannot be read is not signalled: refused in one line that says why and what to do", async () => {
    dir = await tempDir("cancel-deliver");
    const owner = spawn("sleep", ["60"], { stdio: "ignore" });
    try {
      const pid = owner.pid ?? 0;
      await writeFile(join(dir.path, "laptop.lock"), `${JSON.stringify({ pid, identity: processIdentity(pid), since: new Date().toISOString() })}\n`);
      const deliver = (catches: boolean | undefined) =>
        deliverCancel({ stateDir: dir!.path, droneId: "laptop", by: "cli (me@laptop)", marker: null, catches: () => catches });
      expect(await deliver(undefined)).toEqual({
        kind: "refused",
        pid,
        run: null,
        message: `cannot tell whether pid ${pid} listens for a cancel (its /proc/${pid}/status cannot be read), and the signal would end a process that does not; stop an operation for laptop (pid ${pid}) there, or with SIGTERM`,
      });
      expect(await deliver(false)).toMatchObject({ kind: "refused", message: expect.stringContaining("does not take cancel requests") });
      // neither wrote a request nor sent the signal (which would have ended sleep)
      expect(existsSync(cancelRequestPath(dir.path, "laptop"))).toBe(false);
      expect(owner.exitCode === null && owner.signalCode === null).toBe(true);
    } finally {
      owner.kill("SIGKILL");
    }
  });

  it("borg commands that act on a first SIGINT get it; the others get SIGTERM at once", () => {
    expect(stopSignals("create")).toEqual(["SIGINT", "SIGTERM", "SIGKILL"]);
    expect(stopSignals("prune")).toEqual(["SIGINT", "SIGTERM", "SIGKILL"]);
    for (const command of ["check", "compact", "extract", "info", "list"]) expect(stopSignals(command)).toEqual(["SIGTERM", "SIGKILL"]);
  });
});
