/**
 * A Python virtual environment holding pinned PyPI packages, kept between runs in the user's
 * cache folder (~/.cache/backup-coordinator/NAME) and keyed by what it holds: made once, then
 * found by its marker file. Used for the borg 1.4 the tests also run on, and for the
 * benchmark's borgmatic 2.x.
 */
import { execFileSync, spawn } from "node:child_process";
import { createWriteStream, existsSync } from "node:fs";
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

import { z } from "zod";

/** A Python interpreter and its version. */
export interface PythonInterpreter {
  /** Absolute path or a name on PATH. */
  command: string;
  /** e.g. "3.11.2". */
  version: string;
}

const markerSchema = z.object({
  packages: z.array(z.string()),
  pythonVersion: z.string(),
  pythonCommand: z.string(),
  installedAt: z.iso.datetime(),
  installSeconds: z.number(),
});

/** A ready virtual environment, and how it was made. */
export interface PipVenv extends z.infer<typeof markerSchema> {
  dir: string;
  /** Its bin folder (the packages' console scripts). */
  bin: string;
  /** True when this call installed it (false: found in the cache). */
  fresh: boolean;
}

const MARKER = "backup-coordinator-venv.json";
/** An install that takes longer than this has hung (borg 1.4 builds in about a minute here). */
const INSTALL_DEADLINE_MS = 15 * 60_000;
/** A lock older than this belongs to an install that died. */
const STALE_LOCK_MS = INSTALL_DEADLINE_MS + 60_000;

/** The version of a Python interpreter, or undefined when it does not run. */
export function pythonVersion(command: string): string | undefined {
  try {
    const out = execFileSync(command, ["-c", "import platform; print(platform.python_version())"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
      timeout: 15_000,
    });
    return out.trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The Python 3 that makes a venv: `$variable` when set, else Debian's own /usr/bin/python3
 * (3.11 on Debian 12; its -dev headers are what a source build compiles against), else a
 * python3 on PATH; at least 3.`minimumMinor`. `what` names the venv's purpose in errors.
 */
export function findPython3(variable: string, minimumMinor: number, what: string): PythonInterpreter {
  const explicit = process.env[variable]?.trim();
  const candidates = explicit ? [explicit] : ["/usr/bin/python3", "python3"];
  for (const command of candidates) {
    if (command.startsWith("/") && !existsSync(command)) continue;
    const version = pythonVersion(command);
    if (version === undefined) continue;
    const [major, minor] = version.split(".").map(Number);
    if (major === 3 && (minor ?? 0) >= minimumMinor) return { command, version };
    if (explicit) throw new Error(`${variable}=${explicit} is Python ${version}; ${what} needs 3.${minimumMinor} or later`);
  }
  throw new Error(
    explicit
      ? `${variable}=${explicit} does not run; point it at a Python 3.${minimumMinor}+ interpreter`
      : `no Python 3.${minimumMinor}+ found for ${what}: apt-get install python3 python3-venv python3-dev, or set ${variable}`,
  );
}

/** "3.11" of "3.11.2". */
export const minorOf = (version: string) => version.split(".").slice(0, 2).join(".");

/** The folder of cached venvs: $XDG_CACHE_HOME/backup-coordinator, else ~/.cache/backup-coordinator. */
export function cacheRoot(): string {
  const cache = process.env.XDG_CACHE_HOME?.trim() || join(homedir(), ".cache");
  return join(cache, "backup-coordinator");
}

/**
 * Run a command, its output appended to `log`; resolves with its standard output, rejects with
 * the log's tail when it fails or outlives `timeoutMs`.
 */
export async function runLogged(command: string, args: readonly string[], log: string, timeoutMs = INSTALL_DEADLINE_MS): Promise<string> {
  const out = createWriteStream(log, { flags: "a" });
  out.write(`$ ${command} ${args.join(" ")}\n`);
  let stdout = "";
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: "1", PIP_NO_INPUT: "1" },
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      out.write(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => out.write(chunk));
    child.once("error", reject);
    child.once("close", exit => {
      clearTimeout(timer);
      resolve(exit);
    });
  });
  await new Promise(resolve => out.end(resolve));
  if (code !== 0) {
    const tail = (await readFile(log, "utf8")).split("\n").slice(-25).join("\n");
    throw new Error(`${command} ${args.slice(0, 4).join(" ")}… failed (exit ${code}); see ${log}:\n${tail}`);
  }
  return stdout;
}

