/**
 * A second process opening the drone's run history at argv[2] (and so upgrading its schema):
 * prints `READY` before the open, then one JSON line with what the history warned and how
 * many runs it lists.
 */
import { openRunHistory } from "../../apps/drone/core/history.mjs";

const [path = ""] = process.argv.slice(2);
const warnings: string[] = [];
process.stdout.write("READY\n");
const history = openRunHistory(path, { days: 4000, runs: 5000 }, message => warnings.push(message), { busyTimeoutMs: 60_000 });
const runs = history.list().length;
history.close();
process.stdout.write(`${JSON.stringify({ warnings, runs })}\n`);
