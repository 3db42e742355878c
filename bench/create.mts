/**
 * `create` side by side: raw borg, raw borg with the drone's arguments, the drone as a library
 * call, the one-shot command, Debian's borgmatic 1.7 and PyPI's borgmatic 2, each on its own
 * repository with the same settings; first backups (fresh repositories) and incremental ones
 * (after a seeded change). One comparison runs on one borg (Debian's 1.2.4, or 1.4.x): every
 * variant, the drone's and borgmatic's included, runs that borg.
 * Every round runs each variant once, and the order rotates from round to round, so that no
 * variant always runs first after a change (or always right after another).
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { createCommand } from "../libs/borg/commands.mjs";
import { defaultConfigValues, parseDroneConfig } from "../apps/drone/config.mjs";
import { createOptionsOf, repositoryOf } from "../apps/drone/core/engine.mjs";
import { changeDataset, type Dataset } from "./lib/datasets.mjs";
import { type ProgressSample, type Worker } from "./lib/messages.mjs";
import { fillPageCache } from "./lib/page-cache.mjs";
import { type BorgUnderTest } from "./lib/peers.mjs";
import { mustRun, timedRun } from "./lib/spawn.mjs";

/** The variants, in the order each round runs them. */
export const VARIANTS = ["raw_borg", "borg_drone_args", "drone_library", "drone_one_shot", "borgmatic", "borgmatic2"] as const;
export type Variant = (typeof VARIANTS)[number];

/** One timed create. */
export interface CreateTiming {
  dataset: string;
  phase: "first" | "incremental";
  round: number;
  variant: Variant;
  /** The borg version every variant of this comparison ran on. */
  borg: string;
  ms: number;
  /** Peak resident memory of the drone's own process (one-shot: VmHWM; library: the worker's maxRSS). */
  peakRssBytes: number | null;
}

/** The progress a library create reported, for the ETA analysis. */
export interface EtaRun {
  dataset: string;
  phase: "first" | "incremental";
  /** `default`: PROGRESS_INTERVAL_MS as shipped; `every_line`: 0, every borg progress line. */
  interval: "default" | "every_line";
  progress: ProgressSample[];
  /** When the run was requested and how long it took (epoch ms, ms). */
  startedAt: number;
  ms: number;
}

/** What every variant shares. */
export interface CreateContext {
  work: string;
  /** HOME of every child: nobody's own configuration is read. */
  home: string;
  passphrase: string;
  passphraseFile: string;
  compression: string;
  /** The built `backup-drone` (dist/bin/backup-drone.mjs). */
  bin: string;
  /** The borg every variant runs. */
  borg: BorgUnderTest;
  /** Debian's borgmatic (1.7.7) is installed. */
  borgmatic: boolean;
  /** borgmatic 2.x's executable (bench/lib/peers.mts), when it could be installed. */
  borgmatic2?: string;
  worker: Worker;
  log: (line: string) => void;
}

const baseEnv = (context: CreateContext, extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith("BORG_") && !key.startsWith("DRONE_") && !key.startsWith("HASS") && key !== "TOKEN") env[key] = value;
  }
  return { ...env, HOME: context.home, LANG: "C.UTF-8", ...extra };
};

/** Where one variant keeps its repository, borg base dir and drone state (apart for each borg). */
function paths(context: CreateContext, dataset: Dataset, variant: Variant, tag: string) {
  const base = join(context.work, "repos", dataset.spec.name, `borg-${context.borg.version}`, `${variant}-${tag}`);
  return { repository: join(base, "repo"), baseDir: join(base, "borg-base"), stateDir: join(base, "state"), root: base };
}

type VariantPaths = ReturnType<typeof paths>;

async function initRepository(context: CreateContext, at: VariantPaths) {
  await mustRun(context.borg.binary, ["init", "--encryption", "repokey-blake2", "--make-parent-dirs", at.repository], {
    env: baseEnv(context, { BORG_PASSPHRASE: context.passphrase, BORG_BASE_DIR: at.baseDir }),
    cwd: context.work,
  });
}

