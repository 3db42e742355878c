/**
 * A drone process to kill: boots the engine from the JSON configuration in argv[2], starts a
 * create, prints `RUNNING <borg pid>` once borg reports progress, then waits to be killed.
 */
import { join } from "node:path";

import { parseDroneConfig, defaultConfigValues } from "../../apps/drone/config.mjs";
import { createDroneEngine } from "../../apps/drone/core/engine.mjs";
import { openStateStore } from "../../apps/drone/core/state.mjs";

const values = { ...defaultConfigValues(), ...(JSON.parse(process.argv[2] ?? "{}") as Record<string, unknown>) };
const config = parseDroneConfig(values);
const store = await openStateStore(join(config.stateDir, `${config.droneId}.json`), () => undefined);
const quiet = () => undefined;
const engine = createDroneEngine({ config, store, log: { debug: quiet, info: quiet, warn: quiet, error: quiet } });
let announced = false;
engine.onProgress(event => {
  const borgPid = engine.persisted().running?.borgPid;
  if (!announced && event.original_size > 0 && borgPid) {
    announced = true;
    process.stdout.write(`RUNNING ${borgPid}\n`);
  }
});
void engine.run("create", "cli");
