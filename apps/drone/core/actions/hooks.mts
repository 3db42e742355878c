/**
 * hooks: the shell commands around a backup (before, after, on error), each with its failure
 * policy: `ignore`, `continue` (a warning), `break` (the run fails). Whatever the policy, a hook
 * stopped by the run's abort ends the run. How a hook process runs is core/hooks.mts.
 */
import { inheritedEnv } from "../../../../libs/borg/environment.mjs";
import { secretConfigVariables } from "../../config.mjs";
import { DroneError } from "../errors.mjs";
import { type HookStage } from "../hooks.mjs";
import { type RunContext } from "../run-context.mjs";

/**
 * A hook's environment: the drone's without its secrets (see libs/borg/environment.mts) and
 * without the variables that set its passphrase or token, except those HOOK_ENV_PASSTHROUGH
 * names; then what the hook is told about the run.
 */
export function hookEnv(context: RunContext, stage: HookStage, error?: string): Record<string, string> {
  const env = inheritedEnv(process.env, { drop: secretConfigVariables(), keep: context.config.hooks.envPassthrough });
  Object.assign(env, {
    BACKUP_DRONE_ID: context.config.droneId,
    BACKUP_STAGE: stage,
    BACKUP_OPERATION: context.job.operation,
    BACKUP_RUN_ID: context.job.runId,
  });
  if (error !== undefined) env.BACKUP_ERROR = error;
  return env;
}

/** Run a stage's hook, if one is configured, and apply its policy. `error` is what the on_error hook is told. */
export async function hook(context: RunContext, stage: HookStage, error?: string): Promise<void> {
  const { hooks } = context.config;
  const setting = stage === "before" ? hooks.before : stage === "after" ? hooks.after : hooks.onError;
  if (!setting) return;
  const previous = context.state();
  context.setState("running_hooks");
  // the on_error hook runs after the run's abort (it reports it): only a shutdown stops it
  const signal = stage === "on_error" ? context.shutdown : context.signal;
  const outcome = await context.runHook(stage, setting, hooks.timeoutSeconds, hookEnv(context, stage, error), signal);
  context.setState(previous);
  for (const line of outcome.output) context.log.debug(`${stage} hook: ${line}`);
  if (outcome.ok) {
    context.log.info(outcome.summary);
    return;
  }
  // whatever the policy: the run was interrupted, nothing after the hook may start
  if (outcome.interrupted) throw new DroneError("interrupted", outcome.summary);
  if (setting.policy === "ignore") context.log.info(`${outcome.summary} (ignored by policy)`);
  else if (setting.policy === "continue") {
    context.log.warn(outcome.summary);
    context.warnings.push(outcome.summary);
  } else throw new DroneError("hook_failed", `${outcome.summary}; the run stopped (policy break)`);
}
