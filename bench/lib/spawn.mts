/** Timed child processes, with the peak memory (VmHWM) of the process itself sampled from /proc. */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";

/** How a timed process ended. */
export interface TimedRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Wall time from spawn to exit, ms. */
  ms: number;
  stdout: string;
  stderr: string;
  /** Highest VmHWM seen (bytes), when sampled. */
  peakRssBytes: number | null;
}

/** Options of {@link timedRun}. */
export interface TimedRunOptions {
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Sample /proc/<pid>/status VmHWM this often (ms); off when undefined. */
  sampleMemoryMs?: number;
}

async function vmHwm(pid: number): Promise<number | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const kib = /^VmHWM:\s+(\d+)\s+kB/m.exec(status)?.[1];
    return kib === undefined ? null : Number(kib) * 1024;
  } catch {
    return null;
  }
}

/** Run a command to its end; never rejects for a non-zero exit (the caller checks `code`). */
export function timedRun(file: string, args: readonly string[], options: TimedRunOptions): Promise<TimedRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(file, args, { env: options.env, cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"] });
    let exitedAt = 0;
    let peak: number | null = null;
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    // VmHWM only grows: the last sample before exit is the peak, give or take the last interval
    const sampler =
      options.sampleMemoryMs !== undefined && child.pid !== undefined
        ? setInterval(() => {
            void vmHwm(child.pid ?? 0).then(value => {
              if (value !== null) peak = Math.max(peak ?? 0, value);
            });
          }, options.sampleMemoryMs)
        : undefined;
    child.once("error", error => {
      clearInterval(sampler);
      reject(error);
    });
    child.once("exit", () => {
      exitedAt = performance.now();
      clearInterval(sampler);
    });
    child.once("close", (code, signal) => {
      resolve({
        code,
        signal,
        ms: (exitedAt || performance.now()) - started,
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: Buffer.concat(stderr).toString("utf8"),
        peakRssBytes: peak,
      });
    });
  });
}

/** Run a command and fail with its output when it does not exit 0. */
export async function mustRun(file: string, args: readonly string[], options: TimedRunOptions): Promise<TimedRun> {
  const run = await timedRun(file, args, options);
  if (run.code !== 0) {
    throw new Error(`${file} ${args.join(" ")} exited ${run.code ?? run.signal}:\n${run.stderr.slice(-2000)}${run.stdout.slice(-1000)}`);
  }
  return run;
}
