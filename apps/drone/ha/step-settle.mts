/**
 * When Home Assistant learns of a change of the engine: at once, except a run moving from one
 * step to the next (creating → pruning → compacting → updating_stats). That step is shown once
 * it held for STEP_SETTLE_MS, so the short steps at a run's end cost no Application State
 * write and no status event (five recorder rows each), while a step that lasts (a long prune
 * or compact) still shows. Only the step waits: any other change meanwhile (the mode, the
 * queue, a prune hold) is shown at once, with Application State still at the step shown.
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
  /** Write the entities and send the status as the engine stands now, Application State as `shown()` says. */
  show: () => void;
  settleMs?: number;
}

/** The settle of one drone's changes. */
export interface StepSettle {
  /** Feed it every change of the engine: `show` is called at once, or once the new step held. */
  changed: () => void;
  /** The state Home Assistant is shown (what Application State and a status event carry). */
  shown: () => ApplicationState;
}

/** Settle the changes of an engine before Home Assistant is shown them. */
export function createStepSettle(options: StepSettleOptions): StepSettle {
  const settleMs = options.settleMs ?? STEP_SETTLE_MS;
  let shown = options.state();
  /** The engine's state at the last change: a change that leaves it is no step change. */
  let seen = shown;
  let timer: (() => void) | undefined;
  const reveal = () => {
    timer?.();
    timer = undefined;
    shown = options.state();
    options.show();
  };
  return {
    changed: () => {
      const state = options.state();
      const stepMoved = state !== seen;
      seen = state;
      if (!isStepChange(shown, state)) return reveal();
      // the first step change waits (another step meanwhile is shown with it); what changed
      // besides the step (the facts the same change brought wait with it) goes out at once
      timer ??= options.setTimeout(reveal, settleMs);
      if (!stepMoved) options.show();
    },
    shown: () => shown,
  };
}