/** The drone's configuration for a variant: everything else is the shipped default. */
const droneConfig = (context: CreateContext, dataset: Dataset, at: VariantPaths, extra: Record<string, unknown> = {}) => ({
  DRONE_ID: "bench",
  REPOSITORY: at.repository,
  PASSPHRASE_FILE: context.passphraseFile,
  SOURCES: [dataset.root],
  STATE_DIR: at.stateDir,
  BORG_BASE_DIR: at.baseDir,
  COMPRESSION: context.compression,
  BORG_BINARY: context.borg.binary,
  ...extra,
});

/**
 * The borg command line the drone runs for a create with this configuration, built by the
 * drone's own command builder from its parsed configuration (defaults included): raw borg
 * with these arguments shows what borg itself pays for them (`--progress --json --log-json`,
 * the exclusion marker, the checkpoint interval), apart from the drone's own cost.
 */
function droneCreateArgs(context: CreateContext, dataset: Dataset, at: VariantPaths, archive: string): { args: string[]; env: Record<string, string> } {
  const config = parseDroneConfig({ ...defaultConfigValues(), ...droneConfig(context, dataset, at) });
  const command = createCommand(repositoryOf(config, "primary"), createOptionsOf(config, "primary", archive));
  return { args: [...command.args], env: { ...command.env } };
}

async function borgmaticConfig(context: CreateContext, dataset: Dataset, at: VariantPaths): Promise<string> {
  const file = join(at.root, "borgmatic.yaml");
  // borgmatic 1.7 reads sectioned YAML; the passphrase sits in this 0600 file, as borgmatic documents
  const yaml = [
    "location:",
    "    source_directories:",
    `        - ${JSON.stringify(dataset.root)}`,
    "    repositories:",
    `        - ${JSON.stringify(at.repository)}`,
    `    local_path: ${JSON.stringify(context.borg.binary)}`,
    "storage:",
    `    encryption_passphrase: ${JSON.stringify(context.passphrase)}`,
    `    compression: ${JSON.stringify(context.compression)}`,
    `    borg_base_directory: ${JSON.stringify(at.baseDir)}`,
    '    archive_name_format: "borgmatic-{now:%Y-%m-%dT%H:%M:%S.%f}"',
    "",
  ].join("\n");
  await writeFile(file, yaml, { mode: 0o600 });
  return file;
}

/** borgmatic 2's configuration: the same settings, in its flat YAML (sections are gone since 1.8). */
async function borgmatic2Config(context: CreateContext, dataset: Dataset, at: VariantPaths): Promise<string> {
  const file = join(at.root, "borgmatic2.yaml");
  const yaml = [
    "source_directories:",
    `    - ${JSON.stringify(dataset.root)}`,
    "repositories:",
    `    - path: ${JSON.stringify(at.repository)}`,
    `local_path: ${JSON.stringify(context.borg.binary)}`,
    `encryption_passphrase: ${JSON.stringify(context.passphrase)}`,
    `compression: ${JSON.stringify(context.compression)}`,
    `borg_base_directory: ${JSON.stringify(at.baseDir)}`,
    'archive_name_format: "borgmatic-{now:%Y-%m-%dT%H:%M:%S.%f}"',
    "",
  ].join("\n");
  await writeFile(file, yaml, { mode: 0o600 });
  return file;
}

/** Prepared state of one variant on one repository. */
interface Prepared {
  variant: Variant;
  at: VariantPaths;
  /** borgmatic's YAML or the one-shot's JSON configuration file. */
  configFile?: string;
}

