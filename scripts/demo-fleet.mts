/**
 * `npm run demo:fleet`: a whole home on this machine. It starts the loopback Home Assistant,
 * three real `backup-drone` daemons (each with its own sources and repository; `laptop` and
 * `desktop` keep theirs on the same host, `nas`) and the real `backup-coordinator`; lets the
 * coordinator run one full round with real borg; prints a JSON summary and exits 0 when
 * every drone succeeded. Everything lives in a temp folder that is removed afterwards
 * (`--keep` keeps it, `--verbose` shows every process's output).
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { startEmulator } from "../test/emulator/index.mjs";
import { Fleet, type FleetDroneSpec, peakConcurrency } from "../test/fleet/harness.mjs";
import { errorText } from "../libs/config/errors.mjs";

const args = new Set(process.argv.slice(2));
const verbose = args.has("--verbose");
const keep = args.has("--keep");

const DRONES: FleetDroneSpec[] = [
  { id: "laptop", host: "nas", files: 40, bytes: 1024 * 1024 },
  { id: "desktop", host: "nas", files: 60, bytes: 1024 * 1024 },
  { id: "pi", host: "usb-disk", files: 20, bytes: 1024 * 1024 },
];

const say = (line: string) => process.stderr.write(`${line}\n`);

const root = await mkdtemp(join(tmpdir(), "backup-fleet-demo-"));
const token = randomBytes(24).toString("hex");
const emulator = await startEmulator({ token, port: 0 });
const fleet = new Fleet({
  root,
  emulator,
  token,
  drones: DRONES,
  log: (source, line) => {
    if (verbose) say(`  ${source.padEnd(11)} ${line}`);
  },
});

let exitCode = 1;
try {
  say(`loopback Home Assistant at ${emulator.url}; the home lives in ${root}`);
  await fleet.prepare();
  say("starting three drones and the coordinator …");
  const since = emulator.events().length;
  const started = Date.now();
  await fleet.startAll();
  say("the coordinator is running a round (per-host limit 1: laptop and desktop share the nas) …");
  const results = await fleet.round(
    DRONES.map(drone => drone.id),
    since,
    10 * 60_000,
  );
  const runs = [];
  const drones: Record<string, unknown> = {};
  for (const spec of DRONES) {
    const drone = fleet.drone(spec.id);
    const archives = await drone.archives();
    const result = results.get(spec.id);
    for (const archive of archives) runs.push({ host: spec.host ?? spec.id, start: archive.start, end: archive.end });
    drones[spec.id] = {
      repository_host: spec.host ?? spec.id,
      outcome: result?.outcome ?? "none",
      archives: archives.length,
      last_backup: archives.at(-1)?.end.toISOString() ?? null,
      duration_seconds: result?.duration_seconds ?? null,
      error: result?.error ?? null,
    };
  }
  const failures = [...results.values()].filter(result => result.outcome !== "success").map(result => ({ drone_id: result.drone_id, error: result.error }));
  const summary = {
    round_seconds: Math.round((Date.now() - started) / 100) / 10,
    drones,
    most_concurrent_runs_per_host: Object.fromEntries(peakConcurrency(runs)),
    coordinator_runs_started: fleet.coordinatorEvents("backup_coordinator_run_started", since).filter(event => event.ours).length,
    failures,
  };
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  exitCode = failures.length === 0 && results.size === DRONES.length ? 0 : 1;
  say(exitCode === 0 ? "every drone backed up: the round is complete" : "some drones failed: see failures above");
} catch (error) {
  say(`demo:fleet failed: ${errorText(error)}`);
} finally {
  await fleet.stopAll().catch(() => undefined);
  await emulator.stop();
  if (keep) say(`kept ${root}`);
  else await rm(root, { recursive: true, force: true });
}
process.exitCode = exitCode;
