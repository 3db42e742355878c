import { describe, expect, it } from "vitest";

import { type ApplicationState } from "../../../libs/protocol/index.mjs";
import { createStepSettle, isStepChange, STEP_SETTLE_MS } from "../../../apps/drone/ha/step-settle.mjs";

/** A settle on a hand-driven clock: what it showed (Application State each time), and the timers it holds. */
function harness() {
  let state: ApplicationState = "idle";
  let now = 0;
  const timers: { at: number; callback: () => void; live: boolean }[] = [];
  const shown: ApplicationState[] = [];
  const settle = createStepSettle({
    state: () => state,
    setTimeout: (callback, ms) => {
      const timer = { at: now + ms, callback, live: true };
      timers.push(timer);
      return () => void (timer.live = false);
    },
    show: () => shown.push(settle.shown()),
  });
  return {
    shown,
    /** The engine changed (its state to `next`, or another fact with the same state). */
    set: (next: ApplicationState) => {
      state = next;
      settle.changed();
    },
    advance: (ms: number) => {
      now += ms;
      for (const timer of timers.filter(timer => timer.live && timer.at <= now)) {
        timer.live = false;
        timer.callback();
      }
    },
    pending: () => timers.filter(timer => timer.live).length,
    current: () => settle.shown(),
  };
}

describe("when Home Assistant learns of a change of the engine", () => {
  it("a run starting or ending, and any change within a step, at once", () => {
    expect(isStepChange("idle", "creating")).toBe(false);
    expect(isStepChange("updating_stats", "idle")).toBe(false);
    expect(isStepChange("creating", "creating")).toBe(false);
    expect(isStepChange("creating", "pruning")).toBe(true);
    const h = harness();
    h.set("creating");
    h.set("creating");
    expect(h.shown).toEqual(["creating", "creating"]);
    expect(h.pending()).toBe(0);
  });

  it("short steps at a run's end are never shown: the run's end is, at once", () => {
    const h = harness();
    h.set("creating");
    h.set("pruning");
    h.advance(2_000);
    h.set("compacting");
    h.advance(2_000);
    h.set("updating_stats");
    expect(h.shown).toEqual(["creating"]);
    expect(h.current()).toBe("creating");
    h.set("idle");
    expect(h.shown).toEqual(["creating", "idle"]);
    expect(h.pending()).toBe(0);
    h.advance(STEP_SETTLE_MS);
    expect(h.shown).toEqual(["creating", "idle"]);
  });

  it("only the step waits: another change meanwhile (mode, queue, a prune hold) is shown at once, Application State still at the step shown", () => {
    const h = harness();
    h.set("creating");
    h.set("pruning");
    h.advance(1_000);
    // the mode changed (the state did not): shown now, with the step shown before
    h.set("pruning");
    expect(h.shown).toEqual(["creating", "creating"]);
    expect(h.current()).toBe("creating");
    // the step still shows once it held, counted from the step change
    expect(h.pending()).toBe(1);
    h.advance(STEP_SETTLE_MS - 1_000 - 1);
    expect(h.shown).toEqual(["creating", "creating"]);
    h.advance(1);
    expect(h.shown).toEqual(["creating", "creating", "pruning"]);
    // another step, then a change within it: shown at once, the new step still waiting
    h.set("compacting");
    h.set("compacting");
    expect(h.shown).toEqual(["creating", "creating", "pruning", "pruning"]);
    expect(h.pending()).toBe(1);
  });

  it("a step that lasts is shown STEP_SETTLE_MS after the run moved on, as the engine stands then", () => {
    const h = harness();
    h.set("creating");
    h.set("pruning");
    h.advance(STEP_SETTLE_MS - 1);
    h.set("compacting");
    expect(h.shown).toEqual(["creating"]);
    h.advance(1);
    expect(h.shown).toEqual(["creating", "compacting"]);
    // the next step waits again, from its own start
    h.set("updating_stats");
    h.advance(STEP_SETTLE_MS - 1);
    expect(h.shown).toEqual(["creating", "compacting"]);
    h.advance(1);
    expect(h.shown).toEqual(["creating", "compacting", "updating_stats"]);
  });
});
