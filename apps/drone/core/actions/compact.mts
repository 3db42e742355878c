/** compact: `borg compact` of a role's repository, freeing the space prune released. */
import { type ApplicationState } from "../../../../libs/protocol/index.mjs";
import { type RepositoryRole } from "../repositories.mjs";
import { type RunContext } from "../run-context.mjs";

const STATE: Record<RepositoryRole, ApplicationState> = { primary: "compacting", offsite: "offsite_compacting" };

/** Compact a role's repository. */
export async function compact(context: RunContext, role: RepositoryRole): Promise<void> {
  context.setState(STATE[role]);
  const tracker = context.progress(role);
  await context.borg(role).compact({}, context.call(tracker.onEvent));
  tracker.finish(true);
}
