/**
 * `npm run demo`: the drone end to end on this machine, with nothing but borg installed.
 * It builds a sample home folder and an encrypted repository under ./.demo (recreated on
 * every run), then runs the real `backup-drone` command: init, a full scheduled backup,
 * a few changed files, an incremental one, list, prune and stats — and sums it up.
 */
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { appendFile, chmod, mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";

import { z } from "zod";

import { DRONE_CONFIGURATION } from "../apps/drone/config.mjs";
import { formatBytes, formatDuration, formatRatio } from "../apps/drone/cli/format.mjs";
import { createPaint } from "../apps/drone/cli/terminal.mjs";
import { errorText } from "../libs/config/errors.mjs";

const ROOT = join(import.meta.dirname, "..");
const DEMO = join(process.cwd(), ".demo");
const DATA = join(DEMO, "home");
const CONFIG_FILE = join(DEMO, "backup_drone.json");
const paint = createPaint(process.stdout.isTTY && !process.env.NO_COLOR);

// ------------------------------------------------------------------ the product's command

const packageSchema = z.object({ bin: z.object({ "backup-drone": z.string() }) });

/** The `backup-drone` bin as package.json declares it, built if the sources are newer. */
async function droneBin(): Promise<string> {
  const manifest = packageSchema.parse(JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")));
  const bin = join(ROOT, manifest.bin["backup-drone"]);
  const newestSource = async (dir: string): Promise<number> => {
    let newest = 0;
    for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
      if (entry.isFile() && entry.name.endsWith(".mts")) newest = Math.max(newest, (await stat(join(entry.parentPath, entry.name))).mtimeMs);
    }
    return newest;
  };
  const sources = Math.max(await newestSource(join(ROOT, "apps")), await newestSource(join(ROOT, "libs")));
  if (!existsSync(bin) || statSync(bin).mtimeMs < sources) {
    step("building backup-drone (the sources changed since the last build)");
    const built = spawnSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"], {
      cwd: ROOT,
      stdio: "inherit",
    });
    if (!existsSync(bin)) throw new Error(`the build did not produce ${bin} (tsc exited ${built.status ?? "?"})`);
  }
  return bin;
}

/** The environment for the drone: ours, without anything that configures a drone or Home Assistant. */
function cleanEnv(): NodeJS.ProcessEnv {
  const keys = new Set(Object.keys(DRONE_CONFIGURATION).flatMap(key => [key, `DRONE_${key}`]));
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    const upper = key.toUpperCase();
    if (keys.has(upper) || upper.startsWith("BORG_") || /TOKEN$/.test(upper) || upper === "LOG_LEVEL") continue;
    env[key] = value;
  }
  return env;
}

interface Step {
  command: string;
  seconds: number;
}
const steps: Step[] = [];

function step(text: string) {
  console.log(`\n${paint.bold(paint.green("▶"))} ${paint.bold(text)}`);
}

/**
 * Run `backup-drone <args> --config …`, as a person would; stdout captured when asked. Not
 * spawnSync: tsx forwards a Ctrl-C to the demo and kills it when its event loop does not answer
 * at once, which would leave the command running alone.
 */
async function drone(bin: string, args: string[], options: { capture?: boolean; allowFailure?: boolean; label?: string } = {}): Promise<string> {
  const shown = `backup-drone ${args.join(" ")} --config ${relative(process.cwd(), CONFIG_FILE)}`;
  if (!options.capture) console.log(paint.dim(`$ ${shown}`));
  const started = performance.now();
  const child = spawn(process.execPath, [bin, ...args, "--config", CONFIG_FILE], {
    cwd: DEMO,
    env: cleanEnv(),
    stdio: ["ignore", options.capture ? "pipe" : "inherit", "inherit"],
  });
  let stdout = "";
  child.stdout?.setEncoding("utf8").on("data", (text: string) => (stdout += text));
  const [code, signal] = (await once(child, "close")) as [number | null, NodeJS.Signals | null];
  const seconds = (performance.now() - started) / 1000;
  if (!options.capture) steps.push({ command: `backup-drone ${args.join(" ")}${options.label ? ` (${options.label})` : ""}`, seconds });
  if (code !== 0 && !options.allowFailure) {
    throw new Error(`\`${shown}\` exited with ${code ?? signal ?? "?"}; see its message above`);
  }
  return stdout;
}

