import { describe, expect, it } from "vitest";

import { PROGRESS_ENTITY_STEP, progressMoved } from "../../../apps/drone/ha/values.mjs";

describe("when the Progress sensor changes", () => {
  it("the first event of a run and every new step are shown", () => {
    expect(progressMoved(undefined, { percent: 0.4, state: "creating" })).toBe(true);
    expect(progressMoved({ percent: 95, state: "creating" }, { percent: 2, state: "pruning" })).toBe(true);
  });

  it("within a step, only a move of PROGRESS_ENTITY_STEP points is shown, either way", () => {
    const shown = { percent: 30, state: "creating" };
    expect(progressMoved(shown, { percent: 30 + PROGRESS_ENTITY_STEP - 0.1, state: "creating" })).toBe(false);
    expect(progressMoved(shown, { percent: 30 + PROGRESS_ENTITY_STEP, state: "creating" })).toBe(true);
    // the sources grew past the estimate and it was made again, lower
    expect(progressMoved(shown, { percent: 30 - PROGRESS_ENTITY_STEP, state: "creating" })).toBe(true);
  });

  it("an estimate gained or lost is shown; no estimate, nothing to show again", () => {
    expect(progressMoved({ percent: null, state: "creating" }, { percent: 3, state: "creating" })).toBe(true);
    expect(progressMoved({ percent: 40, state: "creating" }, { percent: null, state: "creating" })).toBe(true);
    expect(progressMoved({ percent: null, state: "creating" }, { percent: null, state: "creating" })).toBe(false);
  });
});
