/**
 * The safety rules of a restore, as pure checks: where it may write, which archives it
 * may read, and which paths it takes. The engine applies them before borg starts.
 */
import { lstat, readdir } from "node:fs/promises";
import { isAbsolute, normalize } from "node:path";

import { DroneError } from "./errors.mjs";

/** The archive name that means "this drone's newest archive". */
export const LATEST = "latest";

/** The longest restore target accepted (Home Assistant's text limit). */
export const MAX_TARGET_LENGTH = 255;

/**
 * Why a restore target is unacceptable, or undefined when it is fine: an absolute path,
 * no `..` segments, no control characters, at most 255 characters. Empty is "not set".
 */
export function targetProblem(target: string): string | undefined {
  if (target.length === 0) return "no restore target is set: give an absolute folder, e.g. /srv/restore";
  if (target.length > MAX_TARGET_LENGTH) return `the restore target is longer than ${MAX_TARGET_LENGTH} characters`;
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\u0000-\u001f\u007f]/.test(target)) return "the restore target contains control characters";
  if (!isAbsolute(target)) return `the restore target must be an absolute folder (starting with /), got ${JSON.stringify(target)}`;
  if (target.split("/").includes("..")) return `the restore target must not contain "..", got ${JSON.stringify(target)}`;
  return undefined;
}

/** The target in canonical form (no trailing slash, no `//`), after {@link targetProblem} said it is fine. */
export const canonicalTarget = (target: string) => (target === "/" ? "/" : normalize(target).replace(/\/+$/, ""));

/** What is at the target: nothing (borg's cwd is created), an empty folder, a folder with entries, or something else. */
export async function inspectTarget(target: string): Promise<"missing" | "empty" | "not_empty" | "not_a_folder"> {
  let stats;
  try {
    stats = await lstat(target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return "missing";
    throw error;
  }
  if (!stats.isDirectory()) return "not_a_folder";
  return (await readdir(target)).length === 0 ? "empty" : "not_empty";
}

/**
 * Check that an archive name is one of this drone's (`<id>@…`), or `latest`. Another
 * drone's archive is restored by running as that drone (`--DRONE_ID=<its id>`), which
 * keeps the choice explicit.
 */
export function archiveProblem(archive: string, prefix: string): string | undefined {
  if (archive === LATEST) return undefined;
  if (archive.length === 0) return "no archive given: name one of this drone's archives, or latest";
  if (!archive.startsWith(prefix) || archive.length === prefix.length) {
    return `archive ${JSON.stringify(archive)} is not one of this drone's (their names start with ${prefix}); list them with \`backup-drone list\`, or restore another drone's archive by running as that drone (--DRONE_ID=<its id>)`;
  }
  if (archive.includes("::") || archive.includes("/")) return `archive ${JSON.stringify(archive)} is not an archive name`;
  return undefined;
}

/** Paths as borg stores them: relative, without a leading slash. Refuses `..` and empty paths. */
export function archivePaths(paths: readonly string[]): string[] {
  return paths.map(path => {
    const stored = path.replace(/^\/+/, "").replace(/\/+$/, "");
    if (stored.length === 0) throw new DroneError("path_invalid", `${JSON.stringify(path)} is not a path inside the archive`);
    if (stored.split("/").includes("..")) throw new DroneError("path_invalid", `${JSON.stringify(path)} must not contain ".."`);
    return stored;
  });
}
