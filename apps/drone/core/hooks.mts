/** Shell hooks around a backup (a database dump before, a notification after). */
import { type ProcessRun, runShell } from "../../../libs/process/index.mjs";
import { type HookSetting } from "../config.mjs";

/** How a hook ended. */
export interface HookOutcome {
  ok: boolean;
  /** One line for the result and the log (the command itself is not repeated: it may hold credentials). */
  summary: string;
  /** The last lines the hook wrote, for the log. */
  output: string[];
  /** The run's abort stopped it (or kept it from starting): the run cannot go on. */
  interrupted: boolean;
}

/** A hook's stage, as messages name it. */
export type HookStage = "before" | "after" | "on_error";

/** Why a run was aborted, from its abort reason: the reason's own message, if it has one. */
export function abortWhy(reason: unknown): string {
  return reason instanceof Error && reason.name !== "AbortError" && reason.message.length > 0 ? reason.message : "cancelled";
}

/** The one-line summary of a hook's run. */
export function hookSummary(stage: HookStage, timeoutSeconds: number, run: Pick<ProcessRun, "end" | "started" | "stopped">): string {
  const hook = `${stage} hook`;
  const stopped = run.stopped?.groupGone === false ? "some of its processes could not be stopped" : "its processes were stopped";
  const { end } = run;
  switch (end.kind) {
    case "exited":
      if (end.code === 0) return `${hook} succeeded`;
      return end.code === null ? `${hook} was killed by ${end.signal ?? "a signal"}` : `${hook} exited with ${end.code}`;
    case "timed_out":
      return `${hook} timed out after ${timeoutSeconds} s; ${stopped}`;
    case "aborted":
      return run.started
        ? `${hook} stopped: the run was interrupted (${abortWhy(end.reason)}); ${stopped}`
        : `${hook} not run: the run was interrupted (${abortWhy(end.reason)})`;
    case "not_started":
      return `${hook} could not start (${end.code})`;
  }
}

/**
 * Run one hook through `sh -c` in a process group of its own, with a deadline and the run's
 * abort: at either, the whole group is stopped (SIGTERM, then SIGKILL). Never throws.
 */
export async function runHook(
  stage: HookStage,
  hook: HookSetting,
  timeoutSeconds: number,
  env: Record<string, string>,
  signal?: AbortSignal,
): Promise<HookOutcome> {
  const run = await runShell(hook.command, { env, timeoutMs: timeoutSeconds * 1000, signal });
  const output = run.all
    .split("\n")
    .filter(line => line.trim().length > 0)
    .slice(-10);
  const ok = run.end.kind === "exited" && run.end.code === 0;
  return { ok, summary: hookSummary(stage, timeoutSeconds, run), output, interrupted: run.end.kind === "aborted" };
}