async function prepare(context: CreateContext, dataset: Dataset, variant: Variant, tag: string): Promise<Prepared> {
  const at = paths(context, dataset, variant, tag);
  if (variant === "drone_one_shot") {
    // as its user starts: `backup-drone init`, which records in the state that no archive of
    // the drone can be in the new repository (its first backup then starts borg once)
    const configFile = join(at.root, "backup_drone.json");
    await mkdir(at.root, { recursive: true });
    await writeFile(configFile, JSON.stringify({ drone: droneConfig(context, dataset, at) }), { mode: 0o600 });
    await mustRun(process.execPath, [context.bin, "init", "--config", configFile], { env: baseEnv(context), cwd: context.work });
    return { variant, at, configFile };
  }
  if (variant === "drone_library") {
    // as a library user starts: the drone booted on the new repository, then its own
    // `engine.initRepository`, which records that no archive of the drone can be in it
    await context.worker.request({ type: "boot", config: droneConfig(context, dataset, at) });
    const reply = await context.worker.request({ type: "init", encryption: "repokey-blake2" });
    if (reply.type !== "initialized") throw new Error(`drone_library init on ${dataset.spec.name} failed: ${reply.type === "failed" ? reply.message : reply.type}`);
    return { variant, at };
  }
  await initRepository(context, at);
  if (variant === "borgmatic") return { variant, at, configFile: await borgmaticConfig(context, dataset, at) };
  if (variant === "borgmatic2") return { variant, at, configFile: await borgmatic2Config(context, dataset, at) };
  return { variant, at };
}

let archiveCounter = 0;

/** Run one timed create of a variant; the library variant needs its drone booted on `prepared`. */
async function timeCreate(context: CreateContext, dataset: Dataset, prepared: Prepared): Promise<{ ms: number; peakRssBytes: number | null; eta?: Omit<EtaRun, "dataset" | "phase" | "interval"> }> {
  const { variant, at } = prepared;
  // outside the timing, write back what the last variant (or the data change) left dirty, or the
  // kernel flushes it during this run, and read the data set into the page cache, which borg
  // emptied of what it read: every variant starts from the same state (lib/page-cache.mts)
  await fillPageCache(dataset.root, { env: baseEnv(context), cwd: context.work });
  const fail = (what: string, detail: string) => new Error(`${variant} create on ${dataset.spec.name} failed: ${what}\n${detail.slice(-1500)}`);
  if (variant === "raw_borg") {
    archiveCounter += 1;
    // as a person runs it: the same compression, nothing else
    const run = await timedRun(context.borg.binary, ["create", "--compression", context.compression, `${at.repository}::raw-${archiveCounter}`, dataset.root], {
      env: baseEnv(context, { BORG_PASSPHRASE: context.passphrase, BORG_BASE_DIR: at.baseDir }),
      cwd: context.work,
    });
    if (run.code !== 0) throw fail(`exit ${run.code ?? run.signal}`, run.stderr);
    return { ms: run.ms, peakRssBytes: null };
  }
  if (variant === "borg_drone_args") {
    archiveCounter += 1;
    const { args, env } = droneCreateArgs(context, dataset, at, `bench-args-${archiveCounter}`);
    const run = await timedRun(context.borg.binary, args, { env: baseEnv(context, { ...env, BORG_PASSPHRASE: context.passphrase }), cwd: context.work });
    if (run.code !== 0) throw fail(`exit ${run.code ?? run.signal}`, run.stderr);
    return { ms: run.ms, peakRssBytes: null };
  }
  if (variant === "borgmatic" || variant === "borgmatic2") {
    const borgmatic = variant === "borgmatic" ? "borgmatic" : (context.borgmatic2 ?? "borgmatic2");
    const run = await timedRun(borgmatic, ["create", "--config", prepared.configFile ?? ""], { env: baseEnv(context), cwd: context.work });
    if (run.code !== 0) throw fail(`exit ${run.code ?? run.signal}`, run.stderr + run.stdout);
    return { ms: run.ms, peakRssBytes: null };
  }
  if (variant === "drone_one_shot") {
    const run = await timedRun(process.execPath, [context.bin, "create", "--config", prepared.configFile ?? ""], {
      env: baseEnv(context),
      cwd: context.work,
      sampleMemoryMs: 20,
    });
    if (run.code !== 0) throw fail(`exit ${run.code ?? run.signal}`, run.stderr + run.stdout);
    return { ms: run.ms, peakRssBytes: run.peakRssBytes };
  }
  const reply = await context.worker.request({ type: "create" });
  if (reply.type !== "created") throw fail("unexpected reply", reply.type);
  if (reply.outcome !== "success") throw fail(reply.outcome, reply.error ?? "");
  return { ms: reply.ms, peakRssBytes: reply.maxRssBytes, eta: { progress: reply.progress, startedAt: reply.startedAt, ms: reply.ms } };
}

