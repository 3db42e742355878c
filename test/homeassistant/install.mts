/**
 * `tsx test/homeassistant/install.mts`: make (or find) the cached Home Assistant venv before
 * the suite runs, and say what it holds. `.ci/run` calls it so that an uncached install is
 * timed on its own and not inside a test's deadline.
 */
import { ensureVenv } from "./venv.mjs";

const venv = await ensureVenv({ log: line => console.log(line) });
console.log(
  `Home Assistant ${venv.haVersion} on Python ${venv.pythonVersion} (${venv.pythonCommand}) in ${venv.dir}: ` +
    (venv.fresh ? `installed now in ${venv.installSeconds} s` : `cached, installed ${venv.installedAt} in ${venv.installSeconds} s`),
);
