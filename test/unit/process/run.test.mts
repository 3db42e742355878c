/**
 * The one process runner on small shell scripts: the stop sequence in its order, the extra
 * descriptor, the inactivity timeout, and a line callback that throws.
 */
import { Writable } from "node:stream";

import { describe, expect, it } from "vitest";

import { runProcess, type StopSequence } from "../../../libs/process/index.mjs";

const PATH_ONLY = { PATH: process.env.PATH ?? "/usr/bin:/bin" };
const STOP: StopSequence = { signals: ["SIGINT", "SIGTERM", "SIGKILL"], graceMs: 300 };

describe("runProcess", () => {
  it("stops a process with the sequence's signals in their order: SIGINT, then SIGTERM", async () => {
    const controller = new AbortController();
    const lines: string[] = [];
    // sh runs a trap once its foreground sleep ends: short sleeps keep it responsive
    const script = "trap 'echo INT' INT; trap 'echo TERM; exit 7' TERM; echo ready; while :; do sleep 0.05; done";
    const run = await runProcess("sh", ["-c", script], {
      env: PATH_ONLY,
      stop: STOP,
      signal: controller.signal,
      keep: { stdout: Infinity },
      onLine: {
        stdout: line => {
          lines.push(line);
          if (line === "ready") controller.abort(new Error("test stop"));
        },
      },
    });
    expect(run.end).toMatchObject({ kind: "aborted" });
    expect(run.exit).toEqual({ code: 7, signal: null });
    expect(lines).toEqual(["ready", "INT", "TERM"]);
    expect(run.stdout).toBe("ready\nINT\nTERM\n");
    expect(run.stopped).toEqual({});
  });

  it("terminate skips the sequence's SIGINT: SIGTERM first", async () => {
    const controller = new AbortController();
    const lines: string[] = [];
    const script = "trap 'echo INT' INT; trap 'echo TERM; exit 7' TERM; echo ready; while :; do sleep 0.05; done";
    const run = await runProcess("sh", ["-c", script], {
      env: PATH_ONLY,
      stop: STOP,
      terminate: controller.signal,
      onLine: {
        stdout: line => {
          lines.push(line);
          if (line === "ready") controller.abort(new Error("dump failed"));
        },
      },
    });
    expect(run.end).toMatchObject({ kind: "aborted", reason: new Error("dump failed") });
    expect(run.exit).toEqual({ code: 7, signal: null });
    expect(lines).toEqual(["ready", "TERM"]);
  });

  it("pipes standard output into a stream at the stream's pace, and leaves it open", async () => {
    const received: Buffer[] = [];
    let ended = false;
    const sink = new Writable({
      // a slow reader: the child is held back instead of the output piling up
      highWaterMark: 1024,
      write(chunk: Buffer, _encoding, done) {
        received.push(chunk);
        setTimeout(done, 1);
      },
      final(done) {
        ended = true;
        done();
      },
    });
    const run = await runProcess("sh", ["-c", "head -c 300000 /dev/zero | tr '\\0' x"], { env: PATH_ONLY, stop: STOP, stdoutTo: sink });
    expect(run.end).toEqual({ kind: "exited", code: 0, signal: null });
    expect(sink.writableEnded).toBe(false);
    expect(ended).toBe(false);
    await new Promise<void>(resolve => sink.end(resolve));
    expect(Buffer.concat(received).toString()).toBe("x".repeat(300_000));
  });

  it("writes the input on its own descriptor, not in the environment", async () => {
    const run = await runProcess("sh", ["-c", 'cat <&3; env | grep -c "s3cret" || true'], {
      env: PATH_ONLY,
      stop: STOP,
      input: { fd: 3, text: "s3cret\n" },
      keep: { stdout: Infinity },
    });
    expect(run.end).toEqual({ kind: "exited", code: 0, signal: null });
    expect(run.stdout).toBe("s3cret\n0\n");
  });

  it("stops a process that writes nothing for the inactivity timeout, and keeps what it wrote", async () => {
    const run = await runProcess("sh", ["-c", "echo started; exec sleep 30"], {
      env: PATH_ONLY,
      stop: { signals: ["SIGTERM"], graceMs: 300 },
      inactivityTimeoutMs: 300,
      keep: { stdout: Infinity, all: Infinity },
    });
    expect(run.end).toEqual({ kind: "timed_out" });
    expect(run.exit).toEqual({ code: null, signal: "SIGTERM" });
    expect(run.all).toBe("started\n");
  });

  it("rejects with what a line callback threw, once the process has ended", async () => {
    const seen: string[] = [];
    const failure = new Error("parser broke");
    const run = runProcess("sh", ["-c", "echo one; echo two; echo three"], {
      env: PATH_ONLY,
      stop: STOP,
      onLine: {
        stdout: line => {
          seen.push(line);
          if (line === "two") throw failure;
        },
      },
    });
    await expect(run).rejects.toBe(failure);
    expect(seen).toEqual(["one", "two"]);
  });

  it("starts nothing when the signal is already aborted", async () => {
    const controller = new AbortController();
    controller.abort(new Error("before"));
    let spawned = false;
    const run = await runProcess("sh", ["-c", "exit 0"], { env: PATH_ONLY, stop: STOP, signal: controller.signal, onSpawn: () => (spawned = true) });
    expect(run.started).toBe(false);
    expect(run.end).toMatchObject({ kind: "aborted" });
    expect(spawned).toBe(false);
  });

  it("says why a process could not start", async () => {
    const run = await runProcess("/nonexistent/binary", [], { env: PATH_ONLY, stop: STOP });
    expect(run.started).toBe(false);
    expect(run.end).toEqual({ kind: "not_started", code: "ENOENT" });
    expect(run.error).toContain("ENOENT");
  });
});
