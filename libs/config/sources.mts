/**
 * Where each configuration value of a command (`backup-drone`, `backup-coordinator`) comes
 * from. Digital Alchemy on its own reads every variable named `KEY` or `MODULE_KEY` in any case
 * (so another program's `MODE` or `REPOSITORY` configures the app), lets an env file override
 * the exported environment, and lets configuration files win over both. Both bins switch DA's
 * environment and argv sources off and feed this resolution instead (./load.mts), lowest to
 * highest priority:
 *
 *   defaults < configuration files < env file (--env-file) < exported environment < switches
 *
 * The environment counts only under the module's prefix: `DRONE_<KEY>` (DRONE_ID as it is),
 * `BACKUP_COORDINATOR_<KEY>`, `HASS_<KEY>` (and `HASS_URL` for BASE_URL), `SYNAPSE_<KEY>`,
 * `BOILERPLATE_<KEY>` (and `LOG_LEVEL`). Pure: the environment, files and switches come in as data.
 */
import { z } from "zod";

/** A `--KEY[=VALUE]` switch of the command line that is not an option of the command itself. */
export interface ConfigSwitch {
  /** As written, without the dashes. */
  name: string;
  value: string | undefined;
}

/** Where a value came from. */
export type ConfigSource =
  | { kind: "default" }
  | { kind: "file"; path: string; section: string }
  | { kind: "env_file"; path: string; variable: string }
  | { kind: "env"; variable: string }
  | { kind: "switch"; name: string };

/** A token of `node:util` parseArgs, as far as {@link configSwitches} reads it. */
type ArgToken = { kind: "option"; name: string; rawName: string; value?: string } | { kind: "positional"; value: string } | { kind: "option-terminator" };

/**
 * The configuration switches among a command line's tokens: every `--NAME[=VALUE]` that
 * `isOption` does not claim for the command itself; or why the line cannot be read.
 */
export function configSwitches(tokens: readonly ArgToken[], isOption: (name: string) => boolean): { switches: ConfigSwitch[] } | { problem: string } {
  const switches: ConfigSwitch[] = [];
  for (const [index, token] of tokens.entries()) {
    if (token.kind !== "option" || isOption(token.name)) continue;
    if (!token.rawName.startsWith("--")) return { problem: `unknown option ${token.rawName}` };
    // `--KEY VALUE` would take the next word (a command name) as the value, as Digital Alchemy did: insist on `=`
    const next = tokens[index + 1];
    if (token.value === undefined && next?.kind === "positional") {
      return { problem: `write configuration switches as ${token.rawName}=VALUE (got "${token.rawName} ${next.value}")` };
    }
    switches.push({ name: token.name, value: token.value });
  }
  return { switches };
}

/** The loaded modules' key types, as DA's definitions hold them. */
export type KeyTypes = ReadonlyMap<string, Readonly<Record<string, { type: string; default?: unknown }>>>;

/** One key's effective value and its source. */
export interface Resolved {
  value: unknown;
  source: ConfigSource;
}

/** What the resolution reads. */
export interface SourceInputs {
  modules: KeyTypes;
  /** Configuration files in the order DA reads them (later ones win), with their contents. */
  files: readonly { path: string; content: Record<string, unknown> }[];
  /** `--env-file FILE` and its variables. */
  envFile?: { path: string; variables: NodeJS.Dict<string> };
  /** The exported environment, as the process got it. */
  env: NodeJS.ProcessEnv;
  switches: readonly ConfigSwitch[];
  /** `--token TOKEN`: the hass module's TOKEN. */
  token?: string;
}

/** The resolution: every key of every module, and what could not be read. */
export interface Resolution {
  values: Map<string, Map<string, Resolved>>;
  problems: string[];
}

/**
 * Aliases the environment may use besides `<MODULE>_<KEY>` (after it, so the prefixed name
 * wins): `HASS_URL`, and `LOG_LEVEL`, which the docs and borg's crash message tell people to set
 * (a stray one changes only how much is logged).
 */
const ALIASES: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>> = {
  hass: { BASE_URL: ["HASS_URL"] },
  boilerplate: { LOG_LEVEL: ["LOG_LEVEL"] },
};

