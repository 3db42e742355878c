/**
 * The virtual environment Home Assistant runs from, kept between runs in a cache folder
 * outside the repository and keyed by Python and HA version. It holds the pinned
 * `homeassistant` release and the pip requirements of every integration HA sets up at boot,
 * installed once here so that boots run with `--skip-pip`: offline, fast and the same every
 * time.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

import { z } from "zod";

import { CONFIG_DOMAINS } from "./config.mjs";
import { findPython, type Python } from "./python.mjs";
import { installLock, runLogged } from "../helpers/pip-venv.mjs";

/**
 * The Home Assistant release the scenarios run on: the newest that installs on Python
 * 3.13.0 (2025.5 and later need 3.13.2). Pinned so that every run tests the same thing;
 * `HA_VERSION` overrides it to try another.
 */
export const HA_VERSION = "2025.4.4";

/** The python helper run inside the venv. */
export const TOOLS = join(import.meta.dirname, "tools.py");

const markerSchema = z.object({
  haVersion: z.string(),
  pythonVersion: z.string(),
  pythonCommand: z.string(),
  installedAt: z.iso.datetime(),
  installSeconds: z.number(),
  integrations: z.array(z.string()),
  requirements: z.array(z.string()),
});

/** A ready virtual environment, and how it was made. */
export interface HaVenv extends z.infer<typeof markerSchema> {
  dir: string;
  /** The venv's python. */
  python: string;
  /** True when this call installed it (false: found in the cache). */
  fresh: boolean;
}

const MARKER = "backup-coordinator-venv.json";
/** An install that takes longer than this has hung (an uncached one takes about 2–3 minutes here). */
const INSTALL_DEADLINE_MS = 20 * 60_000;
/** A lock older than this belongs to an install that died. */
const STALE_LOCK_MS = INSTALL_DEADLINE_MS + 60_000;
/** A logged install step, under HA's longer deadline unless told otherwise. */
const run = (command: string, args: readonly string[], log: string, timeoutMs = INSTALL_DEADLINE_MS) => runLogged(command, args, log, timeoutMs);

/** The release to install: HA_VERSION from the environment, else the pinned one. */
export function haVersion(): string {
  return process.env.HA_VERSION?.trim() || HA_VERSION;
}

/** Where the venv for this Python and HA version lives: HA_VENV_DIR, else the user's cache folder. */
export function venvDir(python: Python, version = haVersion()): string {
  const explicit = process.env.HA_VENV_DIR?.trim();
  if (explicit) return explicit;
  const cache = process.env.XDG_CACHE_HOME?.trim() || join(homedir(), ".cache");
  return join(cache, "backup-coordinator", `ha-venv-${python.version}-${version}`);
}

const manifestSchema = z.object({
  dependencies: z.array(z.string()).optional(),
  requirements: z.array(z.string()).optional(),
});

/** Every integration HA sets up from `roots` (with their dependencies), and their pip requirements. */
export async function requirementsOf(componentsDir: string, roots: readonly string[]): Promise<{ integrations: string[]; requirements: string[] }> {
  const seen = new Set<string>();
  const requirements = new Set<string>();
  const visit = async (domain: string) => {
    if (seen.has(domain)) return;
    seen.add(domain);
    const file = join(componentsDir, domain, "manifest.json");
    if (!existsSync(file)) throw new Error(`Home Assistant has no integration ${domain} (${file} is missing)`);
    const manifest = manifestSchema.parse(JSON.parse(await readFile(file, "utf8")));
    for (const requirement of manifest.requirements ?? []) requirements.add(requirement);
    for (const dependency of manifest.dependencies ?? []) await visit(dependency);
  };
  for (const root of roots) await visit(root);
  return { integrations: [...seen].sort(), requirements: [...requirements].sort() };
}

/** The marker of a complete venv, if `dir` holds one for this Python and HA version. */
async function readMarker(dir: string, python: Python, version: string): Promise<z.infer<typeof markerSchema> | undefined> {
  try {
    const marker = markerSchema.parse(JSON.parse(await readFile(join(dir, MARKER), "utf8")));
    if (marker.haVersion !== version || marker.pythonVersion !== python.version) return undefined;
    return existsSync(join(dir, "bin", "python")) ? marker : undefined;
  } catch {
    return undefined;
  }
}

