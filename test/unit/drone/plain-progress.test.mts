import { afterEach, describe, expect, it, vi } from "vitest";

import { createProgressDisplay } from "../../../apps/drone/cli/progress.mjs";
import { createPaint, type Terminal } from "../../../apps/drone/cli/terminal.mjs";
import { type LiveStatus } from "../../../apps/drone/core/engine.mjs";
import { type ProgressEvent, PROTOCOL_VERSION } from "../../../libs/protocol/index.mjs";

const event = (percent: number): ProgressEvent => ({
  v: PROTOCOL_VERSION,
  drone_id: "laptop",
  run_id: "run-1",
  operation: "create",
  repository: "primary",
  state: "creating",
  percent,
  eta_seconds: 60,
  original_size: 1000,
  compressed_size: 900,
  deduplicated_size: 100,
  nfiles: 10,
  path: null,
  elapsed_seconds: 5,
  expected_size: 4000,
  finished: false,
  time: new Date().toISOString(),
});

afterEach(() => void vi.useRealTimers());

describe("plain progress lines (stderr not a TTY)", () => {
  it("come every ten seconds from the live state, though progress events are a minute apart", () => {
    vi.useFakeTimers();
    const lines: string[] = [];
    const terminal: Terminal = { tty: false, paint: createPaint(false), columns: () => 80, line: text => void lines.push(text), status: () => undefined, data: () => undefined };
    const live: LiveStatus = { state: "creating", operation: "create", runId: "run-1", trigger: "cli", startedAt: new Date(), queue: [], progress: null };
    const display = createProgressDisplay({ json: false }, terminal, () => live);
    // the first event of the step goes out (and is shown); the engine's live state moves on without events
    live.progress = event(10);
    display.onProgress(event(10));
    expect(lines).toEqual([expect.stringMatching(/^create: creating 10%/)]);
    live.progress = event(30);
    vi.advanceTimersByTime(10_500);
    live.progress = event(55);
    vi.advanceTimersByTime(10_000);
    expect(lines).toEqual([expect.stringMatching(/^create: creating 10%/), expect.stringMatching(/^create: creating 30%/), expect.stringMatching(/^create: creating 55%/)]);
    display.stop();
    live.progress = event(80);
    vi.advanceTimersByTime(30_000);
    expect(lines).toHaveLength(3);
  });
});