const statusSchema = z.object({
  persisted: z.object({
    archiveCount: z.number().nullable(),
    totals: z.object({ totalSize: z.number(), compressedSize: z.number(), deduplicatedSize: z.number() }).nullable(),
    lastArchive: z.object({ name: z.string(), originalSize: z.number(), nfiles: z.number(), durationSeconds: z.number() }).nullable(),
  }),
});
type Status = z.infer<typeof statusSchema>;

const status = async (bin: string): Promise<Status> => statusSchema.parse(JSON.parse(await drone(bin, ["status", "--json"], { capture: true })));

// ------------------------------------------------------------------ sample data

/** A small deterministic generator, so that documents compress like real text. */
function words(seed: string, count: number): string {
  const vocabulary =
    "backup archive borg repository home assistant drone coordinator prune keep daily weekly monthly chunk deduplicate compress encrypt passphrase key restore folder photo document invoice recipe holiday garden project notes budget letter".split(
      " ",
    );
  const out: string[] = [];
  let hash = createHash("sha256").update(seed).digest();
  for (let index = 0; index < count; index++) {
    if (index % 32 === 0) hash = createHash("sha256").update(hash).digest();
    out.push(vocabulary[(hash[index % 32] ?? 0) % vocabulary.length] ?? "x");
    if (index % 14 === 13) out.push(".\n");
  }
  return out.join(" ");
}

async function writeSampleHome(): Promise<number> {
  let bytes = 0;
  const write = async (path: string, content: string | Buffer) => {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content);
    bytes += Buffer.byteLength(content);
  };
  for (let index = 0; index < 240; index++) {
    await write(join(DATA, "documents", `folder-${index % 12}`, `note-${index}.txt`), words(`doc-${index}`, 6000));
  }
  for (let index = 0; index < 24; index++) await write(join(DATA, "photos", `IMG_${1000 + index}.jpg`), randomBytes(2_500_000));
  // a disk image: the same blocks many times over, which deduplication stores once
  const block = randomBytes(1 << 20);
  await write(join(DATA, "projects", "vm-disk.img"), Buffer.concat(Array.from({ length: 16 }, () => block)));
  // skipped: EXCLUDES=*/.cache, and a folder marked with .nobackup
  await write(join(DATA, ".cache", "thumbnails.bin"), randomBytes(8_000_000));
  await write(join(DATA, "downloads", ".nobackup"), "");
  await write(join(DATA, "downloads", "big-installer.iso"), randomBytes(8_000_000));
  return bytes;
}

async function changeSomeFiles(): Promise<string[]> {
  for (let index = 0; index < 5; index++) {
    await appendFile(join(DATA, "documents", `folder-${index % 12}`, `note-${index}.txt`), `\n${words(`edit-${index}`, 400)}`);
  }
  await writeFile(join(DATA, "photos", "IMG_2000.jpg"), randomBytes(2_500_000));
  await rm(join(DATA, "documents", "folder-7", "note-7.txt"));
  return ["5 documents edited", "1 photo added (2.4 MiB)", "1 document deleted"];
}

// ------------------------------------------------------------------ the demo

