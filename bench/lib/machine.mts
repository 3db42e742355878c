/** What the benchmark ran on: CPU, memory, disk, and the versions of everything measured. */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, freemem, loadavg, release, totalmem } from "node:os";

/** The machine and software versions, as detected. */
export interface Machine {
  cpu: string;
  cores: number;
  memoryBytes: number;
  freeMemoryBytes: number;
  /** 1-minute load average when the run started (others' work shows here). */
  loadAverage: number;
  kernel: string;
  disk: string;
  node: string;
  borg: string;
  borgmatic: string | null;
  /** borg 1.4.x's version, once its venv is ready (bench/lib/peers.mts). */
  borg14?: string;
  /** borgmatic 2.x's version, once its venv is ready. */
  borgmatic2?: string;
  os: string;
}

const output = (file: string, args: string[]): string | null => {
  try {
    return execFileSync(file, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 30_000 }).trim();
  } catch {
    return null;
  }
};

/** The file system and block device that hold `path`. */
function diskOf(path: string): string {
  const df = output("df", ["-hT", path])?.split("\n")[1]?.split(/\s+/);
  if (!df) return "unknown";
  const [device, type, size] = df;
  const name = device?.replace(/^\/dev\//, "").replace(/\d+$/, "") ?? "";
  let rotational = "";
  try {
    rotational = readFileSync(`/sys/block/${name}/queue/rotational`, "utf8").trim() === "1" ? ", rotational" : ", non-rotational";
  } catch {
    // not a plain block device (overlay, tmpfs, a partition name we cannot map)
  }
  return `${device ?? "?"} (${type ?? "?"}, ${size ?? "?"}${rotational})`;
}

/** Detect the machine; `workDir` is where the data sets and repositories live. */
export function detectMachine(workDir: string): Machine {
  const osRelease = (() => {
    try {
      return /^PRETTY_NAME="?([^"\n]+)"?/m.exec(readFileSync("/etc/os-release", "utf8"))?.[1] ?? "unknown";
    } catch {
      return "unknown";
    }
  })();
  return {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryBytes: totalmem(),
    freeMemoryBytes: freemem(),
    loadAverage: loadavg()[0] ?? 0,
    kernel: release(),
    disk: diskOf(workDir),
    node: process.version,
    borg: output("borg", ["--version"])?.replace(/^borg\s+/, "") ?? "not installed",
    borgmatic: output("borgmatic", ["--version"]),
    os: osRelease,
  };
}