/** The environment variables that set a key, the first found winning: a key that already starts with the prefix (DRONE_ID) is its own name. */
export function variablesOf(module: string, key: string): string[] {
  const prefix = `${module.replaceAll("-", "_").toUpperCase()}_`;
  const name = key.toUpperCase();
  return [name.startsWith(prefix) ? name : `${prefix}${name}`, ...(ALIASES[module]?.[key] ?? [])];
}

/** A name in the spelling DA matches switches with: case and `-`/`_` ignored. */
const normalise = (name: string) => name.toLowerCase().replaceAll("-", "_");

const stringList = z.array(z.string());
const record = z.record(z.string(), z.unknown());
const TRUE_WORDS = new Set(["y", "yes", "true", "1"]);
const FALSE_WORDS = new Set(["n", "no", "false", "0"]);

/** A value written as text (an environment variable, a switch), read for a key of this type, or why it cannot be. */
function fromText(type: string, text: string): { value: unknown } | { problem: string } {
  switch (type) {
    case "number": {
      // Number("abc") is NaN and Number(" ") is 0: nothing later checks hass's or synapse's numbers
      const value = text.trim().length > 0 ? Number(text) : Number.NaN;
      return Number.isFinite(value) ? { value } : { problem: "must be a number" };
    }
    case "boolean": {
      // a typo (`ture`) must not quietly turn a feature off
      const word = text.trim().toLowerCase();
      if (TRUE_WORDS.has(word)) return { value: true };
      if (FALSE_WORDS.has(word)) return { value: false };
      return { problem: "must be true or false (true, false, yes, no, 1, 0)" };
    }
    case "string[]": {
      // "/home, /etc" means two paths, not " /etc"; a stray comma adds no empty item
      if (!text.trimStart().startsWith("["))
        return {
          value: text
            .split(",")
            .map(item => item.trim())
            .filter(item => item.length > 0),
        };
      const parsed = stringList.safeParse(jsonOf(text));
      return parsed.success ? { value: parsed.data } : { problem: 'must be a JSON list of strings (["a","b"]) or words separated by commas' };
    }
    case "record":
    case "internal": {
      const parsed = record.safeParse(jsonOf(text));
      return parsed.success ? { value: parsed.data } : { problem: "must be a JSON object" };
    }
    default:
      return { value: text };
  }
}

function jsonOf(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A switch's value: a bare `--KEY` is true (or "true"); a list key given several times collects them. */
function switchValue(type: string, values: readonly (string | undefined)[]): { value: unknown } | { problem: string } {
  if (type === "string[]" && values.length > 1) return { value: values.map(value => value ?? "") };
  const last = values.at(-1);
  if (last === undefined) return type === "string[]" ? { value: [] } : fromText(type, "true");
  return fromText(type, last);
}

/** The switches that name a key: `--KEY` or `--module-KEY`, in any case. */
function switchesOf(module: string, key: string, switches: readonly ConfigSwitch[]): ConfigSwitch[] {
  const names = new Set([normalise(key), normalise(`${module}_${key}`)]);
  return switches.filter(entry => names.has(normalise(entry.name)));
}

/** A value that counts: a variable set to nothing is not set. */
const given = (value: string | undefined): value is string => value !== undefined && value.length > 0;

/** Resolve every key of every module. */
export function resolveSources(inputs: SourceInputs): Resolution {
  const values = new Map<string, Map<string, Resolved>>();
  const problems: string[] = [];
  for (const [module, keys] of inputs.modules) {
    const resolved = new Map<string, Resolved>();
    for (const [key, definition] of Object.entries(keys)) {
      let found: Resolved = { value: definition.default, source: { kind: "default" } };
      for (const file of inputs.files) {
        const section = record.safeParse(file.content[module]);
        if (section.success && key in section.data) found = { value: section.data[key], source: { kind: "file", path: file.path, section: module } };
      }
      const text = (variable: string, value: string, source: ConfigSource) => {
        const read = fromText(definition.type, value);
        if ("problem" in read) problems.push(`${variable}: ${read.problem}`);
        else found = { value: read.value, source };
      };
      const variables = variablesOf(module, key);
      const envFile = inputs.envFile;
      const fromFile = envFile ? variables.find(variable => given(envFile.variables[variable])) : undefined;
      if (envFile && fromFile) text(fromFile, envFile.variables[fromFile] ?? "", { kind: "env_file", path: envFile.path, variable: fromFile });
      const exported = variables.find(variable => given(inputs.env[variable]));
      if (exported) text(exported, inputs.env[exported] ?? "", { kind: "env", variable: exported });
      const switches = switchesOf(module, key, inputs.switches);
      const first = switches[0];
      if (first) {
        const read = switchValue(definition.type, switches.map(entry => entry.value));
        if ("problem" in read) problems.push(`--${first.name}: ${read.problem}`);
        else found = { value: read.value, source: { kind: "switch", name: first.name } };
      }
      if (module === "hass" && key === "TOKEN" && inputs.token !== undefined) found = { value: inputs.token, source: { kind: "switch", name: "token" } };
      resolved.set(key, found);
    }
    values.set(module, resolved);
  }
  return { values, problems };
}

/** What the sources above the files set, per module: what the command line's loader hands to DA. */
export function overridingValues(resolution: Resolution): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [module, keys] of resolution.values) {
    for (const [key, { value, source }] of keys) {
      if (source.kind === "default" || source.kind === "file") continue;
      (out[module] ??= {})[key] = value;
    }
  }
  return out;
}

