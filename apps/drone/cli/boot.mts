/**
 * What the daemon and the one-shot commands share around booting the drone: where the
 * configuration comes from, whether Home Assistant is configured, and a guard service that
 * reports a bad command line or configuration on stderr (at any log level) and exits 2.
 */
import { accessSync, constants } from "node:fs";
import { join } from "node:path";

import { type TServiceParams } from "@digital-alchemy/core";
import { z } from "zod";

import { envFilePath, envFileVariables, startWarnings } from "../../../libs/config/env-file.mjs";
import { closestName } from "../../../libs/config/index.mjs";
import { configFiles as appConfigFiles, fileContent, readConfigFiles, registerSourcesLoader, unknownSwitchProblem } from "../../../libs/config/load.mjs";
import { type ConfigSwitch, HASS_KEYS } from "../../../libs/config/sources.mjs";
import { ConfigError, DRONE_CONFIGURATION, parseDroneConfig, passphraseProblem } from "../config.mjs";
import { configFileSecrets, envFileSecrets, type SecretFile, secretFileWarnings } from "./permissions.mjs";
import { EXIT_CODES, OPTIONS } from "./spec.mjs";

/** The DA application name: config files are /etc/backup_drone, ./.backup_drone, ~/.config/backup_drone. */
export const APP_NAME = "backup_drone";

/** Where the daemon keeps synapse's database when nothing configures it: beside the drone's state. */
export function droneDatabaseUrl(stateDir: string, droneId: string): string {
  return `file:${join(stateDir, `${droneId}.synapse.db`)}`;
}

/** Environment variables that carry a Home Assistant token (the last two are set for add-ons, and hass reads them itself). */
export const TOKEN_VARIABLES = ["HASS_TOKEN", "SUPERVISOR_TOKEN", "HASSIO_TOKEN"] as const;

const sectionSchema = z.record(z.string(), z.unknown());

/** The drone's configuration files DA will read, in the order it reads them (later ones win). */
export function configFiles(explicit: string | undefined): string[] {
  return appConfigFiles(APP_NAME, explicit);
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

/**
 * What to warn about once at start: unprefixed variables naming a drone or hass key, and a
 * `./.env` in the working folder holding the drone's variables (unless it is the `--env-file`).
 * Synapse's keys are left out: a plain `DATABASE_URL` is nearly always another program's.
 */
export function droneStartWarnings(options: { env: NodeJS.ProcessEnv; envFile?: string; cwd?: string }): string[] {
  return startWarnings({
    app: "the drone",
    modules: new Map<string, readonly string[]>([
      ["drone", Object.keys(DRONE_CONFIGURATION)],
      ["hass", HASS_KEYS],
    ]),
    prefixes: ["DRONE_", "HASS_", "SYNAPSE_"],
    ...options,
  });
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
      const unknown = unknownSwitchProblem(options.switches, internal.boilerplate.configuration.getDefinitions(), Object.keys(OPTIONS));
      if (unknown !== undefined) {
        options.fail(unknown);
        process.exit(EXIT_CODES.failed);
      }
      for (const entry of options.switches) {
        if (SECRET_KEYS.has(normalise(entry.name))) {
          options.warn(`--${entry.name} puts a secret on the command line, where other users can see it (ps); prefer a file or an environment variable`);
        }
      }
      // after the files (which DA reads itself): the env file, the environment and the switches (libs/config/sources.mts)
      registerSourcesLoader(internal, {
        switches: options.switches,
        files: options.files,
        ...(options.envFile === undefined ? {} : { envFile: options.envFile }),
        env: options.env,
        ...(options.token === undefined ? {} : { token: options.token }),
        fail: error => {
          options.fail(`backup-drone: ${error.message}`);
          process.exit(EXIT_CODES.failed);
        },
      });
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
