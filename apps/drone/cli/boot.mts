/**
 * What the daemon and the one-shot commands share around booting the drone: where the
 * configuration comes from, whether Home Assistant is configured, and a guard service that
 * reports a bad command line or configuration on stderr (at any log level) and exits 2.
 */
import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { parseEnv } from "node:util";

import { configFilePaths, loadConfigFromFile, type TServiceParams } from "@digital-alchemy/core";
import { z } from "zod";

import { closestName } from "../../../libs/config/index.mjs";
import { ConfigError, DRONE_CONFIGURATION, parseDroneConfig, passphraseProblem } from "../config.mjs";
import { createLocalDroneApplication } from "../drone-library.mjs";
import { type ConfigSwitch } from "./args.mjs";
import { configFileSecrets, envFileSecrets, type SecretFile, secretFileWarnings } from "./permissions.mjs";
import { ignoredSourceWarnings, overridingValues, resolveSources } from "./sources.mjs";
import { EXIT_CODES, OPTIONS } from "./spec.mjs";

/** The DA application name: config files are /etc/backup_drone, ./.backup_drone, ~/.config/backup_drone. */
export const APP_NAME = "backup_drone";

/**
 * The drone application for the command line. hass and synapse (with the database drivers
 * synapse pulls in) are imported only with Home Assistant: importing them costs more than
 * a one-shot command takes, and without a token nothing would use them.
 */
export async function loadDroneApplication(homeAssistant: boolean) {
  if (!homeAssistant) return createLocalDroneApplication();
  const { createDroneApplication } = await import("../drone.module.mjs");
  return createDroneApplication({ homeAssistant: true });
}

/** Environment variables that carry a Home Assistant token (the last two are set for add-ons, and hass reads them itself). */
export const TOKEN_VARIABLES = ["HASS_TOKEN", "SUPERVISOR_TOKEN", "HASSIO_TOKEN"] as const;

const sectionSchema = z.record(z.string(), z.unknown());
const fileSchema = z.record(z.string(), z.unknown());

/** The configuration files DA will read, in the order it reads them (later ones win). */
export function configFiles(explicit: string | undefined): string[] {
  return explicit === undefined ? configFilePaths(APP_NAME) : [explicit];
}

/** The merged contents of the configuration files, as DA merges them. */
export function readConfigFiles(files: readonly string[]): Record<string, Record<string, unknown>> {
  const merged: Parameters<typeof loadConfigFromFile>[0] = {};
  for (const file of files) loadConfigFromFile(merged, file);
  const parsed = fileSchema.safeParse(merged);
  if (!parsed.success) return {};
  const out: Record<string, Record<string, unknown>> = {};
  for (const [section, values] of Object.entries(parsed.data)) {
    const entries = sectionSchema.safeParse(values);
    if (entries.success) out[section] = entries.data;
  }
  return out;
}

/** A key of a configuration file that nothing reads (DA ignores it without a word). */
export type FileKeyProblem =
  | { kind: "unknown_key"; file: string; section: string; key: string; suggestion?: string }
  | { kind: "unknown_section"; file: string; section: string; suggestion?: string }
  | { kind: "outside_section"; file: string; key: string; suggestion?: { section: string; key: string } };

/** Sections of modules the drone loads only with Home Assistant: without it their keys cannot be checked. */
const HOME_ASSISTANT_SECTIONS = new Set(["hass", "synapse"]);

const isSection = (value: unknown): value is Record<string, unknown> => sectionSchema.safeParse(value).success && !Array.isArray(value);

/**
 * Keys of one file's contents that no loaded module reads: keys a module does not declare,
 * sections no module owns, and keys outside any section. `modules` maps each loaded
 * module to its keys.
 */
