/**
 * restore: extract an archive of this drone (or some of its paths) into a folder, after the
 * safety rules of core/restore.mts (only this drone's archives; a missing or empty folder,
 * unless replacing is allowed). Without a request, the Restore Archive and Restore Target
 * settings say what and where.
 */
import { mkdir } from "node:fs/promises";

import { listArchives } from "../archives.mjs";
import { type DumpRestoreRequest, prepareDumpRestore, runDumpRestore } from "../dumps/restore.mjs";
import { DroneError } from "../errors.mjs";
import { archivePaths, archiveProblem, canonicalTarget, inspectTarget, LATEST, targetProblem } from "../restore.mjs";
import { type RestoreRequest, type RunContext } from "../run-context.mjs";

/** This drone's newest archive, for `latest`. */
async function newestArchive(context: RunContext): Promise<string> {
  const run = await context.borg("primary").list({ prefix: context.archivePrefix, last: 1 }, context.call());
  const newest = run.value.archives.at(-1);
  if (!newest) throw new DroneError("no_archives", `${context.config.droneId} has no archives in ${context.config.repository} yet: nothing to restore`);
  return newest.name;
}

/** How often a dump restore's byte count becomes a progress event, at most. */
const DUMP_PROGRESS_MS = 200;

/**
 * Restore a dump: stream its data from the archive into its database tool or a new file
 * (dumps/restore.mts), refusing to replace a live database unless the request confirms it.
 */
async function restoreDump(context: RunContext, request: DumpRestoreRequest): Promise<void> {
  context.setState("restoring");
  const client = context.borg("primary");
  const prepared = await prepareDumpRestore(
    {
      client,
      call: () => context.call(),
      archives: () => listArchives(client, context.store, context.notify, context.archivePrefix),
      archivePrefix: context.archivePrefix,
      droneId: context.config.droneId,
      dumps: context.config.dumps,
    },
    request,
  );
  context.restore = { archive: prepared.archive, target: prepared.plan.target, paths: [prepared.dataPath] };
  const tracker = context.progress("primary");
  let shownAt = 0;
  const onBytes = (bytes: number) => {
    const now = Date.now();
    if (now - shownAt < DUMP_PROGRESS_MS) return;
    shownAt = now;
    const message = `${prepared.name}: ${bytes} bytes`;
    tracker.onEvent({ type: "progress_percent", operation: 0, msgid: "dump.restore", finished: false, message, current: bytes, total: prepared.size ?? undefined, time: new Date() });
  };
  try {
    const outcome = await runDumpRestore({ client, call: context.call(tracker.onEvent), signal: context.signal, onBytes, log: context.log }, prepared, request.replace);
    tracker.finish(true);
    context.warnings.push(...outcome.warnings);
    context.log.info(`restored dump ${prepared.name} (${outcome.bytes} bytes) from ${prepared.archive} into ${prepared.plan.target}`);
  } catch (error) {
    tracker.finish(false);
    throw error;
  }
}

/** Extract an archive (or some of its paths) into the target folder, after the safety rules; or restore a dump. */
export async function restore(context: RunContext): Promise<void> {
  if (context.job.dump) return await restoreDump(context, context.job.dump);
  const current = context.settings();
  const request: RestoreRequest = context.job.restore ?? { archive: current.restoreArchive, target: current.restoreTarget };
  const archiveIssue = archiveProblem(request.archive, context.archivePrefix);
  if (archiveIssue) throw new DroneError("archive_not_ours", archiveIssue);
  const targetIssue = targetProblem(request.target);
  if (targetIssue) throw new DroneError("target_invalid", targetIssue);
  const target = canonicalTarget(request.target);
  const paths = archivePaths(request.paths ?? []);
  const found = await inspectTarget(target);
  if (found === "not_a_folder") throw new DroneError("target_invalid", `the restore target ${target} exists and is not a folder`);
  if (found === "not_empty" && !request.overwrite) {
    throw new DroneError(
      "target_not_empty",
      `the restore target ${target} is not empty; nothing was restored. Restore into a new or empty folder, or allow replacing the files of the same paths (backup-drone restore --overwrite)`,
    );
  }
  context.setState("restoring");
  const archive = request.archive === LATEST ? await newestArchive(context) : request.archive;
  if (found === "missing") await mkdir(target, { recursive: true, mode: 0o700 });
  context.restore = { archive, target, paths };
  context.log.info(`restoring ${archive}${paths.length > 0 ? ` (${paths.join(", ")})` : ""} into ${target}`);
  const tracker = context.progress("primary");
  try {
    const run = await context.borg("primary").extract({ archive, target, paths }, context.call(tracker.onEvent));
    tracker.finish(true);
    context.warnings.push(...run.warnings.map(warning => warning.message));
  } catch (error) {
    tracker.finish(false);
    throw error;
  }
}
