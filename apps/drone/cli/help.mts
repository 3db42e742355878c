/**
 * The help texts of `backup-drone` and its commands, rendered from the command line as data
 * (./spec.mts). Kept free of heavy imports so that `--help` answers without loading the drone.
 */
import { COMMAND_NAMES, COMMANDS, COMMON_OPTIONS, type CommandName, EXIT_CODE_HELP, type ExitCode, type OptionName, OPTIONS, type OptionSpec } from "./spec.mjs";

const wrap = (text: string, width: number, indent: string): string => {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line.length > 0 && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line.length > 0 ? `${line} ${word}` : word;
  }
  if (line.length > 0) lines.push(line);
  return lines.map(entry => indent + entry).join("\n");
};

const optionLine = (option: OptionSpec) => {
  const flag = `${option.short ? `-${option.short}, ` : "    "}--${option.name}${option.value ? ` ${option.value}` : ""}`;
  return `  ${flag.padEnd(24)} ${option.description}`;
};

const exitCodeLines = (codes: readonly ExitCode[]) =>
  EXIT_CODE_HELP.filter(([code]) => codes.includes(code)).map(([code, meaning]) => `  ${code}  ${meaning}`);

const CONFIG_HELP = [
  "Configuration (every key of docs/configuration.md), lowest to highest priority:",
  "  defaults; files /etc/backup_drone, ./.backup_drone, ~/.config/backup_drone (bare, .ini, .yaml, .json;",
  "  section [drone]) or --config FILE; --env-file FILE; exported DRONE_<KEY> (HASS_TOKEN, HASS_URL for",
  "  Home Assistant); --<KEY>=VALUE. Unprefixed variables (REPOSITORY, MODE; LOG_LEVEL aside) and ./.env are not read.",
  "  Settings changed at run time (mode, frequency, keep rules) win. `backup-drone config` shows each source.",
];

/** The help text of one command. */
export function commandHelp(name: CommandName): string {
  const spec = COMMANDS[name];
  const options = [...spec.options, ...COMMON_OPTIONS].map(option => optionLine(OPTIONS[option as OptionName]));
  return [
    `backup-drone ${name} — ${spec.summary}`,
    "",
    `Usage: backup-drone ${name}${spec.arguments ? ` ${spec.arguments.usage}` : ""} [options] [--<KEY>=VALUE ...]`,
    "",
    ...spec.description.map(paragraph => `${wrap(paragraph, 88, "")}\n`),
    "Options:",
    ...options,
    ...(spec.json ? ["", "Output with --json:", wrap(spec.json, 86, "  ")] : []),
    "",
    ...CONFIG_HELP,
    "",
    "Exit codes:",
    ...exitCodeLines(spec.exitCodes),
    "",
    "Examples:",
    ...spec.examples.map(example => `  ${example}`),
    "",
  ].join("\n");
}

/** The help text of the program. */
export function programHelp(): string {
  const width = Math.max(...COMMAND_NAMES.map(name => name.length));
  return [
    "backup-drone — BorgBackup for this machine, watched from Home Assistant",
    "",
    "Usage: backup-drone [command] [options] [--<KEY>=VALUE ...]",
    "",
    "Commands:",
    ...COMMAND_NAMES.map(name => `  ${name.padEnd(width)}  ${COMMANDS[name].summary}`),
    "",
    "Options:",
    optionLine(OPTIONS.help),
    optionLine(OPTIONS.version),
    "",
    "`backup-drone <command> --help` describes a command, its options and its output.",
    "",
    ...CONFIG_HELP,
    "",
    "Exit codes:",
    ...exitCodeLines(EXIT_CODE_HELP.map(([code]) => code)),
    "",
  ].join("\n");
}
