/**
 * The package's bins as people run them: built from the current sources when stale, spawned
 * as child processes with a clean environment, their output kept and waited on.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";

import { z } from "zod";

import { COORDINATOR_CONFIGURATION } from "../../apps/backup_coordinator/config.mjs";
import { DRONE_CONFIGURATION } from "../../apps/drone/config.mjs";

/** The repository's root folder. */
export const ROOT = join(import.meta.dirname, "..", "..");

const manifest = z.object({ bin: z.record(z.string(), z.string()) });

/** A bin of package.json (the bundle in dist/bin), rebuilt when a source is newer than it (the suite must test the code as it is). */
export async function builtBin(name: "backup-drone" | "backup-coordinator"): Promise<string> {
  const relative = manifest.parse(JSON.parse(await readFile(join(ROOT, "package.json"), "utf8"))).bin[name];
  if (relative === undefined) throw new Error(`package.json has no bin ${name}`);
  const bin = join(ROOT, relative);
  let newest = 0;
  for (const dir of ["apps", "libs"]) {
    for (const entry of await readdir(join(ROOT, dir), { withFileTypes: true, recursive: true })) {
      if (entry.isFile() && entry.name.endsWith(".mts")) newest = Math.max(newest, (await stat(join(entry.parentPath, entry.name))).mtimeMs);
    }
  }
  if (!existsSync(bin) || statSync(bin).mtimeMs < newest) {
    // `npm run build`: tsc (type errors elsewhere in the tree do not stop it emitting; the files
    // are what matters), then the bins' bundle from the sources (scripts/bundle.mts)
    spawnSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"], { cwd: ROOT });
    const bundle = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "scripts", "bundle.mts")], { cwd: ROOT, encoding: "utf8" });
    if (bundle.status !== 0) throw new Error(`scripts/bundle.mts failed: ${bundle.stderr}`);
  }
  if (!existsSync(bin)) throw new Error(`${bin} was not built`);
  return bin;
}

/** Keys that configure a drone or the coordinator, in every spelling DA reads from the environment. */
const CONFIG_VARIABLES = new Set(
  [...Object.keys(DRONE_CONFIGURATION).flatMap(key => [key, `DRONE_${key}`]), ...Object.keys(COORDINATOR_CONFIGURATION).flatMap(key => [key, `BACKUP_COORDINATOR_${key}`])],
);

/** The environment of a child: ours without anything that configures a drone, the coordinator or Home Assistant. */
export function childEnv(extra: Record<string, string>, home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    const upper = key.toUpperCase();
    if (CONFIG_VARIABLES.has(upper) || upper.startsWith("BORG_") || upper.startsWith("HASS_") || upper.endsWith("TOKEN")) continue;
    if (upper === "LOG_LEVEL" || upper === "NODE_ENV" || upper === "BASE_URL") continue;
    env[key] = value;
  }
  return { ...env, HOME: home, NO_COLOR: "1", ...extra };
}

/** How a child ended, with everything it wrote. */
export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A running child with its output so far. */
export interface Running {
  pid: number;
  output: () => { stdout: string; stderr: string };
  done: Promise<Finished>;
  /** True until the child has exited. */
  alive: () => boolean;
  /** Resolves once stdout+stderr match, rejects after `ms`. */
  waitFor: (pattern: RegExp, ms: number) => Promise<void>;
  kill: (signal?: NodeJS.Signals) => void;
}

/** Spawn `node BIN ARGS…` in `cwd`, with {@link childEnv} plus `env`; inside network namespace `netns` when given. */
export function startProcess(bin: string, args: string[], options: { env?: Record<string, string>; cwd: string; home?: string; netns?: string }): Running {
  // `ip netns exec` execs the command: the pid is still node's, as a kill -9 test needs
  const [command, ...argv] = options.netns ? ["ip", "netns", "exec", options.netns, process.execPath, bin, ...args] : [process.execPath, bin, ...args];
  return startCommand(command ?? process.execPath, argv, options);
}

/** Spawn `COMMAND ARGS…` (any program, e.g. bash) in `cwd`, with {@link childEnv} plus `env`. */
export function startCommand(command: string, argv: string[], options: { env?: Record<string, string>; cwd: string; home?: string }): Running {
  const child = spawn(command, argv, {
    cwd: options.cwd,
    env: childEnv(options.env ?? {}, options.home ?? options.cwd),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  let exited = false;
  const waiters = new Set<() => void>();
  const onData = () => {
    for (const check of waiters) check();
  };
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    onData();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
    onData();
  });
  const done = new Promise<Finished>(resolve =>
    child.on("close", (code, signal) => {
      exited = true;
      onData();
      resolve({ code, signal, stdout, stderr });
    }),
  );
  return {
    pid: child.pid ?? 0,
    output: () => ({ stdout, stderr }),
    done,
    alive: () => !exited,
    kill: (signal = "SIGTERM") => {
      if (!exited) child.kill(signal);
    },
    waitFor: (pattern, ms) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${String(pattern)} within ${ms} ms; stdout:\n${stdout}\nstderr:\n${stderr}`));
        }, ms);
        const check = () => {
          if (!pattern.test(stdout + stderr)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
      }),
  };
}
