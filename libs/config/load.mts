/**
 * What both bins do around Digital Alchemy's configuration loading: find and read the
 * configuration files as DA does, check switches against the loaded modules' keys, and hand
 * DA the values of the sources above the files (./sources.mts) through a loader of its own.
 * It imports DA: a bin loads it only after deferring dotenvx (./defer-dotenvx.mts).
 */
import { configFilePaths, loadConfigFromFile, type TServiceParams } from "@digital-alchemy/core";
import { z } from "zod";

import { envFilePath, envFileVariables } from "./env-file.mjs";
import { ConfigError } from "./errors.mjs";
import { closestName } from "./index.mjs";
import { type ConfigSwitch, type KeyTypes, overridingValues, type Resolution, resolveSources } from "./sources.mjs";

const record = z.record(z.string(), z.unknown());

/** The configuration files DA will read for the application `appName`, in the order it reads them (later ones win). */
export function configFiles(appName: string, explicit: string | undefined): string[] {
  return explicit === undefined ? configFilePaths(appName) : [explicit];
}

/** The contents of one configuration file as DA reads it; a file DA cannot read is DA's to report. */
export function fileContent(file: string): Record<string, unknown> {
  const content: Parameters<typeof loadConfigFromFile>[0] = {};
  try {
    loadConfigFromFile(content, file);
  } catch {
    return {};
  }
  const parsed = record.safeParse(content);
  return parsed.success ? parsed.data : {};
}

/** The merged sections of the configuration files, as DA merges them (throws on a file it cannot parse). */
export function readConfigFiles(files: readonly string[]): Record<string, Record<string, unknown>> {
  const merged: Parameters<typeof loadConfigFromFile>[0] = {};
  for (const file of files) loadConfigFromFile(merged, file);
  const parsed = record.safeParse(merged);
  if (!parsed.success) return {};
  const out: Record<string, Record<string, unknown>> = {};
  for (const [section, values] of Object.entries(parsed.data)) {
    const entries = record.safeParse(values);
    if (entries.success) out[section] = entries.data;
  }
  return out;
}

/** A configuration key in the spelling DA matches switches with: case and `-`/`_` ignored. */
const normalise = (name: string) => name.toLowerCase().replaceAll("-", "_");

/**
 * The first switch that is no option of the command (`options`) and names no key of the loaded
 * modules (`KEY` or `module_KEY`), as one line with the likeliest meant name; undefined when all are known.
 */
export function unknownSwitchProblem(
  switches: readonly ConfigSwitch[],
  modules: Iterable<readonly [string, Readonly<Record<string, unknown>>]>,
  options: readonly string[] = [],
): string | undefined {
  const known = new Set<string>();
  const names = [...options];
  for (const [module, definitions] of modules) {
    for (const key of Object.keys(definitions)) {
      known.add(normalise(key));
      known.add(normalise(`${module.replaceAll("-", "_")}_${key}`));
      names.push(key);
    }
  }
  const unknown = switches.find(entry => !known.has(normalise(entry.name)));
  if (unknown === undefined) return undefined;
  const suggestion = closestName(unknown.name, names);
  return `unknown option --${unknown.name}: not an option of the command, nor a configuration key${suggestion ? `; did you mean --${suggestion}?` : ""} (see --help)`;
}

/** What the sources loader reads. */
export interface SourcesLoaderOptions {
  switches: readonly ConfigSwitch[];
  /** The configuration files DA reads (they are read again here only to say where a value came from). */
  files: readonly string[];
  /** `--env-file FILE`, when given. */
  envFile?: string;
  /** The exported environment, as the process got it (before the env file was added). */
  env: NodeJS.ProcessEnv;
  /** `--token TOKEN`, when given. */
  token?: string;
  /** Say the problems (a value that cannot be read, naming its variable or switch) and end the process. */
  fail: (error: ConfigError) => never;
}

/** Resolve every key of `modules` from the configuration files, the env file, the environment and the switches (./sources.mts). */
export function resolveFromSources(options: Omit<SourcesLoaderOptions, "fail"> & { modules: KeyTypes }): Resolution {
  const envFile = envFilePath(options.envFile);
  return resolveSources({
    modules: options.modules,
    files: options.files.map(path => ({ path, content: fileContent(path) })),
    ...(envFile === undefined ? {} : { envFile: { path: envFile, variables: envFileVariables(options.envFile) } }),
    env: options.env,
    switches: options.switches,
    token: options.token,
  });
}

/**
 * Register, before DA loads its configuration (call it from `onPreInit`), the loader that
 * sets what the env file, the environment and the switches give: after the files, which DA
 * reads itself. Boot with `configSources: { env: false, argv: false }` so that DA reads neither.
 */
export function registerSourcesLoader(internal: TServiceParams["internal"], options: SourcesLoaderOptions): void {
  internal.boilerplate.configuration.registerLoader(({ configs }) => {
    const resolution = resolveFromSources({ ...options, modules: configs });
    if (resolution.problems.length > 0) options.fail(new ConfigError(resolution.problems));
    return Promise.resolve(overridingValues(resolution));
  }, "env");
}
