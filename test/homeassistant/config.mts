/**
 * The configuration folder of a test Home Assistant: only the integrations the apps use (no
 * `default_config`), listening on 127.0.0.1, the recorder on SQLite committing every second,
 * and the synapse integration copied in from `SYNAPSE_EXTENSION_DIR` when it is set. With
 * `frontend`, also the web interface and storage-mode dashboards (for the docs' pictures).
 */
import { cp, mkdir, readFile, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";

import { z } from "zod";

/** The integrations the configuration names (HA adds its DEFAULT_INTEGRATIONS whatever we write). */
export const CONFIG_DOMAINS = ["http", "api", "websocket_api", "config", "recorder", "persistent_notification", "logger"] as const;

/** The recorder's database file in the configuration folder. */
export const RECORDER_DB = "home-assistant_v2.db";

/** What the generated configuration needs. */
export interface ConfigOptions {
  dir: string;
  port: number;
  /** A checkout of synapse-extension whose custom_components/synapse is loaded. */
  synapseDir?: string;
  /** Serve the web interface (`frontend:`) and dashboards kept in HA's storage (`lovelace:`). */
  frontend?: boolean;
}

const manifestSchema = z.object({
  domain: z.literal("synapse"),
  version: z.string(),
  requirements: z.array(z.string()).optional(),
});

/** The synapse integration of a checkout, as its manifest says. */
export interface SynapseIntegration {
  dir: string;
  version: string;
}

/** Check a synapse-extension checkout and return its integration; throws naming what is wrong. */
export async function synapseIntegrationOf(checkout: string): Promise<SynapseIntegration> {
  const dir = join(checkout, "custom_components", "synapse");
  const manifestFile = join(dir, "manifest.json");
  if (!existsSync(manifestFile)) {
    throw new Error(`SYNAPSE_EXTENSION_DIR=${checkout} has no custom_components/synapse/manifest.json: point it at a checkout of Digital-Alchemy-TS/synapse-extension`);
  }
  const manifest = manifestSchema.parse(JSON.parse(await readFile(manifestFile, "utf8")));
  // HA runs with --skip-pip: a requirement would be missing at import time
  if ((manifest.requirements ?? []).length > 0) {
    throw new Error(`the synapse integration in ${checkout} needs pip packages (${manifest.requirements?.join(", ")}); the harness does not install them`);
  }
  return { dir, version: manifest.version };
}

/** The configuration.yaml of a test instance; `frontend` adds the web interface and its dashboards. */
export function configurationYaml(port: number, frontend = false): string {
  return [
    "homeassistant:",
    "  name: backup-coordinator test",
    // fixed so that nothing asks the internet (no geolocation of the IP) and times read the same everywhere
    "  latitude: 52.37",
    "  longitude: 4.89",
    "  elevation: 0",
    "  unit_system: metric",
    "  time_zone: UTC",
    "  currency: EUR",
    "  country: NL",
    "  language: en",
    "http:",
    "  server_host: 127.0.0.1",
    `  server_port: ${port}`,
    "api:",
    "websocket_api:",
    "config:",
    "recorder:",
    // the tests read the database while HA runs: commit each second instead of every 5 s
    "  commit_interval: 1",
    "persistent_notification:",
    // logbook: the Activity card of a device page; history: the dashboards' history graphs
    ...(frontend ? ["frontend:", "lovelace:", "  mode: storage", "logbook:", "history:"] : []),
    "logger:",
    // every WARNING and ERROR; the synapse integration's INFO lines too (registrations, refusals)
    "  default: warning",
    "  logs:",
    "    custom_components: info",
    "",
  ].join("\n");
}

/** Write the configuration folder (first boot only: HA keeps its state in `.storage`). */
export async function writeConfig(options: ConfigOptions): Promise<void> {
  await mkdir(options.dir, { recursive: true });
  await writeFile(join(options.dir, "configuration.yaml"), configurationYaml(options.port, options.frontend));
  if (options.frontend) {
    // the frontend sends every page to onboarding until each step is done; the core_config step
    // (which the harness skips: its config flows fetch from the internet) is marked done here,
    // in the store onboarding/__init__.py reads at boot (version 4 in HA 2025.4)
    await mkdir(join(options.dir, ".storage"), { recursive: true });
    const store = { version: 4, minor_version: 1, key: "onboarding", data: { done: ["core_config"] } };
    await writeFile(join(options.dir, ".storage", "onboarding"), `${JSON.stringify(store, null, 2)}\n`);
  }
  if (options.synapseDir !== undefined) {
    const integration = await synapseIntegrationOf(options.synapseDir);
    // a copy, not a link: HA writes __pycache__ next to the sources, and the checkout stays untouched
    await cp(integration.dir, join(options.dir, "custom_components", "synapse"), {
      recursive: true,
      filter: source => !source.includes("__pycache__"),
    });
  }
}