export function fileKeyProblems(file: string, content: Record<string, unknown>, modules: ReadonlyMap<string, readonly string[]>): FileKeyProblem[] {
  const problems: FileKeyProblem[] = [];
  for (const [section, value] of Object.entries(content)) {
    if (!isSection(value)) {
      const key = closestName(section, [...modules.values()].flat());
      const owner = key === undefined ? undefined : [...modules].find(([, keys]) => keys.includes(key))?.[0];
      problems.push({ kind: "outside_section", file, key: section, ...(owner && key ? { suggestion: { section: owner, key } } : {}) });
      continue;
    }
    const keys = modules.get(section);
    if (keys === undefined) {
      if (HOME_ASSISTANT_SECTIONS.has(section)) continue;
      const suggestion = closestName(section, [...modules.keys(), ...HOME_ASSISTANT_SECTIONS]);
      problems.push({ kind: "unknown_section", file, section, ...(suggestion ? { suggestion } : {}) });
      continue;
    }
    for (const key of Object.keys(value)) {
      if (keys.includes(key)) continue;
      const suggestion = closestName(key, keys);
      problems.push({ kind: "unknown_key", file, section, key, ...(suggestion ? { suggestion } : {}) });
    }
  }
  return problems;
}

/** One line naming the file, the section, the key and what it most likely meant. */
export function describeFileKeyProblem(problem: FileKeyProblem): string {
  switch (problem.kind) {
    case "unknown_key":
      return `${problem.file}: [${problem.section}] ${problem.key} is not a configuration key${problem.suggestion ? `; did you mean ${problem.suggestion}?` : ""}`;
    case "unknown_section":
      return `${problem.file}: [${problem.section}] is not a section the drone reads${problem.suggestion ? `; did you mean [${problem.suggestion}]?` : "; its keys go in [drone]"}`;
    case "outside_section":
      return `${problem.file}: ${problem.key} is outside any section${problem.suggestion ? `; did you mean [${problem.suggestion.section}] ${problem.suggestion.key}?` : "; the drone's keys go in [drone]"}`;
  }
}

/** The contents of one configuration file as DA reads it; a file DA cannot read is DA's to report. */
export function fileContent(file: string): Record<string, unknown> {
  const content: Parameters<typeof loadConfigFromFile>[0] = {};
  try {
    loadConfigFromFile(content, file);
  } catch {
    return {};
  }
  const parsed = fileSchema.safeParse(content);
  return parsed.success ? parsed.data : {};
}

/**
 * The env file the drone reads: `--env-file FILE` only. A `./.env` in the folder a command
 * runs from belongs to whatever project lives there, not to the drone (a systemd unit passes
 * its EnvironmentFile itself).
 */
export function envFilePath(envFile: string | undefined, cwd = process.cwd()): string | undefined {
  return envFile === undefined ? undefined : isAbsolute(envFile) ? envFile : join(cwd, envFile);
}

/** The variables of `--env-file FILE`, if given and readable. */
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
 * The keys of the hass library, which the drone loads only with a token: kept here so that a
 * start without Home Assistant can still name a stray `TOKEN` (a unit test checks it against hass).
 */
export const HASS_KEYS = [
  "BASE_URL",
  "EMIT_DIAGNOSTICS",
  "EVENT_DEBOUNCE_MS",
  "EXPECT_RESPONSE_AFTER",
  "FILTER_DISABLED_ENTITIES_ID_BY",
  "RETRY_INTERVAL",
  "SOCKET_AVG_DURATION",
  "SOCKET_CRASH_REQUESTS_PER_SEC",
  "SOCKET_WARN_REQUESTS_PER_SEC",
  "TOKEN",
  "VALIDATE_CONFIGURATION",
] as const;

/**
 * What to warn about once at start: unprefixed variables naming a drone or hass key, and a
 * `./.env` in the working folder holding the drone's variables (unless it is the `--env-file`).
 * Synapse's keys are left out: a plain `DATABASE_URL` is nearly always another program's.
 */
export function startWarnings(options: { env: NodeJS.ProcessEnv; envFile?: string; cwd?: string }): string[] {
  const cwd = options.cwd ?? process.cwd();
  const dotEnvPath = join(cwd, ".env");
  const dotEnv = dotEnvPath !== envFilePath(options.envFile, cwd) ? envFileVariables(dotEnvPath, cwd) : {};
  return ignoredSourceWarnings({
    modules: new Map<string, readonly string[]>([
      ["drone", Object.keys(DRONE_CONFIGURATION)],
      ["hass", HASS_KEYS],
    ]),
    env: options.env,
    dotEnv: { path: "./.env", variables: dotEnv },
  });
}

