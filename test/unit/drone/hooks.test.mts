import { describe, expect, it } from "vitest";

import { DroneError } from "../../../apps/drone/core/errors.mjs";
import { abortWhy, hookSummary } from "../../../apps/drone/core/hooks.mjs";

describe("what a hook's result says", () => {
  it("names how it ended, never the command", () => {
    expect(hookSummary("before", 2, { end: { kind: "exited", code: 0, signal: null }, started: true })).toBe("before hook succeeded");
    expect(hookSummary("after", 2, { end: { kind: "exited", code: 3, signal: null }, started: true })).toBe("after hook exited with 3");
    expect(hookSummary("after", 2, { end: { kind: "exited", code: null, signal: "SIGKILL" }, started: true })).toBe("after hook was killed by SIGKILL");
    expect(hookSummary("on_error", 2, { end: { kind: "not_started", code: "ENOENT" }, started: false })).toBe("on_error hook could not start (ENOENT)");
  });

  it("a timeout and an abort say whether its processes were stopped", () => {
    expect(hookSummary("before", 2, { end: { kind: "timed_out" }, started: true, stopped: { groupGone: true } })).toBe(
      "before hook timed out after 2 s; its processes were stopped",
    );
    expect(hookSummary("before", 2, { end: { kind: "timed_out" }, started: true, stopped: { groupGone: false } })).toBe(
      "before hook timed out after 2 s; some of its processes could not be stopped",
    );
    const runTimeout = new DroneError("run_timeout", "run timeout");
    expect(hookSummary("before", 600, { end: { kind: "aborted", reason: runTimeout }, started: true, stopped: { groupGone: true } })).toBe(
      "before hook stopped: the run was interrupted (run timeout); its processes were stopped",
    );
    const shutdown = new DroneError("shutdown", "the drone is shutting down");
    expect(hookSummary("on_error", 600, { end: { kind: "aborted", reason: shutdown }, started: false })).toBe(
      "on_error hook not run: the run was interrupted (the drone is shutting down)",
    );
  });

  it("an abort without a reason of its own is a cancellation", () => {
    const controller = new AbortController();
    controller.abort();
    expect(abortWhy(controller.signal.reason)).toBe("cancelled");
    expect(abortWhy(undefined)).toBe("cancelled");
  });
});