/** The venv for this machine's Python 3.13 and the pinned HA release, installed when missing. */
export async function ensureVenv(options: { log?: (line: string) => void } = {}): Promise<HaVenv> {
  const log = options.log ?? (() => undefined);
  const python = findPython();
  const version = haVersion();
  const dir = venvDir(python, version);
  const ready = await readMarker(dir, python, version);
  if (ready) return { ...ready, dir, python: join(dir, "bin", "python"), fresh: false };

  await mkdir(dirname(dir), { recursive: true });
  const unlock = await installLock(`${dir}.lock`, STALE_LOCK_MS);
  try {
    // another process may have finished it while we waited
    const done = await readMarker(dir, python, version);
    if (done) return { ...done, dir, python: join(dir, "bin", "python"), fresh: false };

    const started = Date.now();
    log(`installing Home Assistant ${version} on Python ${python.version} (${python.source}: ${python.command}) into ${dir}`);
    await rm(dir, { recursive: true, force: true });
    const installLog = `${dir}.install.log`;
    await writeFile(installLog, "");
    await run(python.command, ["-m", "venv", dir], installLog);
    const venvPython = join(dir, "bin", "python");
    await run(venvPython, ["-m", "pip", "install", `homeassistant==${version}`], installLog);

    // the requirements HA would install at boot, at the versions HA pins
    const defaults = z.array(z.string()).parse(JSON.parse(await run(venvPython, [TOOLS, "integrations"], installLog)));
    const site = (await run(venvPython, ["-c", "import homeassistant, os; print(os.path.dirname(homeassistant.__file__))"], installLog)).trim();
    const { integrations, requirements } = await requirementsOf(join(site, "components"), [...defaults, ...CONFIG_DOMAINS]);
    if (requirements.length > 0) {
      await run(venvPython, ["-m", "pip", "install", "-c", join(site, "package_constraints.txt"), ...requirements], installLog);
    }

    const marker: z.infer<typeof markerSchema> = {
      haVersion: version,
      pythonVersion: python.version,
      pythonCommand: python.command,
      installedAt: new Date().toISOString(),
      installSeconds: Math.round((Date.now() - started) / 100) / 10,
      integrations,
      requirements,
    };
    await writeFile(join(dir, MARKER), `${JSON.stringify(marker, null, 2)}\n`);
    log(`Home Assistant ${version} installed in ${marker.installSeconds} s`);
    return { ...marker, dir, python: venvPython, fresh: true };
  } finally {
    await unlock();
  }
}

const frontendManifestSchema = z.object({ requirements: z.array(z.string()) });

/** The `home-assistant-frontend==X` requirement HA's own frontend integration names, and the version installed in the venv. */
export async function frontendVersions(venv: HaVenv): Promise<{ required: string; installed: string | undefined }> {
  const site = (await run(venv.python, ["-c", "import homeassistant, os; print(os.path.dirname(homeassistant.__file__))"], "/dev/null", 60_000)).trim();
  const manifest = frontendManifestSchema.parse(JSON.parse(await readFile(join(site, "components", "frontend", "manifest.json"), "utf8")));
  const requirement = manifest.requirements.find(line => line.startsWith("home-assistant-frontend=="));
  if (requirement === undefined) throw new Error(`Home Assistant ${venv.haVersion}'s frontend manifest names no home-assistant-frontend==VERSION requirement`);
  const installed = (
    await run(
      venv.python,
      ["-c", "import importlib.metadata as m\ntry:\n print(m.version('home-assistant-frontend'))\nexcept m.PackageNotFoundError:\n print('')"],
      "/dev/null",
      60_000,
    )
  ).trim();
  return { required: requirement.slice("home-assistant-frontend==".length), installed: installed || undefined };
}

/**
 * The web interface at the release HA pins, installed on top of the venv when missing (the
 * default integrations usually bring it already). The venv's marker is left as it is: the
 * suite's cache key stays the same, and the suite never loads the frontend.
 */
export async function ensureFrontend(venv: HaVenv, log: (line: string) => void = () => undefined): Promise<string> {
  const { required, installed } = await frontendVersions(venv);
  if (installed === required) return required;
  const unlock = await installLock(`${venv.dir}.lock`, STALE_LOCK_MS);
  try {
    log(`installing home-assistant-frontend ${required} (the release Home Assistant ${venv.haVersion} pins) into ${venv.dir}`);
    const installLog = `${venv.dir}.frontend.log`;
    await writeFile(installLog, "");
    await run(venv.python, ["-m", "pip", "install", `home-assistant-frontend==${required}`], installLog);
  } finally {
    await unlock();
  }
  const after = await frontendVersions(venv);
  if (after.installed !== required) throw new Error(`home-assistant-frontend ${required} did not install into ${venv.dir} (found ${after.installed ?? "none"})`);
  return required;
}