/** Rounds of each phase. */
export interface Rounds {
  first: number;
  incremental: number;
  /** Extra incremental library runs with every progress line published, for the ETA. */
  eta: number;
}

/** Run the comparison on one data set. */
export async function compareCreate(context: CreateContext, dataset: Dataset, rounds: Rounds): Promise<{ timings: CreateTiming[]; eta: EtaRun[]; changes: { files: number; bytes: number }[] }> {
  const variants = VARIANTS.filter(variant => (variant !== "borgmatic" || context.borgmatic) && (variant !== "borgmatic2" || context.borgmatic2 !== undefined));
  const timings: CreateTiming[] = [];
  const eta: EtaRun[] = [];
  const changes: { files: number; bytes: number }[] = [];
  const record = (phase: CreateTiming["phase"], round: number, variant: Variant, result: Awaited<ReturnType<typeof timeCreate>>) => {
    timings.push({ dataset: dataset.spec.name, phase, round, variant, borg: context.borg.version, ms: result.ms, peakRssBytes: result.peakRssBytes });
    if (result.eta) eta.push({ dataset: dataset.spec.name, phase, interval: "default", ...result.eta });
    context.log(`  ${dataset.spec.name} borg ${context.borg.version} ${phase} #${round} ${variant.padEnd(14)} ${(result.ms / 1000).toFixed(2)} s`);
  };

  // round 1 runs A B C D E F, round 2 B C D E F A, …
  const order = (round: number) => variants.map((_, index) => variants[(index + round - 1) % variants.length] as Variant);

  // one untimed create first, so that borg's own files are in the cache and the disk has
  // written a repository before round 1 as before every later round
  const warmUp = paths(context, dataset, "raw_borg", "warm-up");
  await initRepository(context, warmUp);
  await mustRun(context.borg.binary, ["create", "--compression", context.compression, `${warmUp.repository}::warm-up`, dataset.root], {
    env: baseEnv(context, { BORG_PASSPHRASE: context.passphrase, BORG_BASE_DIR: warmUp.baseDir }),
    cwd: context.work,
  });
  await rm(warmUp.root, { recursive: true, force: true });

  let current = new Map<Variant, Prepared>();
  for (let round = 1; round <= rounds.first; round++) {
    const next = new Map<Variant, Prepared>();
    for (const variant of order(round)) {
      const prepared = await prepare(context, dataset, variant, `r${round}`);
      record("first", round, variant, await timeCreate(context, dataset, prepared));
      next.set(variant, prepared);
    }
    // the last round's repositories carry on into the incremental phase; the others only take space
    for (const prepared of current.values()) await rm(prepared.at.root, { recursive: true, force: true });
    current = next;
  }

  for (let round = 1; round <= rounds.incremental; round++) {
    changes.push(await changeDataset(dataset, round));
    for (const variant of order(round)) {
      const prepared = current.get(variant);
      if (!prepared) throw new Error(`no repository of ${variant} from the first backups`);
      record("incremental", round, variant, await timeCreate(context, dataset, prepared));
    }
  }

  // the estimate does not depend on the throttle, which only picks the events published:
  // with every line published, short incremental runs show where 50 % was crossed
  const library = current.get("drone_library");
  if (library && rounds.eta > 0) {
    await context.worker.request({ type: "boot", config: droneConfig(context, dataset, library.at, { PROGRESS_INTERVAL_MS: 0 }) });
    for (let round = 1; round <= rounds.eta; round++) {
      changes.push(await changeDataset(dataset, rounds.incremental + round));
      const result = await timeCreate(context, dataset, library);
      if (result.eta) eta.push({ dataset: dataset.spec.name, phase: "incremental", interval: "every_line", ...result.eta });
    }
  }
  return { timings, eta, changes };
}
