/**
 * `npm run bench`: the drone against raw borg and borgmatic, start-up cost, ETA accuracy,
 * progress latency and the coordinator at scale. The create comparison runs on Debian's borg
 * (1.2.4) and again on borg 1.4.x, with Debian's borgmatic 1.7.7 and PyPI's borgmatic 2.1.x
 * beside the drone. It needs: borgbackup and borgmatic (apt-get install), and for borg 1.4 and
 * borgmatic 2 python3-venv and PyPI, with borg 1.4 built from source against python3-dev,
 * build-essential, pkg-config, libssl-dev, liblz4-dev, libzstd-dev, libxxhash-dev and
 * libacl1-dev (both venvs are cached in ~/.cache/backup-coordinator; a peer that cannot be
 * installed is left out, with a note in the results). Builds the project first (the one-shot is
 * measured as people run it: the built bin), generates seeded data sets in a temp folder,
 * writes bench/results/<timestamp>.json and latest.json, and regenerates docs/benchmarks.md.
 *
 *   npm run bench                  the full run (about 1 GB and 50,000 files; its
 *                                  create comparison alone about 75 minutes, half on borg 1.4)
 *   npm run bench -- --quick       small data sets, two rounds: a smoke check (about 5 minutes)
 *   options: --no-build, --keep (keep the temp folder), --only=startup,create,coordinator,latency,ha-cost,
 *            --no-borg14 (the create comparison on Debian's borg only), --no-borgmatic2
 *   (with --only, the sections not run are carried over from the previous latest.json, and a
 *   note says so); ha-cost needs SYNAPSE_EXTENSION_DIR (a synapse-extension checkout)
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { compareCreate, type CreateTiming, type EtaRun } from "./create.mjs";
import { measureCoordinatorProcess, measureDetection, measureSchedulingStep } from "./coordinator.mjs";
import { measureCoordinatorReal } from "./coordinator-real.mjs";
import { measureHaCost } from "./ha-cost.mjs";
import { measureLatency } from "./latency.mjs";
import { datasetSpecs, generateDataset } from "./lib/datasets.mjs";
import { detectMachine } from "./lib/machine.mjs";
import { startWorker } from "./lib/messages.mjs";
import { borg14, borgmatic2, type BorgUnderTest, systemBorg } from "./lib/peers.mjs";
import { type Results, resultsSchema } from "./lib/results.mjs";
import { writeReport } from "./report.mjs";
import { mustRun } from "./lib/spawn.mjs";
import { median } from "./lib/stats.mjs";
import { measureStartup } from "./startup.mjs";
import { errorText } from "../libs/config/errors.mjs";
import { DRONE_CONFIGURATION } from "../apps/drone/config.mjs";

const ROOT = join(import.meta.dirname, "..");
const SECTIONS = ["startup", "create", "coordinator", "latency", "ha-cost"] as const;
type Section = (typeof SECTIONS)[number];

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    "no-build": { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
    only: { type: "string" },
    "no-borg14": { type: "boolean", default: false },
    "no-borgmatic2": { type: "boolean", default: false },
  },
});
const quick = values.quick ?? false;
const only = new Set<Section>(
  values.only === undefined
    ? SECTIONS
    : values.only.split(",").map(name => {
        const section = SECTIONS.find(candidate => candidate === name.trim());
        if (!section) throw new Error(`--only: unknown section ${JSON.stringify(name)}; choose from ${SECTIONS.join(", ")}`);
        return section;
      }),
);

const log = (line: string) => process.stdout.write(`${line}\n`);
const rounds = quick ? { first: 1, incremental: 2, eta: 2, startup: 2 } : { first: 20, incremental: 9, eta: 4, startup: 10 };
const DRONES = 1_000;
const COMPRESSION = "lz4";

/**
 * A machine whose network needs its own CA exports NODE_EXTRA_CA_CERTS, and Node then reads
 * and parses that bundle at every start, before any of the program runs. A homelab's machine
 * does not set it: this run measures without it (every variant), and says what it cost here.
 */
