/**
 * stats: the repository's totals (`borg info`) and this drone's archives (`borg list`,
 * scoped to its prefix), recorded for the size sensors, Archive Count and the Restore
 * Archive choice.
 */
import { type ApplicationState } from "../../../../libs/protocol/index.mjs";
import { rememberArchives, storedTotals } from "../archives.mjs";
import { type RepositoryRole } from "../repositories.mjs";
import { type RunContext } from "../run-context.mjs";

const STATE: Record<RepositoryRole, ApplicationState> = { primary: "updating_stats", offsite: "offsite_updating_stats" };

/** Read and record a role's repository totals (and, for the primary, this drone's archives). */
export async function stats(context: RunContext, role: RepositoryRole): Promise<void> {
  context.setState(STATE[role]);
  const info = await context.borg(role).info({}, context.call());
  const list = await context.borg(role).list({ prefix: context.archivePrefix }, context.call());
  const totals = storedTotals(info.value.totals);
  await context.store.update(state => {
    if (role === "primary") {
      state.totals = totals;
      state.archiveCount = list.value.archives.length;
    } else state.offsiteTotals = totals;
  });
  if (role === "primary") await rememberArchives(context.store, context.notify, list.value.archives.map(archive => archive.name).reverse());
}
