/**
 * When Home Assistant learns of a change of the engine: at once, except a run moving from one
 * step to the next (creating → pruning → compacting → updating_stats). That change is shown
 * once the new step held for STEP_SETTLE_MS, so the short steps at a run's end cost no
 * Application State write and no status event (five recorder rows each), while a step that
 * lasts (a long prune or compact) still shows.
 */
import { type ApplicationState } from "../../../libs/protocol/index.mjs";

/** A run's next step is shown once it held this long (a run starting or ending is shown at once). */
export const STEP_SETTLE_MS = 30_000;

/** Whether going from the shown state to `next` is a run moving on to another step (shown late). */
export function isStepChange(shown: ApplicationState, next: ApplicationState): boolean {
  return shown !== next && shown !== "idle" && next !== "idle";
}

/** What the settle needs: the engine's state now, a timer, and what showing a change does. */
export interface StepSettleOptions {
  state: () => ApplicationState;
  setTimeout: (callback: () => void, ms: number) => () => void;
  /** Write the entities and send the status, as the engine stands now. */
  show: () => void;
  settleMs?: number;
}

/** The settle of one drone's changes. */
export interface StepSettle {
  /** Feed it every change of the engine: `show` is called at once, or once the new step held. */
  changed: () => void;
  /** The state Home Assistant was last shown (what a status event sent meanwhile carries). */
  shown: () => ApplicationState;
}

/** Settle the changes of an engine before Home Assistant is shown them. */
export function createStepSettle(options: StepSettleOptions): StepSettle {
  const settleMs = options.settleMs ?? STEP_SETTLE_MS;
  let shown = options.state();
  let timer: (() => void) | undefined;
  const show = () => {
    timer?.();
    timer = undefined;
    shown = options.state();
    options.show();
  };
  return {
    changed: () => {
      // the first step change waits; changes while it waits (another step) are shown with it
      if (isStepChange(shown, options.state())) timer ??= options.setTimeout(show, settleMs);
      else show();
    },
    shown: () => shown,
  };
}