async function main() {
  const started = performance.now();
  const borg = spawnSync("borg", ["--version"], { encoding: "utf8" });
  if (borg.error || borg.status !== 0) {
    console.error("borg is not installed. Install it first (Debian/Ubuntu: apt-get install borgbackup), then run the demo again.");
    process.exitCode = 2;
    return;
  }
  console.log(paint.bold("backup-coordinator demo") + paint.dim(` — ${borg.stdout.trim()}, everything under ${relative(ROOT, DEMO) || DEMO}`));
  const bin = await droneBin();

  step("a fresh .demo folder: sample home folder, generated passphrase, configuration");
  await rm(DEMO, { recursive: true, force: true });
  await mkdir(DEMO, { recursive: true, mode: 0o700 });
  const passphraseFile = join(DEMO, "passphrase");
  await writeFile(passphraseFile, `${randomBytes(24).toString("base64url")}\n`, { mode: 0o600 });
  await chmod(passphraseFile, 0o600);
  const sampleBytes = await writeSampleHome();
  const config = {
    drone: {
      DRONE_ID: "demo",
      REPOSITORY: join(DEMO, "repository"),
      PASSPHRASE_FILE: passphraseFile,
      ENCRYPTION: "repokey-blake2",
      SOURCES: [DATA],
      EXCLUDES: ["*/.cache"],
      COMPRESSION: "lz4",
      KEEP_WITHIN: "1d",
      STATE_DIR: join(DEMO, "state"),
      BORG_BASE_DIR: join(DEMO, "borg"),
    },
    boilerplate: { LOG_LEVEL: "warn" },
  };
  await writeFile(CONFIG_FILE, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  console.log(`  sample home folder  ${relative(process.cwd(), DATA)}: ${formatBytes(sampleBytes)} (documents, photos, a disk image; a cache and a .nobackup folder to skip)`);
  console.log(`  passphrase          ${relative(process.cwd(), passphraseFile)} (generated, mode 0600; borg reads it through a pipe)`);
  console.log(`  configuration       ${relative(process.cwd(), CONFIG_FILE)}:`);
  for (const line of JSON.stringify(config.drone, null, 2).split("\n")) console.log(paint.dim(`    ${line}`));

  step("create the encrypted repository");
  await drone(bin, ["init"]);

  step("first backup: the full scheduled run (create, prune, compact, stats)");
  await drone(bin, ["backup"], { label: "first" });
  const first = await status(bin);

  step("change a few files");
  for (const change of await changeSomeFiles()) console.log(`  ${change}`);

  step("second backup: only what changed is stored");
  await drone(bin, ["backup"], { label: "second" });
  const second = await status(bin);

  step("the archives of this drone");
  await drone(bin, ["list"]);

  step("prune by the keep rules (KEEP_WITHIN=1d keeps both), compact, refresh the statistics");
  await drone(bin, ["prune"]);

  step("repository statistics");
  await drone(bin, ["stats"]);

  summary(first, second, (performance.now() - started) / 1000);
}

function summary(first: Status, second: Status, totalSeconds: number) {
  step("summary");
  const rows: [string, string][] = [];
  const stored = (before: Status | undefined, after: Status) =>
    (after.persisted.totals?.deduplicatedSize ?? 0) - (before?.persisted.totals?.deduplicatedSize ?? 0);
  for (const [label, before, after] of [
    ["first backup", undefined, first],
    ["second backup", first, second],
  ] as const) {
    const archive = after.persisted.lastArchive;
    if (!archive) continue;
    rows.push([
      label,
      `${formatBytes(archive.originalSize)} in ${archive.nfiles} files read, ${formatBytes(stored(before, after))} stored, borg took ${formatDuration(archive.durationSeconds)}`,
    ]);
  }
  const totals = second.persisted.totals;
  if (totals) {
    rows.push(["archives", String(second.persisted.archiveCount ?? "?")]);
    rows.push([
      "repository",
      `${formatBytes(totals.totalSize)} of archives take ${formatBytes(totals.deduplicatedSize)} on disk (compressed and deduplicated: ${formatRatio(totals.totalSize, totals.deduplicatedSize)})`,
    ]);
  }
  for (const entry of steps) rows.push([entry.command, formatDuration(entry.seconds)]);
  rows.push(["the whole demo", formatDuration(totalSeconds)]);
  const width = Math.max(...rows.map(([label]) => label.length));
  for (const [label, value] of rows) console.log(`  ${paint.bold(label.padEnd(width))}  ${value}`);
  console.log(`
Try it yourself (the same configuration):
  npx backup-drone status --config .demo/backup_drone.json
  npx backup-drone create --config .demo/backup_drone.json --json
  BORG_PASSCOMMAND="cat .demo/passphrase" borg list .demo/repository
Run the demo again to start from scratch; delete .demo when you are done.`);
}

// Ctrl-C reaches the demo and the command it waits for: the command stops borg and exits 3;
// without a handler of its own the demo would die of the signal (130) before it could say so
let interrupted = false;
process.on("SIGINT", () => {
  interrupted = true;
});

main().catch((error: unknown) => {
  console.error(paint.red(interrupted ? "demo interrupted (Ctrl-C); run it again to start from scratch" : `demo failed: ${errorText(error)}`));
  process.exitCode = interrupted ? 3 : 1;
});
