/**
 * restore: extract an archive of this drone (or some of its paths) into a folder, after the
 * safety rules of core/restore.mts (only this drone's archives; a missing or empty folder,
 * unless replacing is allowed). Without a request, the Restore Archive and Restore Target
 * settings say what and where.
 */
import { mkdir } from "node:fs/promises";

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

/** Extract an archive (or some of its paths) into the target folder, after the safety rules. */
export async function restore(context: RunContext): Promise<void> {
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
