/**
 * `tsx test/borg14/install.mts`: build (or find) the cached borg 1.4 venv before the suite
 * runs, and say what it holds. `.ci/run` calls it so that an uncached build is timed on its own.
 */
import { execFileSync } from "node:child_process";

import { ensureBorg14 } from "./venv.mjs";

const venv = await ensureBorg14({ log: line => console.log(line) });
const said = execFileSync(venv.borg, ["--version"], { encoding: "utf8", timeout: 30_000 }).trim();
console.log(
  `${said} on Python ${venv.pythonVersion} (${venv.pythonCommand}) in ${venv.dir}: ` +
    (venv.fresh ? `built now in ${venv.installSeconds} s` : `cached, built ${venv.installedAt} in ${venv.installSeconds} s`),
);
