/**
 * borg 1.4, built from PyPI's source release into a cached virtual environment, for the tests
 * that run on borg 1.4 as well as on Debian 12's 1.2.4 (the `borg14` vitest project) and for
 * the benchmark. It compiles against Debian's -dev packages (libssl, liblz4, libzstd,
 * libxxhash, libacl1, pkg-config, python3-dev, build-essential).
 */
import { join } from "node:path";

import { cacheRoot, ensurePipVenv, findPython3, minorOf, type PipVenv, type PythonInterpreter } from "../helpers/pip-venv.mjs";

/** The borg 1.4 release tested: the newest 1.4.x on PyPI when pinned. `BORG14_VERSION` overrides it. */
export const BORG14_VERSION = "1.4.5";

/** The release to install. */
export function borg14Version(): string {
  const version = process.env.BORG14_VERSION?.trim() || BORG14_VERSION;
  if (!/^1\.4\.\d+$/.test(version)) throw new Error(`BORG14_VERSION=${version} is not a borg 1.4.x release; set it like 1.4.5 or unset it`);
  return version;
}

/** The Python that builds borg: `BORG14_PYTHON`, else Debian's python3 (see {@link findPython3}). */
export function borgPython(): PythonInterpreter {
  // borg 1.4 supports Python 3.9 and later
  return findPython3("BORG14_PYTHON", 9, "building borg 1.4");
}

/** Where the venv of this borg release and Python lives. */
export function borg14Dir(python: PythonInterpreter, version = borg14Version()): string {
  return join(cacheRoot(), `borg-${version}-py${minorOf(python.version)}`);
}

/** The cached borg 1.4 venv, built when missing (about a minute uncached); `bin` holds `borg`. */
export async function ensureBorg14(options: { log?: (line: string) => void } = {}): Promise<PipVenv & { borg: string }> {
  const python = borgPython();
  const version = borg14Version();
  const venv = await ensurePipVenv({
    dir: borg14Dir(python, version),
    python,
    packages: [`borgbackup==${version}`],
    // a source build against this machine's libraries, never a wheel from elsewhere
    pipOptions: ["--no-binary", "borgbackup"],
    ...(options.log ? { log: options.log } : {}),
  });
  return { ...venv, borg: join(venv.bin, "borg") };
}
