/**
 * A second process writing the drone's state file: opens the store at argv[2] and adds 1 to
 * `archiveCount` argv[3] times, each a separate change, then prints `DONE`.
 */
import { openStateStore } from "../../apps/drone/core/state.mjs";

const [path = "", times = "0"] = process.argv.slice(2);
const store = await openStateStore(path, message => process.stderr.write(`${message}\n`));
for (let index = 0; index < Number(times); index++) {
  await store.update(state => void (state.archiveCount = (state.archiveCount ?? 0) + 1));
}
process.stdout.write("DONE\n");
