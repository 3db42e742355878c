/**
 * The peers the create comparison runs beside the drone, beyond Debian's borg 1.2.4 and
 * borgmatic 1.7.7: borg 1.4.x (the cached venv of test/borg14) and borgmatic 2.1.x from PyPI in
 * its own cached venv (~/.cache/backup-coordinator/borgmatic-<version>-py<x.y>). Either one
 * that cannot be installed is left out of the run with a note that says what it needs.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";

import { ensureBorg14 } from "../../test/borg14/venv.mjs";
import { cacheRoot, ensurePipVenv, findPython3, minorOf } from "../../test/helpers/pip-venv.mjs";

/** The borgmatic 2.x release compared: the newest 2.1.x on PyPI when pinned. `BORGMATIC2_VERSION` overrides it. */
export const BORGMATIC2_VERSION = "2.1.10";

/** A borg binary the comparison runs on. */
export interface BorgUnderTest {
  /** A name on PATH or an absolute path. */
  binary: string;
  /** As `borg --version` says it, e.g. `1.4.5`. */
  version: string;
}

/** A peer that is ready, or why it is not. */
export type Peer<T> = { ok: true; value: T; note: string } | { ok: false; reason: string };

const versionOf = (binary: string, prefix: RegExp) => execFileSync(binary, ["--version"], { encoding: "utf8", timeout: 30_000 }).trim().replace(prefix, "");

/** Debian's borg (the `borg` on PATH). */
export function systemBorg(): Peer<BorgUnderTest> {
  try {
    return { ok: true, value: { binary: "borg", version: versionOf("borg", /^borg\s+/) }, note: "" };
  } catch {
    return { ok: false, reason: "borg is not installed: apt-get install borgbackup" };
  }
}

/** borg 1.4 from its cached venv, built when missing (needs the -dev packages .ci/run installs). */
export async function borg14(log: (line: string) => void): Promise<Peer<BorgUnderTest>> {
  try {
    const venv = await ensureBorg14({ log });
    return { ok: true, value: { binary: venv.borg, version: versionOf(venv.borg, /^borg\s+/) }, note: venv.fresh ? `built in ${venv.installSeconds} s` : "cached" };
  } catch (error) {
    return {
      ok: false,
      reason: `borg 1.4 could not be built (${String(error).split("\n")[0] ?? ""}): apt-get install python3-venv python3-dev build-essential pkg-config libssl-dev liblz4-dev libzstd-dev libxxhash-dev libacl1-dev`,
    };
  }
}

/** borgmatic 2.x from its cached venv, installed from PyPI when missing. */
export async function borgmatic2(log: (line: string) => void): Promise<Peer<{ binary: string; version: string }>> {
  const version = process.env.BORGMATIC2_VERSION?.trim() || BORGMATIC2_VERSION;
  try {
    // borgmatic 2.1 needs Python 3.9 or later
    const python = findPython3("BORGMATIC2_PYTHON", 9, "borgmatic 2");
    const venv = await ensurePipVenv({ dir: join(cacheRoot(), `borgmatic-${version}-py${minorOf(python.version)}`), python, packages: [`borgmatic==${version}`], log });
    const binary = join(venv.bin, "borgmatic");
    return { ok: true, value: { binary, version: versionOf(binary, /^borgmatic\s+/) }, note: venv.fresh ? `installed in ${venv.installSeconds} s` : "cached" };
  } catch (error) {
    return { ok: false, reason: `borgmatic ${version} could not be installed from PyPI (${String(error).split("\n")[0] ?? ""}): it needs python3-venv and access to PyPI` };
  }
}