/**
 * Put the env file's variables into this process's environment, for what the drone starts
 * (a hook's PGPASSWORD, with HOOK_ENV_PASSTHROUGH): an exported variable keeps its value.
 */
export function exportEnvFile(variables: NodeJS.Dict<string>, env: NodeJS.ProcessEnv = process.env): void {
  for (const [name, value] of Object.entries(variables)) if (env[name] === undefined && value !== undefined) env[name] = value;
}

/** Where a Home Assistant token was found, if anywhere (the token itself is never returned). */
export function homeAssistantTokenSource(
  options: { token?: string; files: Record<string, Record<string, unknown>>; envFile?: NodeJS.Dict<string> },
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (options.token) return "--token";
  const variable = TOKEN_VARIABLES.find(name => (env[name] ?? "").trim().length > 0);
  if (variable) return variable;
  const fromEnvFile = TOKEN_VARIABLES.find(name => (options.envFile?.[name] ?? "").trim().length > 0);
  if (fromEnvFile) return `${fromEnvFile} in the env file`;
  const fromFile = options.files.hass?.TOKEN;
  if (typeof fromFile === "string" && fromFile.trim().length > 0) return "the [hass] section of the configuration file";
  return undefined;
}

/** A configuration key in the spelling DA matches switches with: case and `-`/`_` ignored. */
const normalise = (name: string) => name.toLowerCase().replaceAll("-", "_");

/** Keys whose value is a secret: warn when one is given on the command line. */
const SECRET_KEYS = new Set(["passphrase", "offsite_passphrase", "token", "drone_passphrase", "drone_offsite_passphrase", "hass_token"]);

/** Problems with the command line and files that DA would silently ignore. */
export interface GuardOptions {
  switches: readonly ConfigSwitch[];
  files: readonly string[];
  /**
   * What an unknown key in a configuration file does: stops a command that changes the
   * repository (a typo such as `SOURCE=` would silently back up the default), only warns
   * for one that reads.
   */
  unknownKeys: "error" | "warn";
  /** Whether the command opens the repository: then a missing passphrase is a configuration problem. */
  opensRepository: boolean;
  /** `--env-file FILE`, when given. */
  envFile?: string;
  /** The exported environment, as the process got it (before the env file was added). */
  env: NodeJS.ProcessEnv;
  /** `--token TOKEN`, when given. */
  token?: string;
  /** Print a warning for people (stderr). */
  warn: (message: string) => void;
  /** Print an error for people (stderr), at any log level. */
  fail: (message: string) => void;
}

/** The files of this drone's configuration that hold a secret: passphrase files, and config or env files with a passphrase or token. */
function secretFiles(options: GuardOptions, drone: { PASSPHRASE_FILE: string; OFFSITE_PASSPHRASE_FILE: string }): SecretFile[] {
  const files: SecretFile[] = [];
  const passphraseFile = (path: string, holds: string) => {
    if (path.trim().length > 0) files.push({ path: path.trim(), holds });
  };
  passphraseFile(drone.PASSPHRASE_FILE, "the repository passphrase");
  passphraseFile(drone.OFFSITE_PASSPHRASE_FILE, "the offsite repository passphrase");
  for (const file of options.files) {
    let holds: string | undefined;
    try {
      holds = configFileSecrets(readConfigFiles([file]));
    } catch {
      // DA reports a file it cannot read or parse
    }
    if (holds) files.push({ path: file, holds });
  }
  const envFile = envFilePath(options.envFile);
  const envHolds = envFileSecrets(envFileVariables(options.envFile));
  if (envFile !== undefined && envHolds) files.push({ path: envFile, holds: envHolds });
  return files;
}

/**
 * A service appended to the application: checks `--KEY=VALUE` switches against the
 * configuration keys of the loaded modules before anything starts, checks the keys of the
 * configuration files (an error or a warning, see {@link GuardOptions.unknownKeys}), and
 * validates the drone's configuration before the engine starts — every problem at once,
 * on stderr, then exit 2.
 */
