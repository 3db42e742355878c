/** Shell hooks around a backup (a database dump before, a notification after). */
import { type HookSetting } from "../config.mjs";

/** How a hook ended. */
export interface HookOutcome {
  ok: boolean;
  /** One line for the result and the log (the command itself is not repeated: it may hold credentials). */
  summary: string;
  /** The last lines the hook wrote, for the log. */
  output: string[];
}

/** Run one hook through `sh -c` with a deadline; never throws. */
export async function runHook(
  stage: "before" | "after" | "on_error",
  hook: HookSetting,
  timeoutSeconds: number,
  env: Record<string, string>,
): Promise<HookOutcome> {
  // loaded on first use, as in libs/borg/runner.mts
  const { execa } = await import("execa");
  const result = await execa("sh", ["-c", hook.command], {
    reject: false,
    timeout: timeoutSeconds * 1000,
    env,
    stdin: "ignore",
    all: true,
    forceKillAfterDelay: 5000,
  });
  const output = (result.all ?? "").split("\n").filter(line => line.trim().length > 0).slice(-10);
  if (result.timedOut) return { ok: false, summary: `${stage} hook timed out after ${timeoutSeconds} s`, output };
  if (result.exitCode === 0) return { ok: true, summary: `${stage} hook succeeded`, output };
  const how = result.exitCode === undefined ? `could not start (${result.code ?? "error"})` : `exited with ${result.exitCode}`;
  return { ok: false, summary: `${stage} hook ${how}`, output };
}
