/**
 * The `backup-coordinator` command line as data: `[config [--json]] [--config FILE]
 * [--env-file FILE] [--KEY=VALUE ...]`, and its help. Free of Digital Alchemy, so that
 * `--help` answers without loading it.
 */
import { parseArgs } from "node:util";

import { errorText } from "../../libs/config/errors.mjs";
import { type ConfigSwitch, configSwitches } from "../../libs/config/sources.mjs";
import { COORDINATOR_APP_NAME, COORDINATOR_CONFIGURATION } from "./config.mjs";

/** The options of the command line itself; anything else `--KEY=VALUE` is a configuration switch. */
const OPTIONS = {
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
  json: { type: "boolean" },
  config: { type: "string" },
  "env-file": { type: "string" },
} as const;

/** Options the command was given. */
export interface CoordinatorOptions {
  config?: string;
  envFile?: string;
  json: boolean;
}

/** What the command line asks for: run the coordinator, or print its configuration. */
export type CoordinatorLine =
  | { kind: "help" }
  | { kind: "version" }
  | { kind: "usage_error"; message: string }
  | { kind: "run" | "config"; options: CoordinatorOptions; switches: ConfigSwitch[] };

/** Parse argv (without node and the script). */
export function parseCoordinatorLine(argv: readonly string[]): CoordinatorLine {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, strict: false, tokens: true, allowPositionals: true });
  } catch (error) {
    return { kind: "usage_error", message: errorText(error) };
  }
  const { values, positionals, tokens } = parsed;
  if (values.help === true) return { kind: "help" };
  if (values.version === true) return { kind: "version" };
  // first: a `--KEY VALUE` would make VALUE look like a command
  const switches = configSwitches(tokens, name => name in OPTIONS);
  if ("problem" in switches) return { kind: "usage_error", message: switches.problem };
  const [command, extra] = positionals;
  if (command !== undefined && command !== "config") return { kind: "usage_error", message: `unknown command "${command}"; the only command is config (without one, the coordinator runs)` };
  if (extra !== undefined) return { kind: "usage_error", message: `unexpected argument "${extra}"` };
  for (const name of ["config", "env-file"] as const) {
    const value = values[name];
    if (value !== undefined && (typeof value !== "string" || value === "")) return { kind: "usage_error", message: `--${name} needs a value: --${name} FILE` };
  }
  if (values.json !== undefined && typeof values.json !== "boolean") return { kind: "usage_error", message: "--json takes no value" };
  if (values.json === true && command !== "config") return { kind: "usage_error", message: "--json is an option of `backup-coordinator config`" };
  const text = (value: unknown) => (typeof value === "string" ? value : undefined);
  const config = text(values.config);
  const envFile = text(values["env-file"]);
  return {
    kind: command === "config" ? "config" : "run",
    options: { ...(config === undefined ? {} : { config }), ...(envFile === undefined ? {} : { envFile }), json: values.json === true },
    switches: switches.switches,
  };
}

/** The help text. */
export function coordinatorHelp(): string {
  const keys = Object.entries(COORDINATOR_CONFIGURATION).map(
    ([key, entry]) => `  ${key.padEnd(24)} ${entry.type.padEnd(8)} default ${JSON.stringify(entry.default)}\n      ${entry.description}`,
  );
  return [
    "backup-coordinator: decides when each backup drone runs, through Home Assistant.",
    "",
    "Usage: backup-coordinator [--config FILE] [--env-file FILE] [--KEY=VALUE ...]",
    "       backup-coordinator config [--json] [--config FILE] [--env-file FILE] [--KEY=VALUE ...]",
    "",
    "`config` prints every setting with its value in force and where it came from (the token hidden),",
    "then exits (2 when the configuration is invalid). It starts nothing.",
    "",
    "Configuration, lowest to highest priority:",
    `  defaults; files /etc/${COORDINATOR_APP_NAME}, ./.${COORDINATOR_APP_NAME}, ~/.config/${COORDINATOR_APP_NAME} (bare, .ini,`,
    "  .yaml, .json; sections [backup_coordinator], [hass], [synapse]) or --config FILE; --env-file FILE;",
    "  exported BACKUP_COORDINATOR_<KEY>, HASS_TOKEN, HASS_URL (or HASS_BASE_URL), HASS_<KEY>, SYNAPSE_<KEY>;",
    "  --<KEY>=VALUE. Unprefixed variables (TICK_SECONDS, TOKEN; LOG_LEVEL aside) and ./.env are not read.",
    "",
    "Home Assistant: hass.BASE_URL (default http://homeassistant.local:8123) and hass.TOKEN (a long-lived token of an administrator).",
    "",
    "Settings (section [backup_coordinator], or BACKUP_COORDINATOR_<KEY>):",
    ...keys,
    "",
    "Exit codes:",
    "  0  stopped by SIGTERM or SIGINT",
    "  1  could not start: Home Assistant unreachable (worth trying again later)",
    "  2  invalid usage or configuration (every problem is listed with its key or variable), a refused token, or an address that is not Home Assistant",
    "",
    "Documentation: docs/coordinator.md (decisions, entities, events), docs/install.md, docs/troubleshooting.md.",
    "",
  ].join("\n");
}
