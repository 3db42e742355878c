/**
 * The env file and the environment as both bins read them, before Digital Alchemy loads (no
 * DA import here: the bins check their command line with it first): only `--env-file FILE`,
 * never `./.env`, and a warning for what is ignored.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { parseEnv } from "node:util";

import { ignoredSourceWarnings } from "./sources.mjs";

/**
 * The env file a bin reads: `--env-file FILE` only. A `./.env` in the folder a command runs
 * from belongs to whatever project lives there (a systemd unit passes its EnvironmentFile itself).
 */
export function envFilePath(envFile: string | undefined, cwd = process.cwd()): string | undefined {
  return envFile === undefined ? undefined : isAbsolute(envFile) ? envFile : join(cwd, envFile);
}

/** The variables of an env file, if given and readable. */
export function envFileVariables(envFile: string | undefined, cwd = process.cwd()): NodeJS.Dict<string> {
  const file = envFilePath(envFile, cwd);
  if (file === undefined || !existsSync(file)) return {};
  try {
    return parseEnv(readFileSync(file, "utf8"));
  } catch {
    return {};
  }
}

/**
 * Put the env file's variables into this process's environment, for what reads it directly
 * (hass's SUPERVISOR_TOKEN, a drone hook's PGPASSWORD): an exported variable keeps its value.
 */
export function exportEnvFile(variables: NodeJS.Dict<string>, env: NodeJS.ProcessEnv = process.env): void {
  for (const [name, value] of Object.entries(variables)) if (env[name] === undefined && value !== undefined) env[name] = value;
}

/**
 * Check `--config FILE` (before DA does: its own message is terse) or `--env-file FILE` (which
 * would otherwise be skipped without a word); returns a problem or undefined.
 */
export function configFileProblem(file: string | undefined, option: "--config" | "--env-file" = "--config"): string | undefined {
  if (file === undefined) return undefined;
  if (!existsSync(file)) return `${option} ${file}: no such file`;
  if (!statSync(file).isFile()) return `${option} ${file}: not a file`;
  return undefined;
}

/**
 * What to warn about once at start: unprefixed variables naming a key of `modules`, and a
 * `./.env` in the working folder holding the app's variables (unless it is the `--env-file`).
 */
export function startWarnings(options: {
  /** The app as a sentence names it: `the drone`, `the coordinator`. */
  app: string;
  modules: ReadonlyMap<string, readonly string[]>;
  prefixes: readonly string[];
  env: NodeJS.ProcessEnv;
  envFile?: string;
  cwd?: string;
}): string[] {
  const cwd = options.cwd ?? process.cwd();
  const dotEnvPath = join(cwd, ".env");
  const dotEnv = dotEnvPath !== envFilePath(options.envFile, cwd) ? envFileVariables(dotEnvPath, cwd) : {};
  return ignoredSourceWarnings({ app: options.app, modules: options.modules, prefixes: options.prefixes, env: options.env, dotEnv: { path: "./.env", variables: dotEnv } });
}