export function guardService(options: GuardOptions) {
  return function CliGuardService({ internal, lifecycle, config }: TServiceParams) {
    lifecycle.onPreInit(() => {
      const known = new Set<string>();
      const names: string[] = Object.keys(OPTIONS);
      for (const [module, definitions] of internal.boilerplate.configuration.getDefinitions()) {
        for (const key of Object.keys(definitions)) {
          known.add(normalise(key));
          known.add(normalise(`${module.replaceAll("-", "_")}_${key}`));
          names.push(key);
        }
      }
      for (const entry of options.switches) {
        const name = normalise(entry.name);
        if (!known.has(name)) {
          const suggestion = closestName(entry.name, names);
          options.fail(
            `unknown option --${entry.name}: not an option of the command, nor a configuration key${suggestion ? `; did you mean --${suggestion}?` : ""} (see --help)`,
          );
          process.exit(EXIT_CODES.failed);
        }
        if (SECRET_KEYS.has(name)) {
          options.warn(`--${entry.name} puts a secret on the command line, where other users can see it (ps); prefer a file or an environment variable`);
        }
      }
      // after the files (which DA reads itself): the env file, the environment and the switches, see sources.mts
      internal.boilerplate.configuration.registerLoader(({ configs }) => {
        const envFile = envFilePath(options.envFile);
        const resolution = resolveSources({
          modules: configs,
          files: options.files.map(path => ({ path, content: fileContent(path) })),
          ...(envFile === undefined ? {} : { envFile: { path: envFile, variables: envFileVariables(options.envFile) } }),
          env: options.env,
          switches: options.switches,
          token: options.token,
        });
        if (resolution.problems.length > 0) {
          options.fail(`backup-drone: ${new ConfigError(resolution.problems).message}`);
          process.exit(EXIT_CODES.failed);
        }
        return Promise.resolve(overridingValues(resolution));
      }, "env");
    });

    lifecycle.onPostConfig(() => {
      const modules = new Map<string, string[]>();
      for (const [module, definitions] of internal.boilerplate.configuration.getDefinitions()) modules.set(module, Object.keys(definitions));
      const fileProblems = options.files.flatMap(file => fileKeyProblems(file, fileContent(file), modules)).map(describeFileKeyProblem);
      if (options.unknownKeys === "warn") for (const problem of fileProblems) options.warn(`${problem} (ignored)`);
      const problems = options.unknownKeys === "error" ? [...fileProblems] : [];
      try {
        const parsed = parseDroneConfig({ ...config.drone });
        const passphrase = options.opensRepository ? passphraseProblem(parsed) : undefined;
        if (passphrase !== undefined) problems.push(passphrase);
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        problems.push(...error.problems);
      }
      if (problems.length > 0) {
        const where = options.files.length > 0 ? ` (configuration files: ${options.files.join(", ")})` : "";
        // a `REPOSITORY=…` exported as DA used to read it is named at start (startWarnings)
        options.fail(`backup-drone: ${new ConfigError(problems).message}\nFix every key listed${where}; --help shows where settings come from.`);
        process.exit(EXIT_CODES.failed);
      }
    }, 1000);

    // after the validation above: files that hold a secret and that others can read
    lifecycle.onPostConfig(() => {
      for (const warning of secretFileWarnings(secretFiles(options, config.drone))) options.warn(warning);
    }, 999);

    // before the engine opens it: another user's state would end the boot with a stack trace
    lifecycle.onPostConfig(() => {
      const { stateDir, droneId } = parseDroneConfig({ ...config.drone });
      const problem = stateAccessProblem(join(stateDir, `${droneId}.json`));
      if (problem === undefined) return;
      options.fail(`backup-drone: ${problem}`);
      process.exit(EXIT_CODES.failed);
    }, 998);
  };
}

/**
 * Why this process cannot use a drone's state file (another user's, in a folder it cannot
 * enter), in words that say what to do; undefined when it can, or when the file does not exist yet.
 */
export function stateAccessProblem(path: string): string | undefined {
  try {
    accessSync(path, constants.R_OK | constants.W_OK);
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "EACCES" && code !== "EPERM") return undefined;
    return `cannot use the drone's state ${path}: permission denied. It belongs to the user the drone runs as: run the command as that user or as root (sudo -u USER backup-drone …); a drone of your own needs its own STATE_DIR.`;
  }
}
