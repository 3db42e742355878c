/** Process groups as `ps` sees them, and waiting for a file a test's hook writes. */
import { execFileSync } from "node:child_process";
import { readFile } from "node:fs/promises";

/** The live processes (zombies excluded) of a process group, as `ps` lists them: `pid stat args`. */
export function liveInGroup(pgid: number): string[] {
  const table = execFileSync("ps", ["-e", "-o", "pgid=,pid=,stat=,args="], { encoding: "utf8" });
  return table
    .split("\n")
    .map(line => line.trim().split(/\s+/))
    .filter(([group, , stat]) => Number(group) === pgid && stat !== undefined && !stat.startsWith("Z"))
    .map(([, ...rest]) => rest.join(" "));
}

/** True while the kernel knows the process group (`kill(-pgid, 0)`); a zombie counts until it is reaped. */
export function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

/** Wait until the process group is gone from the kernel (`kill(-pgid, 0)` fails with ESRCH), at most `ms`. */
export async function groupGone(pgid: number, ms = 10_000): Promise<boolean> {
  for (let waited = 0; waited < ms; waited += 50) {
    if (!groupExists(pgid)) return true;
    await new Promise(resolve => setTimeout(resolve, 50));
  }
  return !groupExists(pgid);
}

/** The number a hook wrote into a file (`echo $$ > FILE`), once it is there; at most `ms`. */
export async function numberInFile(path: string, ms = 10_000): Promise<number> {
  for (let waited = 0; waited < ms; waited += 20) {
    const text = await readFile(path, "utf8").catch(() => "");
    if (/^\d+\n$/.test(text)) return Number(text.trim());
    await new Promise(resolve => setTimeout(resolve, 20));
  }
  throw new Error(`${path} did not get a number within ${ms} ms`);
}
