/**
 * What `backup-drone config` and `backup-coordinator config` print: each key's value in force
 * and where it came from, as a table or JSON, with nothing secret on screen. Secrets show as
 * set or not; a command line (a hook, a passcommand, BORG_RSH), which can carry a password
 * (`mysqldump -pSECRET`, `sshpass -p …`), shows only its program unless asked for; a URL
 * shows no password. Pure: the resolution comes in as data.
 */
import { type ConfigSource, describeSource, type KeyTypes, type Resolution, type Resolved } from "./sources.mjs";

/** What a secret that is set shows instead of its value. */
export const HIDDEN = "(set, hidden)";

/** What a secret that is not set shows. */
export const NOT_SET = "(not set)";

/** One key as `config` shows it. */
export interface ConfigRow {
  module: string;
  /** As the table names it: `KEEP_DAILY` for the app's own keys, `hass.BASE_URL` for another module's. */
  key: string;
  /** The value in force, as it may be shown. */
  value: unknown;
  source: ConfigSource | { kind: "state" };
  secret: boolean;
  /** A command line, shown as its program only unless `--show-commands`. */
  command: boolean;
  /** When a run-time setting wins: what the configuration says, and where from. */
  configured?: { value: unknown; source: ConfigSource };
}

/**
 * A command line as `config` shows it without `--show-commands`: its program and `…`, the
 * arguments left out, since a password can stand anywhere among them. A first word that is
 * not a plain program name (`PGPASSWORD=… pg_dump`, a quote) shows nothing of it.
 */
export function commandSummary(text: string): string {
  const trimmed = text.trim();
  if (trimmed.length === 0) return "";
  const first = trimmed.split(/\s+/, 1)[0] ?? "";
  if (!/^[\w./@+:-]+$/.test(first)) return "(set, hidden: --show-commands shows it)";
  return first.length === trimmed.length ? first : `${first} … (arguments hidden: --show-commands shows them)`;
}

/** A URL as it may be shown: a password in it (`postgresql://user:pass@host/db`) replaced. */
export function urlWithoutPassword(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return text;
  }
  if (url.password.length === 0) return text;
  url.password = "hidden";
  return url.toString();
}

/** A resolved value as it may be shown. */
export function shownValue(value: unknown, kind: { secret: boolean; command: boolean }, showCommands = false): unknown {
  if (typeof value !== "string") return value;
  if (kind.secret) return value.length > 0 ? HIDDEN : value;
  if (kind.command && !showCommands) return commandSummary(value);
  return value;
}

/**
 * The rows of one module's keys (`table` in declaration order): resolved values, secrets
 * hidden, command lines shortened unless `showCommands`.
 */
export function keyRows(
  module: string,
  table: Readonly<Record<string, { default?: unknown }>>,
  resolved: ReadonlyMap<string, Resolved>,
  options: { secrets?: readonly string[]; commands?: readonly string[]; showCommands?: boolean } = {},
): ConfigRow[] {
  return Object.entries(table).map(([key, declared]) => {
    const kind = { secret: options.secrets?.includes(key) ?? false, command: options.commands?.includes(key) ?? false };
    const entry = resolved.get(key) ?? { value: declared.default, source: { kind: "default" } as const };
    return { module, key, value: shownValue(entry.value, kind, options.showCommands), source: entry.source, ...kind };
  });
}

/** A value in a table cell. */
export function cell(value: unknown): string {
  if (Array.isArray(value)) return value.length === 0 ? "(none)" : value.map(String).join(", ");
  if (value === "" || value === undefined || value === null) return "(empty)";
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** A row's source in words. */
export function rowSource(row: ConfigRow): string {
  if (row.source.kind !== "state") return describeSource(row.source);
  const configured = row.configured;
  return `state: changed at run time (configured ${configured ? `${cell(configured.value)}, ${describeSource(configured.source)}` : "?"})`;
}

/** The table for people: key, value, source. */
export function configTable(rows: readonly ConfigRow[]): string[] {
  const keyWidth = Math.max(...rows.map(row => row.key.length));
  const valueWidth = Math.min(40, Math.max(...rows.map(row => cell(row.value).length)));
  return rows.map(row => `${row.key.padEnd(keyWidth)}  ${cell(row.value).padEnd(valueWidth)}  ${rowSource(row)}`);
}

/** A row as `config --json` prints it. */
export function rowJson(row: ConfigRow) {
  return {
    module: row.module,
    key: row.key,
    value: row.value,
    source: rowSource(row),
    source_kind: row.source.kind,
    secret: row.secret,
    command: row.command,
    configured: row.configured ? { value: row.configured.value, source: describeSource(row.configured.source) } : null,
  };
}

/**
 * The Home Assistant keys `config` shows, typed as hass and synapse declare them (a unit test
 * compares): synapse's default database depends on the app and is given to {@link homeAssistantRows}.
 */
export const HOME_ASSISTANT_KEYS: KeyTypes = new Map<string, Readonly<Record<string, { type: string; default?: unknown }>>>([
  [
    "hass",
    {
      BASE_URL: { type: "string", default: "http://homeassistant.local:8123" },
      TOKEN: { type: "string" },
    },
  ],
  ["synapse", { DATABASE_URL: { type: "string" } }],
]);

/** Variables of a Home Assistant add-on that hold a token: the hass library reads them itself. */
const ADD_ON_TOKENS = ["SUPERVISOR_TOKEN", "HASSIO_TOKEN"] as const;

/**
 * The rows of Home Assistant's address, its token (set or not, never its value) and synapse's
 * database (a password in its URL hidden). `databaseUrl` is where the app puts the database
 * when nothing configures it.
 */
export function homeAssistantRows(resolution: Resolution, options: { databaseUrl: string; env: NodeJS.ProcessEnv }): ConfigRow[] {
  const found = (module: string, key: string): Resolved => resolution.values.get(module)?.get(key) ?? { value: undefined, source: { kind: "default" } };
  const row = (module: string, key: string, value: unknown, source: ConfigSource, secret = false): ConfigRow => ({ module, key: `${module}.${key}`, value, source, secret, command: false });
  const url = found("hass", "BASE_URL");
  const token = found("hass", "TOKEN");
  const addOn = ADD_ON_TOKENS.find(variable => (options.env[variable] ?? "").length > 0);
  const tokenRow =
    typeof token.value === "string" && token.value.length > 0
      ? row("hass", "TOKEN", HIDDEN, token.source, true)
      : addOn
        ? row("hass", "TOKEN", HIDDEN, { kind: "env", variable: addOn }, true)
        : row("hass", "TOKEN", NOT_SET, token.source, true);
  const database = found("synapse", "DATABASE_URL");
  const databaseUrl = database.source.kind === "default" || typeof database.value !== "string" ? options.databaseUrl : database.value;
  return [
    row("hass", "BASE_URL", typeof url.value === "string" ? urlWithoutPassword(url.value) : url.value, url.source),
    tokenRow,
    row("synapse", "DATABASE_URL", urlWithoutPassword(databaseUrl), database.source),
  ];
}