async function withoutExtraCaCerts(say: (line: string) => void): Promise<string | undefined> {
  const file = process.env.NODE_EXTRA_CA_CERTS;
  if (file === undefined) return undefined;
  const { NODE_EXTRA_CA_CERTS: _, ...without } = process.env;
  const times = { with: [] as number[], without: [] as number[] };
  for (let round = 0; round < 15; round++) {
    times.with.push((await mustRun(process.execPath, ["-e", "0"], { env: process.env, cwd: ROOT })).ms);
    times.without.push((await mustRun(process.execPath, ["-e", "0"], { env: without, cwd: ROOT })).ms);
  }
  delete process.env.NODE_EXTRA_CA_CERTS;
  const note =
    `This machine exports NODE_EXTRA_CA_CERTS=${file} (a CA for its network's proxy), which makes Node read and parse that bundle at every start: ` +
    `\`node -e 0\` took ${median(times.with).toFixed(0)} ms with it and ${median(times.without).toFixed(0)} ms without (medians of 15 alternating runs). ` +
    "A homelab's machine does not set it, and no command of this run had it; borg does not read it.";
  say(note);
  return note;
}

async function main() {
  const startedAt = new Date();
  if (!values["no-build"]) {
    log("building (npm run build, and the benchmark's workers into dist/bench)…");
    // tsc emits even when some file elsewhere has a type error; the built files are what matter
    for (const project of ["tsconfig.build.json", join("bench", "tsconfig.workers.json")]) {
      spawnSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", project], { cwd: ROOT, stdio: "inherit" });
    }
    // the bins as packed: bundled (scripts/bundle.mts)
    spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "scripts", "bundle.mts")], { cwd: ROOT, stdio: "inherit" });
    // the coordinator harness reads its Home Assistant fixtures next to itself
    await cp(join(ROOT, "test", "fixtures", "hass-coordinator"), join(ROOT, "dist", "bench", "test", "fixtures", "hass-coordinator"), { recursive: true });
  }
  const bin = join(ROOT, "dist", "bin", "backup-drone.mjs");

  const work = await mkdtemp(join(tmpdir(), "backup-bench-"));
  const home = join(work, "home");
  await mkdir(home, { recursive: true });
  const machine = detectMachine(work);
  const borgmatic = machine.borgmatic !== null;
  const notes: string[] = [];
  const extraCa = await withoutExtraCaCerts(log);
  if (extraCa !== undefined) notes.push(extraCa);
  if (!borgmatic) {
    log("borgmatic not found: install borgmatic (apt-get install borgmatic) to include it");
    notes.push("borgmatic was not installed: install borgmatic (apt-get install borgmatic) to include it.");
  }

  // the create comparison's borgs and borgmatic 2, from their cached venvs (built when missing)
  const borgs: BorgUnderTest[] = [];
  let borgmatic2Binary: string | undefined;
  if (only.has("create")) {
    const system = systemBorg();
    if (system.ok) borgs.push(system.value);
    else notes.push(`${system.reason}.`);
    if (!values["no-borg14"]) {
      const newer = await borg14(log);
      if (newer.ok) {
        borgs.push(newer.value);
        machine.borg14 = newer.value.version;
        log(`borg ${newer.value.version}: ${newer.value.binary} (${newer.note})`);
      } else {
        log(newer.reason);
        notes.push(`${newer.reason}.`);
      }
    }
    if (!values["no-borgmatic2"]) {
      const peer = await borgmatic2(log);
      if (peer.ok) {
        borgmatic2Binary = peer.value.binary;
        machine.borgmatic2 = peer.value.version;
        log(`borgmatic ${peer.value.version}: ${peer.value.binary} (${peer.note})`);
      } else {
        log(peer.reason);
        notes.push(`${peer.reason}.`);
      }
    }
  }
  log(`machine: ${machine.cores} cores, ${(machine.memoryBytes / 2 ** 30).toFixed(1)} GiB, load ${machine.loadAverage.toFixed(2)}; node ${machine.node}, borg ${machine.borg}, borgmatic ${machine.borgmatic ?? "absent"}`);
  log(`work folder: ${work}`);

  // a passphrase of this run only, in a 0600 file; never on a command line
  const passphrase = randomBytes(24).toString("base64url");
  const passphraseFile = join(work, "passphrase");
  await writeFile(passphraseFile, `${passphrase}\n`, { mode: 0o600 });
  const childEnv: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith("BORG_") && !key.startsWith("DRONE_") && !key.startsWith("HASS") && key !== "TOKEN") childEnv[key] = value;
  }
  Object.assign(childEnv, { HOME: home, LANG: "C.UTF-8" });

  const results: Results = {
    v: 1,
    startedAt: startedAt.toISOString(),
    finishedAt: "",
    quick,
    command: quick ? "npm run bench -- --quick" : "npm run bench",
    machine,
    settings: { compression: COMPRESSION, encryption: "repokey-blake2", rounds, progressIntervalMs: DRONE_CONFIGURATION.PROGRESS_INTERVAL_MS.default, drones: DRONES },
    datasets: [],
    startup: [],
    create: [],
    eta: [],
    coordinator: null,
    latency: { status: "pending", reason: "not run (--only)" },
    haCost: { status: "skipped", reason: "not run (--only)" },
    notes,
  };

  try {
    if (only.has("startup")) {
      log("start-up of one-shot commands…");
      results.startup = await measureStartup({ work, home, passphrase, passphraseFile, bin, borgmatic, env: childEnv, log }, rounds.startup);
    }

    if (only.has("create")) {
      const worker = startWorker("drone-worker");
      try {
        for (const spec of datasetSpecs(quick)) {
          log(`generating ${spec.name}: ${spec.files} files…`);
          const generated = performance.now();
          let dataset = await generateDataset(join(work, "data"), spec);
          const generateMs = performance.now() - generated;
          log(`  ${(dataset.bytes / 1e6).toFixed(0)} MB in ${dataset.files} files (${(generateMs / 1000).toFixed(1)} s)`);
          const changes: { files: number; bytes: number }[] = [];
          for (const [index, borg] of borgs.entries()) {
            // each borg starts from the data as generated (the incremental rounds changed it); the ETA runs on the first only
            if (index > 0) {
              await rm(dataset.root, { recursive: true, force: true });
              dataset = await generateDataset(join(work, "data"), spec);
            }
            const compared: { timings: CreateTiming[]; eta: EtaRun[]; changes: { files: number; bytes: number }[] } = await compareCreate(
              { work, home, passphrase, passphraseFile, compression: COMPRESSION, bin, borg, borgmatic, ...(borgmatic2Binary ? { borgmatic2: borgmatic2Binary } : {}), worker, log },
              dataset,
              index === 0 ? rounds : { ...rounds, eta: 0 },
            );
            results.create.push(...compared.timings);
            results.eta.push(...compared.eta);
            if (index === 0) changes.push(...compared.changes);
          }
          results.datasets.push({ name: spec.name, files: dataset.files, bytes: dataset.bytes, generateMs, changes });
          // the repositories of this data set are done with; the disk is not infinite
          await rm(join(work, "repos", spec.name), { recursive: true, force: true });
          await rm(dataset.root, { recursive: true, force: true });
        }
      } finally {
        await worker.stop();
      }
    }

    if (only.has("coordinator")) {
      log(`coordinator with ${DRONES} drones…`);
      const step = measureSchedulingStep(DRONES, quick ? 50 : 300);
      const detection = measureDetection();
      let processMeasurement = null;
      let processError: string | null = null;
      try {
        processMeasurement = await measureCoordinatorProcess(DRONES, quick ? 5 : 20);
      } catch (error) {
        processError = errorText(error);
        log(`  the coordinator process could not be measured: ${processError}`);
      }
      let real = null;
      let realError: string | null = null;
      try {
        real = await measureCoordinatorReal(join(ROOT, "dist", "bin", "backup-coordinator.mjs"), DRONES, quick ? 2 : 8, log);
      } catch (error) {
        realError = errorText(error);
        log(`  the real coordinator process could not be measured: ${realError}`);
      }
      results.coordinator = { step, detection, process: processMeasurement, processError, real, realError };
    }

    if (only.has("latency")) {
      log("progress latency through Home Assistant…");
      results.latency = await measureLatency({ work, bin, passphraseFile, env: childEnv, log, quick });
    }

    if (only.has("ha-cost")) {
      log("what a drone costs Home Assistant (real Home Assistant, its recorder, the synapse integration)…");
      results.haCost = await measureHaCost({ work, bin, log, quick });
      if (results.haCost.status !== "measured") log(`  ${results.haCost.status}: ${results.haCost.reason}`);
    }
  } finally {
    if (!values.keep) await rm(work, { recursive: true, force: true });
    else log(`kept ${work}`);
  }

  results.finishedAt = new Date().toISOString();
  const resultsDir = join(ROOT, "bench", "results");
  // with --only, what did not run; and Home Assistant's cost when it was skipped (no synapse-extension checkout here)
  const carry = new Set<Section>(values.only === undefined ? [] : SECTIONS.filter(section => !only.has(section)));
  if (results.haCost?.status === "skipped") carry.add("ha-cost");
  if (carry.size > 0) await carryOver(results, join(resultsDir, "latest.json"), carry);
  await mkdir(resultsDir, { recursive: true });
  const stamp = results.startedAt.replace(/[:.]/g, "-");
  const json = `${JSON.stringify(results, null, 1)}\n`;
  await writeFile(join(resultsDir, `${stamp}.json`), json);
  await writeFile(join(resultsDir, "latest.json"), json);
  const doc = await writeReport(results, join(ROOT, "docs", "benchmarks.md"));
  log(`results: bench/results/${stamp}.json (and latest.json); ${doc}`);
}

