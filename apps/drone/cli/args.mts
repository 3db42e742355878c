/**
 * Parse the command line into a typed request. Options of the command line itself are
 * declared in spec.mts; any other `--KEY=VALUE` is a configuration switch that Digital
 * Alchemy reads from argv on its own, so it is passed through here and checked later
 * against the configuration keys.
 */
import { parseArgs } from "node:util";

import { errorText } from "../../../libs/config/errors.mjs";
import { type ConfigSwitch, configSwitches } from "../../../libs/config/sources.mjs";
import { DUMP_NAME_PATTERN } from "../core/dumps/config.mjs";
import { parseSince } from "../core/duration.mjs";
import { COMMAND_NAMES, type CommandName, COMMANDS, COMMON_OPTIONS, type OptionName, OPTIONS, type OptionSpec } from "./spec.mjs";

export { type ConfigSwitch };

/** Options a command was given. */
export interface CommandOptions {
  /** Positional arguments after the command name (find's PATTERN, restore's ARCHIVE and PATHs). */
  arguments: string[];
  json: boolean;
  verbose: boolean;
  checkpoints: boolean;
  all: boolean;
  overwrite: boolean;
  verifyData: boolean;
  /** `config --show-commands`: command lines (hooks, passcommands, BORG_RSH) shown whole. */
  showCommands: boolean;
  /** `--versions N`: a positive whole number. */
  versions?: number;
  /** `--older-than AGE`, as given (checked by the command). */
  olderThan?: string;
  /** `--limit N`: a positive whole number. */
  limit?: number;
  /** `--since WHEN`, as the moment it names. */
  since?: Date;
  /** `--target DIR`, as given. */
  target?: string;
  /** restore-dump's `--archive ARCHIVE`. */
  archive?: string;
  /** restore-dump's `--to-database DB`. */
  toDatabase?: string;
  /** restore-dump's `--to-file PATH`, as given. */
  toFile?: string;
  dryRun: boolean;
  /** Replace a live database without asking. */
  yes: boolean;
  /** list: also the dumps of each archive. */
  dumps: boolean;
  /** find's `--dump NAME`. */
  dump?: string;
  config?: string;
  envFile?: string;
  token?: string;
}

/** What the command line asks for. */
export type CommandLine =
  | { kind: "help"; command?: CommandName }
  | { kind: "version" }
  | { kind: "usage_error"; message: string; command?: CommandName }
  | { kind: "run"; command: CommandName; options: CommandOptions; switches: ConfigSwitch[] };

const isCommand = (value: string): value is CommandName => (COMMAND_NAMES as readonly string[]).includes(value);

const parseOptions = Object.fromEntries(
  Object.values(OPTIONS).map(option => [
    option.name,
    { type: option.type, ...("short" in option ? { short: option.short } : {}) },
  ]),
) as Record<OptionName, { type: "boolean" | "string"; short?: string }>;