/**
 * Variables of the environment that name a key of `module` without its prefix
 * (`REPOSITORY` for DRONE_REPOSITORY) while the prefixed one is not set: ignored, and worth
 * a word when the key they name is wrong or missing.
 */
export function unprefixedVariables(module: string, keys: readonly string[], env: NodeJS.ProcessEnv): { variable: string; instead: string }[] {
  return keys.flatMap(key => {
    const variables = variablesOf(module, key);
    const [instead = key] = variables;
    return given(env[key]) && !variables.some(variable => variable === key || given(env[variable])) ? [{ variable: key, instead }] : [];
  });
}

/** Variables of an env file whose names start with one of `prefixes` (`DRONE_`, `HASS_`…), sorted. */
export function variablesWithPrefix(variables: NodeJS.Dict<string>, prefixes: readonly string[]): string[] {
  return Object.keys(variables)
    .filter(name => prefixes.some(prefix => name.startsWith(prefix)))
    .sort();
}

/**
 * The lines to warn with once at start about configuration the app ignores: unprefixed
 * variables that name a key (`TOKEN`, `REPOSITORY`, `MODE`), and a `./.env` holding the app's
 * variables. Without them an app upgraded from reading those can go silent (no Home Assistant,
 * another repository) with nothing on screen saying why.
 */
export function ignoredSourceWarnings(inputs: {
  /** The app as a sentence names it: `the drone`, `the coordinator`. */
  app: string;
  /** Each module's keys. */
  modules: ReadonlyMap<string, readonly string[]>;
  /** The prefixes of the app's variables, as a `./.env` meant for it would hold them. */
  prefixes: readonly string[];
  env: NodeJS.ProcessEnv;
  /** `./.env` of the working folder, when it exists and is not the `--env-file`. */
  dotEnv?: { path: string; variables: NodeJS.Dict<string> };
}): string[] {
  const lines: string[] = [];
  for (const [module, keys] of inputs.modules) {
    for (const { variable, instead } of unprefixedVariables(module, keys, inputs.env)) {
      const prefix = `${module.replaceAll("-", "_").toUpperCase()}_`;
      lines.push(`${variable} is set in the environment; ${inputs.app} reads ${instead} (variables without the ${prefix} prefix are ignored).`);
    }
  }
  const names = inputs.dotEnv ? variablesWithPrefix(inputs.dotEnv.variables, inputs.prefixes) : [];
  if (inputs.dotEnv && names.length > 0) {
    lines.push(`${inputs.dotEnv.path} sets ${names.join(", ")}, but ${inputs.app} does not read ./.env: export them, or pass --env-file ${inputs.dotEnv.path}.`);
  }
  return lines;
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

/** A source in words: `default`, `file /etc/backup_drone.ini [drone]`, `env DRONE_REPOSITORY`, `env file ./drone.env (DRONE_ID)`, `switch --KEEP_DAILY`. */
export function describeSource(source: ConfigSource): string {
  switch (source.kind) {
    case "default":
      return "default";
    case "file":
      return `file ${source.path} [${source.section}]`;
    case "env_file":
      return `env file ${source.path} (${source.variable})`;
    case "env":
      return `env ${source.variable}`;
    case "switch":
      return `switch --${source.name}`;
  }
}
