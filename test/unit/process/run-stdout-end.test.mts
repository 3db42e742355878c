/**
 * A group leader that exits 0 while a child of its group still writes the data: with
 * `stdoutTo`, the run waits for stdout's end (the data is whole only then), and the deadline
 * stops the group and says timed_out instead of a success with cut data.
 */
import { Writable } from "node:stream";

import { describe, expect, it } from "vitest";

import { groupAlive } from "../../../libs/process/group.mjs";
import { runProcess, SHELL_STOP } from "../../../libs/process/index.mjs";

const PATH_ONLY = { PATH: process.env.PATH ?? "/usr/bin:/bin" };

/** A destination that keeps what it is given. */
function collector(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      done();
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString() };
}

describe("runProcess with stdoutTo in a process group", () => {
  it("a leader that exited 0 while its child still writes: waits for stdout's end, and the data is whole", async () => {
    const sink = collector();
    const run = await runProcess("sh", ["-c", "(sleep 1; echo LATE) & echo EARLY"], { env: PATH_ONLY, group: true, stop: SHELL_STOP, timeoutMs: 30_000, stdoutTo: sink.stream });
    expect(run.end).toEqual({ kind: "exited", code: 0, signal: null });
    expect(sink.text()).toBe("EARLY\nLATE\n");
  });

  it("the deadline while the group still holds stdout: the group is stopped and the end is timed_out, not exited", async () => {
    const sink = collector();
    let pgid = 0;
    const run = await runProcess("sh", ["-c", "(sleep 60; echo LATE) & echo EARLY"], {
      env: PATH_ONLY,
      group: true,
      stop: SHELL_STOP,
      timeoutMs: 1500,
      stdoutTo: sink.stream,
      onSpawn: pid => (pgid = pid),
    });
    expect(run.end).toEqual({ kind: "timed_out" });
    expect(run.exit).toEqual({ code: 0, signal: null });
    expect(run.stopped).toEqual({ groupGone: true });
    expect(groupAlive(pgid)).toBe(false);
    expect(sink.text()).toBe("EARLY\n");
  });

  it("the abort while the group still holds stdout: aborted", async () => {
    const sink = collector();
    const controller = new AbortController();
    const running = runProcess("sh", ["-c", "(sleep 60; echo LATE) & echo EARLY"], { env: PATH_ONLY, group: true, stop: SHELL_STOP, timeoutMs: 60_000, signal: controller.signal, stdoutTo: sink.stream });
    // aborted once the leader has written and exited
    await new Promise<void>(resolve => {
      const look = () => (sink.text() === "EARLY\n" ? resolve() : setTimeout(look, 20));
      look();
    });
    controller.abort(new Error("test stop"));
    const run = await running;
    expect(run.end).toMatchObject({ kind: "aborted" });
    expect(run.stopped).toEqual({ groupGone: true });
  });

  it("without stdoutTo a child left behind does not hold the run (a server started in the background)", async () => {
    let pgid = 0;
    const run = await runProcess("sh", ["-c", "sleep 60 & echo started"], {
      env: PATH_ONLY,
      group: true,
      stop: SHELL_STOP,
      timeoutMs: 30_000,
      keep: { stdout: 100 },
      onSpawn: pid => (pgid = pid),
    });
    expect(run.end).toEqual({ kind: "exited", code: 0, signal: null });
    expect(run.stdout).toBe("started\n");
    // the background child is still there: nothing waited for it; stopped here by the test
    expect(groupAlive(pgid)).toBe(true);
    process.kill(-pgid, "SIGKILL");
  });
});