/** Parse argv (without the node binary and the script). */
export function parseCommandLine(argv: readonly string[]): CommandLine {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof parseOptions; strict: false; tokens: true; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: parseOptions, strict: false, tokens: true, allowPositionals: true });
  } catch (error) {
    return { kind: "usage_error", message: errorText(error) };
  }
  const positionals = parsed.positionals;
  const first = positionals[0];
  const command: CommandName | undefined = first !== undefined && isCommand(first) ? first : undefined;
  const values = parsed.values;

  if (values.help === true) return { kind: "help", command };
  if (first === "help") {
    const topic = positionals[1];
    return topic !== undefined && isCommand(topic) ? { kind: "help", command: topic } : { kind: "help" };
  }
  if (values.version === true) return { kind: "version" };

  const tokens = parsed.tokens;
  const switches = configSwitches(tokens, name => name in OPTIONS);
  if ("problem" in switches) return { kind: "usage_error", command, message: switches.problem };

  if (first !== undefined && command === undefined) {
    return { kind: "usage_error", message: `unknown command "${first}"; the commands are ${COMMAND_NAMES.join(", ")}` };
  }
  const name: CommandName = command ?? "daemon";
  const allowed = new Set<string>([...COMMANDS[name].options, ...COMMON_OPTIONS]);
  for (const token of tokens) {
    if (token.kind !== "option" || !(token.name in OPTIONS)) continue;
    if (!allowed.has(token.name)) {
      return { kind: "usage_error", command: name, message: `${token.rawName} is not an option of ${name}` };
    }
    const option: OptionSpec = OPTIONS[token.name as OptionName];
    if (option.type === "string" && (token.value === undefined || token.value === "")) {
      return { kind: "usage_error", command: name, message: `${token.rawName} needs a value: ${token.rawName} ${option.value ?? "VALUE"}` };
    }
    if (option.type === "boolean" && token.value !== undefined) {
      return { kind: "usage_error", command: name, message: `${token.rawName} takes no value` };
    }
  }
  const given = positionals.slice(1);
  const expected = COMMANDS[name].arguments;
  if (!expected && given.length > 0) {
    return { kind: "usage_error", command: name, message: `unexpected argument "${given[0] ?? ""}"` };
  }
  if (expected && given.length < expected.min) {
    return { kind: "usage_error", command: name, message: `${name} needs ${expected.usage}` };
  }
  if (expected?.max !== undefined && given.length > expected.max) {
    return { kind: "usage_error", command: name, message: `unexpected argument "${given[expected.max] ?? ""}" (${name} takes ${expected.usage})` };
  }

  const text = (value: string | boolean | undefined) => (typeof value === "string" ? value : undefined);
  const versions = text(values.versions);
  if (versions !== undefined && !/^[1-9]\d{0,5}$/.test(versions)) {
    return { kind: "usage_error", command: name, message: `--versions takes a whole number of at least 1 (got "${versions}")` };
  }
  const limit = text(values.limit);
  if (limit !== undefined && !/^[1-9]\d{0,6}$/.test(limit)) {
    return { kind: "usage_error", command: name, message: `--limit takes a whole number of at least 1 (got "${limit}")` };
  }
  const sinceText = text(values.since);
  let since: Date | undefined;
  if (sinceText !== undefined) {
    try {
      since = parseSince(sinceText);
    } catch (error) {
      return { kind: "usage_error", command: name, message: errorText(error) };
    }
  }
  if (values["to-database"] !== undefined && values["to-file"] !== undefined) {
    return { kind: "usage_error", command: name, message: "give --to-database or --to-file, not both" };
  }
  if (name === "find" && (given.length === 0) === (values.dump === undefined)) {
    return { kind: "usage_error", command: name, message: given.length === 0 ? "find needs PATTERN (or --dump NAME)" : "give PATTERN or --dump NAME, not both" };
  }
  const dump = text(values.dump);
  if (dump !== undefined && !DUMP_NAME_PATTERN.test(dump)) {
    return {
      kind: "usage_error",
      command: name,
      message: `--dump takes a dump's name: lowercase letters, digits, - or _, starting with a letter or digit (got ${JSON.stringify(dump)}); see \`backup-drone list --dumps\``,
    };
  }
  return {
    kind: "run",
    command: name,
    options: {
      arguments: given,
      json: values.json === true,
      verbose: values.verbose === true,
      checkpoints: values.checkpoints === true,
      all: values.all === true,
      overwrite: values.overwrite === true,
      verifyData: values["verify-data"] === true,
      showCommands: values["show-commands"] === true,
      versions: versions === undefined ? undefined : Number(versions),
      olderThan: text(values["older-than"]),
      limit: limit === undefined ? undefined : Number(limit),
      since,
      target: text(values.target),
      archive: text(values.archive),
      toDatabase: text(values["to-database"]),
      toFile: text(values["to-file"]),
      dryRun: values["dry-run"] === true,
      yes: values.yes === true,
      dumps: values.dumps === true,
      dump,
      config: text(values.config),
      envFile: text(values["env-file"]),
      token: text(values.token),
    },
    switches: switches.switches,
  };
}
