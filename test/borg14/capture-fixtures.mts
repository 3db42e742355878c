/**
 * `tsx test/borg14/capture-fixtures.mts [BORG] [OUT]`: run a real borg through the cases the
 * client must read and keep what it wrote, as test/fixtures/borg-<version>/ (the layout of
 * test/fixtures/borg-1.2.4: `cases.json` and `<case>.stdout` / `<case>.stderr`). BORG defaults
 * to the cached borg 1.4 (test/borg14/venv.mts). Every case runs with the environment the
 * client sets (BORG_EXIT_CODES=modern and the unattended answers), stdin /dev/null and pipes.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { parseVersion } from "../../libs/borg/version.mjs";
import { ensureBorg14 } from "./venv.mjs";

/** The fixed work folder: the fixtures name its paths, as 1.2.4's name /tmp/fixcap. */
const WORK = "/tmp/fixcap14";
const REPO = join(WORK, "repo");
const BASE = join(WORK, "base");
// a throwaway passphrase for a throwaway repository; it is never written to a fixture
const PASSPHRASE = "fixture-passphrase-14";

/** The environment the client gives borg (libs/borg/command.mts repositoryEnv), plus the passphrase. */
const CLIENT_ENV: Record<string, string> = {
  BORG_EXIT_CODES: "modern",
  BORG_DISPLAY_PASSPHRASE: "no",
  BORG_RELOCATED_REPO_ACCESS_IS_OK: "no",
  BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: "no",
  BORG_CHECK_I_KNOW_WHAT_I_AM_DOING: "NO",
  BORG_DELETE_I_KNOW_WHAT_I_AM_DOING: "NO",
  BORG_BASE_DIR: BASE,
  BORG_PASSPHRASE: PASSPHRASE,
};

interface Case {
  name: string;
  args: string[];
  description: string;
  /** Variables changed from {@link CLIENT_ENV}; `null` removes one. */
  env?: Record<string, string | null>;
  /** A signal sent after this many ms, for interrupted runs. */
  signal?: { name: NodeJS.Signals; afterMs: number };
  /** Run before the case (state the case needs). */
  before?: () => Promise<void> | void;
  notes?: string;
}

interface Captured {
  name: string;
  argv: string[];
  exit_code: number;
  description: string;
  cwd: string;
  stdin: "/dev/null";
  env: Record<string, string>;
  duration_s: number;
  signal?: string;
  signal_sent_after_s?: number;
  notes?: string;
}

const borgBinary = process.argv[2] ?? (await ensureBorg14({ log: line => console.log(line) })).borg;
const version = parseVersion(spawnSync(borgBinary, ["--version"], { encoding: "utf8" }).stdout).text;
const outDir = process.argv[3] ?? join(import.meta.dirname, "..", "fixtures", `borg-${version}`);

function environment(changes: Record<string, string | null> = {}): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", LANG: "C.UTF-8" };
  for (const [name, value] of Object.entries({ ...CLIENT_ENV, ...changes })) if (value !== null) env[name] = value;
  return env;
}

/** What cases.json shows of the environment: the BORG_ variables, the passphrase hidden. */
function shownEnv(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env)
      .filter(([name]) => name.startsWith("BORG_"))
      .map(([name, value]) => [name, name === "BORG_PASSPHRASE" ? "<fixture passphrase>" : value]),
  );
}