/**
 * Sections not run (with --only) or skipped (Home Assistant's cost without a synapse-extension
 * checkout) come from the previous latest.json when it has them, so that the page keeps every
 * table; a note names the run they come from.
 */
async function carryOver(results: Results, latest: string, sections: Set<Section>) {
  if (!existsSync(latest)) return;
  const previous = resultsSchema.safeParse(JSON.parse(await readFile(latest, "utf8")));
  if (!previous.success) return void log(`${latest} does not parse: nothing carried over`);
  const old = previous.data;
  const carried: string[] = [];
  if (sections.has("startup")) {
    results.startup = old.startup;
    carried.push("start-up");
  }
  if (sections.has("create")) {
    Object.assign(results, { create: old.create, eta: old.eta, datasets: old.datasets });
    carried.push("create and ETA");
  }
  if (sections.has("coordinator")) {
    results.coordinator = old.coordinator;
    carried.push("coordinator");
  }
  if (sections.has("latency")) {
    results.latency = old.latency;
    carried.push("latency");
  }
  if (sections.has("ha-cost") && old.haCost?.status === "measured") {
    results.haCost = old.haCost;
    carried.push("Home Assistant's cost");
  }
  // the settings describe the sections of borg runs: theirs when none of them ran now
  if (sections.has("startup") && sections.has("create") && sections.has("latency")) results.settings = old.settings;
  // a section the previous run carried itself keeps the run that measured it; that run's note
  // names only the sections still carried (the others were measured since)
  const noted = new Set<string>();
  for (const note of old.notes) {
    const match = CARRIED_NOTE.exec(note);
    if (!match) continue;
    const [, startedAt, command, names] = match;
    const still = (names ?? "").split(", ").filter(name => carried.includes(name) && !noted.has(name));
    still.forEach(name => noted.add(name));
    if (still.length > 0) results.notes.push(carriedNote(startedAt ?? "", command ?? "", still));
  }
  const own = carried.filter(name => !noted.has(name));
  if (own.length > 0) results.notes.push(carriedNote(old.startedAt, old.command, own));
}

/** The note naming the run a carried section comes from. */
const carriedNote = (startedAt: string, command: string, names: readonly string[]) =>
  `Carried over from the run of ${startedAt} (\`${command}\`): ${names.join(", ")}; the machine table describes this run.`;
const CARRIED_NOTE = /^Carried over from the run of (\S+) \(`([^`]*)`\): (.*); the machine table describes this run\.$/;

await main();