/**
 * Take an install lock (a folder: mkdir is atomic); waits while another process installs, and
 * breaks a lock older than `staleMs` (its install died).
 */
export async function installLock(path: string, staleMs = STALE_LOCK_MS): Promise<() => Promise<void>> {
  const started = Date.now();
  for (;;) {
    try {
      await mkdir(path);
      return () => rm(path, { recursive: true, force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const age = Date.now() - (await stat(path).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
      if (age > staleMs) await rm(path, { recursive: true, force: true });
      else if (Date.now() - started > staleMs) throw new Error(`waited too long for another install into ${path.replace(/\.lock$/, "")}`);
      else await new Promise(resolve => setTimeout(resolve, 2_000));
    }
  }
}

/** The marker of a complete venv holding exactly `packages` on this Python, if `dir` has one. */
async function readMarker(dir: string, python: PythonInterpreter, packages: readonly string[]): Promise<z.infer<typeof markerSchema> | undefined> {
  try {
    const marker = markerSchema.parse(JSON.parse(await readFile(join(dir, MARKER), "utf8")));
    if (marker.pythonVersion !== python.version || marker.packages.join(" ") !== packages.join(" ")) return undefined;
    return existsSync(join(dir, "bin", "python")) ? marker : undefined;
  } catch {
    return undefined;
  }
}

/** What to install, and where. */
export interface PipVenvSpec {
  /** The venv's folder. */
  dir: string;
  python: PythonInterpreter;
  /** pip requirement strings, pinned (`borgbackup==1.4.5`). */
  packages: readonly string[];
  /** pip options (e.g. `--no-binary`), before the packages. */
  pipOptions?: readonly string[];
  /** Progress lines. */
  log?: (line: string) => void;
}

/** The venv of `spec`, installed when the cache does not hold it. Parallel callers wait for one install. */
export async function ensurePipVenv(spec: PipVenvSpec): Promise<PipVenv> {
  const { dir, python, packages } = spec;
  const bin = join(dir, "bin");
  const ready = await readMarker(dir, python, packages);
  if (ready) return { ...ready, dir, bin, fresh: false };

  await mkdir(dirname(dir), { recursive: true });
  const unlock = await installLock(`${dir}.lock`);
  try {
    // another process may have finished it while we waited
    const done = await readMarker(dir, python, packages);
    if (done) return { ...done, dir, bin, fresh: false };

    const started = Date.now();
    spec.log?.(`installing ${packages.join(" ")} on Python ${python.version} (${python.command}) into ${dir}`);
    await rm(dir, { recursive: true, force: true });
    const installLog = `${dir}.install.log`;
    await writeFile(installLog, "");
    await runLogged(python.command, ["-m", "venv", dir], installLog);
    await runLogged(join(bin, "python"), ["-m", "pip", "install", "--no-cache-dir", ...(spec.pipOptions ?? []), ...packages], installLog);
    const marker: z.infer<typeof markerSchema> = {
      packages: [...packages],
      pythonVersion: python.version,
      pythonCommand: python.command,
      installedAt: new Date().toISOString(),
      installSeconds: Math.round((Date.now() - started) / 100) / 10,
    };
    await writeFile(join(dir, MARKER), `${JSON.stringify(marker, null, 2)}\n`);
    spec.log?.(`${packages.join(" ")} installed in ${marker.installSeconds} s`);
    return { ...marker, dir, bin, fresh: true };
  } finally {
    await unlock();
  }
}