async function runCase(entry: Case): Promise<Captured> {
  await entry.before?.();
  const env = environment(entry.env);
  const started = Date.now();
  const child = spawn(borgBinary, entry.args, { cwd: WORK, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = entry.signal ? setTimeout(() => child.kill(entry.signal?.name), entry.signal.afterMs) : undefined;
  const exitCode = await new Promise<number>(resolve => child.once("close", (code, signal) => resolve(code ?? 128 + (signal === "SIGTERM" ? 15 : signal === "SIGINT" ? 2 : 9))));
  clearTimeout(timer);
  if (stdout.includes(PASSPHRASE) || stderr.includes(PASSPHRASE)) throw new Error(`${entry.name}: borg printed the passphrase`);
  await writeFile(join(outDir, `${entry.name}.stdout`), stdout);
  await writeFile(join(outDir, `${entry.name}.stderr`), stderr);
  console.log(`${entry.name}: exit ${exitCode}`);
  return {
    name: entry.name,
    argv: ["borg", ...entry.args],
    exit_code: exitCode,
    description: entry.description,
    cwd: WORK,
    stdin: "/dev/null",
    env: shownEnv(env),
    duration_s: Math.round((Date.now() - started) / 10) / 100,
    ...(entry.signal ? { signal: entry.signal.name, signal_sent_after_s: entry.signal.afterMs / 1000 } : {}),
    ...(entry.notes ? { notes: entry.notes } : {}),
  };
}

/** `borg with-lock` holding the repository until the returned function kills it (its own process group). */
function holdLock(): { pid: number; release: (signal: NodeJS.Signals) => Promise<void> } {
  const holder = spawn(borgBinary, ["with-lock", REPO, "sleep", "60"], { cwd: WORK, env: environment(), stdio: "ignore", detached: true });
  const exited = new Promise(resolve => holder.once("exit", resolve));
  return {
    pid: holder.pid ?? 0,
    release: async signal => {
      process.kill(-(holder.pid ?? 0), signal);
      await exited;
    },
  };
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

async function writeFiles(dir: string, count: number, bytes: number, name: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (let index = 0; index < count; index++) await writeFile(join(dir, `${name}${index}.bin`), randomBytes(bytes));
}

await rm(WORK, { recursive: true, force: true });
await mkdir(WORK, { recursive: true });
await rm(outDir, { recursive: true, force: true });
await mkdir(outDir, { recursive: true });
// src: small text files and a few random blobs; big: 10 random files of 3 MB, for the interrupted creates
for (let dir = 0; dir < 5; dir++) {
  await mkdir(join(WORK, "src", `dir${dir}`), { recursive: true });
  for (let file = 0; file < 10; file++) await writeFile(join(WORK, "src", `dir${dir}`, `file${file}.txt`), `file ${file} of dir ${dir}\n`.repeat(20 + file));
}
await writeFiles(join(WORK, "src", "blobs"), 3, 256 * 1024, "blob");
await writeFiles(join(WORK, "big"), 10, 3 * 1024 * 1024, "big");

let lock: ReturnType<typeof holdLock> | undefined;
const archive = (name: string) => `${REPO}::${name}`;
const create = ["create", "--log-json", "--progress", "--json"];

const cases: Case[] = [
  { name: "version", args: ["--version"], description: "Print borg version." },
  { name: "init_repokey", args: ["init", "--encryption=repokey", "--log-json", REPO], description: "Initialise a repokey repository." },
  { name: "create_first", args: [...create, archive("alpha-2026-11-20T02:00:00"), "src"], description: "First create: archive_progress on stderr, the JSON result on stdout." },
  { name: "create_incremental", args: [...create, archive("alpha-2026-11-21T02:00:00"), "src"], description: "Incremental create of the same data." },
  {
    name: "create_missing_source",
    args: [...create, archive("beta-2026-11-22T03:00:00"), "src", "does-not-exist"],
    description: "A source path that does not exist: a warning, and with modern exit codes its own code (BackupFileNotFoundError).",
  },
  { name: "list_json", args: ["list", "--log-json", "--json", REPO], description: "List archives as JSON." },
  { name: "list_json_glob", args: ["list", "--log-json", "--json", "--glob-archives", "alpha-*", REPO], description: "List archives of one prefix." },
  { name: "list_json_lines_archive", args: ["list", "--log-json", "--json-lines", archive("alpha-2026-11-21T02:00:00"), "src/dir0"], description: "The items of one archive, one JSON object a line." },
  { name: "info_json_repo", args: ["info", "--log-json", "--json", REPO], description: "Repository totals." },
  { name: "info_json_last1", args: ["info", "--log-json", "--json", "--last", "1", REPO], description: "The repository and its last archive." },
  { name: "info_json_archive", args: ["info", "--log-json", "--json", archive("alpha-2026-11-21T02:00:00")], description: "One archive." },
  ...["2026-01-10", "2026-02-20", "2026-04-05", "2026-05-30", "2026-07-15", "2026-09-01", "2026-10-20"].map(
    (day): Case => ({
      name: `create_quarterly_${day}`,
      args: [...create, "--timestamp", `${day}T02:00:00`, archive(`gamma-${day}T02:00:00`), "src/dir1"],
      description: `An archive dated ${day} (--timestamp), for the quarterly keep rules.`,
    }),
  ),
  {
    name: "prune_13weekly_dry_run",
    args: ["prune", "--list", "--log-json", "--progress", "--dry-run", "--glob-archives", "gamma-*", "--keep-13weekly", "2", REPO],
    description: "The 1.4 rule --keep-13weekly on archives dated across a year: the rule's name in the --list lines.",
  },
  {
    name: "prune_3monthly_dry_run",
    args: ["prune", "--list", "--log-json", "--progress", "--dry-run", "--glob-archives", "gamma-*", "--keep-3monthly", "2", REPO],
    description: "The 1.4 rule --keep-3monthly on the same archives.",
  },
  {
    name: "prune_13weekly_and_3monthly",
    args: ["prune", "--list", "--log-json", "--progress", "--dry-run", "--glob-archives", "gamma-*", "--keep-13weekly", "2", "--keep-3monthly", "2", REPO],
    description: "Both quarterly rules at once: borg 1.4 refuses the combination (a usage error).",
  },
  {
    name: "prune_13weekly",
    args: ["prune", "--list", "--log-json", "--progress", "--glob-archives", "gamma-*", "--keep-13weekly", "2", "--keep-daily", "1", REPO],
    description: "A real prune with --keep-13weekly and --keep-daily.",
  },
  { name: "prune_dry_run", args: ["prune", "--list", "--log-json", "--progress", "--dry-run", "--glob-archives", "alpha-*", "--keep-last", "1", REPO], description: "Dry-run prune keeping the last alpha archive." },
  { name: "prune", args: ["prune", "--list", "--log-json", "--progress", "--glob-archives", "alpha-*", "--keep-last", "1", REPO], description: "Prune keeping the last alpha archive." },
  { name: "compact", args: ["compact", "--log-json", "--progress", "--verbose", REPO], description: "Compact after prune." },
  { name: "check", args: ["check", "--log-json", "--progress", REPO], description: "A clean check." },
  { name: "extract_dry_run", args: ["extract", "--dry-run", "--log-json", "--progress", archive("alpha-2026-11-21T02:00:00")], description: "A dry-run extract." },
  { name: "err_wrong_passphrase", args: ["list", "--log-json", REPO], env: { BORG_PASSPHRASE: "not-the-passphrase" }, description: "A wrong passphrase." },
  { name: "err_no_passphrase", args: ["list", "--log-json", REPO], env: { BORG_PASSPHRASE: null }, description: "No passphrase, stdin /dev/null." },
  { name: "err_repo_missing", args: ["list", "--log-json", join(WORK, "does-not-exist")], description: "A repository path that does not exist." },
  { name: "err_not_a_repo", args: ["list", "--log-json", join(WORK, "src")], description: "A folder that is not a repository." },
  { name: "err_archive_exists", args: [...create, archive("alpha-2026-11-21T02:00:00"), "src"], description: "An archive name already taken." },
  { name: "err_info_archive_missing_logjson", args: ["info", "--json", "--log-json", archive("nope")], description: "An archive that does not exist." },
  {
    name: "err_lock_timeout",
    args: ["list", "--log-json", "--lock-wait", "1", REPO],
    before: async () => {
      lock = holdLock();
      await sleep(3000);
    },
    description: "The repository locked by another borg (`borg with-lock REPO sleep 60`) past --lock-wait.",
  },
  {
    name: "create_stale_lock_removed",
    args: [...create, archive("alpha-2026-11-22T02:00:00"), "src"],
    before: async () => {
      await lock?.release("SIGKILL");
      lock = undefined;
    },
    description: "A create after the lock holder of err_lock_timeout was killed with SIGKILL: borg removes the dead process's lock.",
  },
  {
    name: "create_interrupted_sigint",
    args: [...create, "--compression", "lzma,9", "--checkpoint-interval", "1", archive("alpha-int"), "big"],
    signal: { name: "SIGINT", afterMs: 5000 },
    description: "SIGINT during a slow create: borg writes a checkpoint archive and stops.",
  },
  {
    name: "create_interrupted_sigterm",
    args: [...create, "--compression", "lzma,9", archive("alpha-term"), "big"],
    signal: { name: "SIGTERM", afterMs: 4000 },
    description: "SIGTERM during a slow create.",
  },
  { name: "list_json_consider_checkpoints", args: ["list", "--log-json", "--json", "--consider-checkpoints", REPO], description: "The archives with checkpoints." },
  {
    name: "err_connection_broken",
    args: [...create, "--compression", "lzma,9", "ssh://fake" + REPO + "::alpha-broken", "big"],
    // the repository is known to the cache by its local path: the ssh:// URL is allowed as a relocation
    env: { BORG_RSH: join(WORK, "dying-rsh"), BORG_RELOCATED_REPO_ACCESS_IS_OK: "yes" },
    before: async () => {
      // a BORG_RSH that runs borg serve locally and kills it after 3 s: the link to the repository breaks mid-create
      await writeFile(join(WORK, "dying-rsh"), `#!/bin/sh\nshift\nexec timeout -s KILL 3 ${borgBinary} serve --restrict-to-path ${REPO}\n`, { mode: 0o755 });
    },
    description: "borg serve killed (SIGKILL) while a create talks to it over BORG_RSH.",
  },
  {
    name: "err_relocated_repo",
    args: ["list", "--log-json", join(WORK, "repo-moved")],
    before: async () => {
      await rename(REPO, join(WORK, "repo-moved"));
    },
    description: "The repository moved to another path, BORG_RELOCATED_REPO_ACCESS_IS_OK=no.",
  },
];

const captured: Captured[] = [];
for (const entry of cases) captured.push(await runCase(entry));
await lock?.release("SIGKILL");
await writeFile(join(outDir, "cases.json"), `${JSON.stringify(captured, null, 2)}\n`);
console.log(`${captured.length} cases of borg ${version} in ${outDir}`);
