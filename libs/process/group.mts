/**
 * Process groups from /proc: which processes of a group still live, and a signal to all of
 * them. A command started as a group leader (see run.mts) cannot leave a child behind that
 * its stop misses.
 */
import { readdirSync, readFileSync } from "node:fs";

/**
 * The live processes of a process group, from /proc: a zombie is dead already, and is gone
 * once its new parent reaps it (some init processes take a second or more). Undefined where
 * /proc cannot be read.
 */
export function groupMembers(pgid: number): number[] | undefined {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return undefined;
  }
  const members: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    // "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) === pgid && fields[0] !== "Z" && fields[0] !== "X") members.push(Number(entry));
  }
  return members;
}

/** True while a live process of the group exists. */
export function groupAlive(pgid: number): boolean {
  const members = groupMembers(pgid);
  if (members) return members.length > 0;
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    // EPERM: a member exists that we may not signal
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Send `signal` to every process of the group; a group that is gone already is not an error. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // the group is gone already
  }
}
