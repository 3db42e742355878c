/**
 * Finding the Python 3.13 that runs Home Assistant: `HA_PYTHON` when set, else pyenv's
 * 3.13.x (Debian 12 machines: the `python3.13` shim refuses while pyenv's global version is
 * another one, so the interpreter is called by its path), else a `python3.13` on PATH
 * (Debian 13's own, from `apt install python3.13 python3.13-venv`).
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

/** A Python interpreter and its exact version. */
export interface Python {
  /** Absolute path, or a command name found on PATH. */
  command: string;
  /** e.g. "3.13.0". */
  version: string;
  /** Where it was found, for messages: "HA_PYTHON", "pyenv", "PATH". */
  source: string;
}

/** The minor version Home Assistant's pinned release needs. */
export const PYTHON_MINOR = "3.13";

/** The interpreter's version, or undefined when it does not run. */
function versionOf(command: string): string | undefined {
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

/** pyenv's root folder, if pyenv is installed. */
function pyenvRoot(): string | undefined {
  if (process.env.PYENV_ROOT && existsSync(process.env.PYENV_ROOT)) return process.env.PYENV_ROOT;
  try {
    return execFileSync("pyenv", ["root"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 10_000 }).trim() || undefined;
  } catch {
    const home = process.env.HOME;
    return home && existsSync(join(home, ".pyenv")) ? join(home, ".pyenv") : undefined;
  }
}

/** pyenv's installed 3.13.x interpreters, newest first. */
function pyenvCandidates(): string[] {
  const root = pyenvRoot();
  if (!root || !existsSync(join(root, "versions"))) return [];
  return readdirSync(join(root, "versions"))
    .filter(name => /^3\.13\.\d+$/.test(name))
    .sort((a, b) => Number(b.split(".")[2]) - Number(a.split(".")[2]))
    .map(name => join(root, "versions", name, "bin", `python${PYTHON_MINOR}`));
}

/** Find Python 3.13, or throw saying what to install. */
export function findPython(): Python {
  const explicit = process.env.HA_PYTHON?.trim();
  if (explicit) {
    const version = versionOf(explicit);
    if (!version) throw new Error(`HA_PYTHON=${explicit} does not run; point it at a Python ${PYTHON_MINOR} interpreter`);
    if (!version.startsWith(`${PYTHON_MINOR}.`)) throw new Error(`HA_PYTHON=${explicit} is Python ${version}; Home Assistant's pinned release needs ${PYTHON_MINOR}`);
    return { command: explicit, version, source: "HA_PYTHON" };
  }
  for (const candidate of pyenvCandidates()) {
    const version = existsSync(candidate) ? versionOf(candidate) : undefined;
    if (version?.startsWith(`${PYTHON_MINOR}.`)) return { command: candidate, version, source: "pyenv" };
  }
  const onPath = versionOf(`python${PYTHON_MINOR}`);
  if (onPath?.startsWith(`${PYTHON_MINOR}.`)) return { command: `python${PYTHON_MINOR}`, version: onPath, source: "PATH" };
  throw new Error(
    `no Python ${PYTHON_MINOR} found for Home Assistant: install it (Debian 13: apt install python${PYTHON_MINOR} python${PYTHON_MINOR}-venv; Debian 12: pyenv install ${PYTHON_MINOR}.0), or set HA_PYTHON to its path`,
  );
}
