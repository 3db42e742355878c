/**
 * prune: `borg prune` of this drone's archives (never another drone's: scoped to its prefix)
 * by the keep rules: the settings in force for the primary, the configuration's for the
 * offsite repository. Skipped, and the run marked held, while the prune guard holds prune.
 */
import { type ApplicationState } from "../../../../libs/protocol/index.mjs";
import { type KeepSettings } from "../../config.mjs";
import { holdMessage } from "../guard.mjs";
import { type RepositoryRole } from "../repositories.mjs";
import { type RunContext, toIso } from "../run-context.mjs";
import { keepRulesOf } from "../settings.mjs";

const STATE: Record<RepositoryRole, ApplicationState> = { primary: "pruning", offsite: "offsite_pruning" };

/** The keep rules of a role's repository. */
export function keepRules(context: RunContext, role: RepositoryRole): KeepSettings {
  const offsite = role === "offsite" ? context.config.offsite : undefined;
  return offsite ? offsite.keep : keepRulesOf(context.settings());
}

/** True (and the run marked held) when the prune guard holds prune. */
function pruneHeld(context: RunContext, role: RepositoryRole): boolean {
  const hold = context.store.get().pruneHold;
  if (!hold) return false;
  context.held = holdMessage(hold.reasons);
  context.log.warn(`${role} prune skipped: ${context.held}`);
  return true;
}

/** Prune a role's repository by its keep rules, unless prune is held. */
export async function prune(context: RunContext, role: RepositoryRole): Promise<void> {
  if (pruneHeld(context, role)) return;
  context.setState(STATE[role]);
  const tracker = context.progress(role);
  const run = await context.borg(role).prune({ prefix: context.archivePrefix, keep: keepRules(context, role) }, context.call(tracker.onEvent));
  tracker.finish(true);
  context.pruned.push(...run.value.pruned);
  context.warnings.push(...run.warnings.map(warning => warning.message));
  if (role === "primary") await context.store.update(state => void (state.lastPrune = toIso(new Date())));
  context.log.info(`prune kept ${run.value.kept.length} and removed ${run.value.pruned.length} archives of ${context.archivePrefix}*`);
}
