import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFile, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { breakLock, parseLockText, tryLock } from "../../../apps/drone/core/lock-file.mjs";
import {
  commandMatches,
  fingerprint,
  isRecordedProcess,
  isRunning,
  type ObservedProcess,
  observeProcess,
  parseBootTime,
  parseCmdline,
  parseStat,
  processIdentity,
} from "../../../apps/drone/core/process-identity.mjs";
import { acquireRunLock } from "../../../apps/drone/core/run-lock.mjs";
import { tempDir } from "../../helpers/fs.mjs";

const BOOT = "0b8e0c1e-1111-4222-8333-944455556666";
const BORG_ARGV = ["ionice", "-c", "3", "nice", "-n", "10", "borg", "create", "--log-json", "/repo::laptop@2026", "/home"];

/** A process as /proc would show it. */
const present = (argv: string[], options: { startTicks?: number; bootId?: string; startedAtMs?: number; bootedAtMs?: number } = {}): ObservedProcess => ({
  kind: "present",
  identity: { bootId: options.bootId ?? BOOT, startTicks: options.startTicks ?? 5000, argv },
  startedAtMs: options.startedAtMs ?? 1_000_050_000,
  bootedAtMs: options.bootedAtMs ?? 1_000_000_000,
});

describe("reading /proc", () => {
  it("takes the state and the start time (field 22) after the name, whatever the name holds", () => {
    const fields = Array.from({ length: 50 }, (_, index) => String(index + 3));
    fields[0] = "S";
    fields[19] = "123456";
    expect(parseStat(`4242 (odd) name (x) ${fields.join(" ")}\n`)).toEqual({ state: "S", startTicks: 123_456 });
    fields[0] = "Z";
    expect(parseStat(`7 (borg) ${fields.join(" ")}`)?.state).toBe("Z");
    expect(parseStat("garbage")).toBeUndefined();
    expect(parseStat("1 (x) S 1 2")).toBeUndefined();
  });

  it("splits a command line and drops the padding a rewritten process title leaves", () => {
    expect(parseCmdline("node\0main.mjs\0daemon\0")).toEqual(["node", "main.mjs", "daemon"]);
    expect(parseCmdline("backup_drone\0\0\0\0\0")).toEqual(["backup_drone"]);
    expect(parseCmdline("")).toEqual([]);
  });

  it("reads the boot time of /proc/stat", () => {
    expect(parseBootTime("cpu 1 2 3\nbtime 1795996295\nprocesses 9\n")).toBe(1_795_996_295_000);
    expect(parseBootTime("cpu 1 2 3\n")).toBeUndefined();
  });
});

describe("command lines", () => {
  it("are recorded as salted hashes: no argument's text reaches the record", () => {
    const secret = "--PASSPHRASE=canary-secret-77";
    const recorded = fingerprint(["node", "/usr/bin/backup-drone", "create", secret]);
    expect(JSON.stringify(recorded)).not.toContain("canary");
    expect(recorded.args).toHaveLength(4);
    // another salt, other hashes: a hash cannot be looked up in a table of guesses
    expect(fingerprint(["node"]).args[0]).not.toBe(fingerprint(["node"]).args[0]);
  });

  it("match the same command, and the same launch after its wrappers or its interpreter took over the pid", () => {
    const recorded = fingerprint(BORG_ARGV);
    expect(commandMatches(recorded, BORG_ARGV)).toBe(true);
    // nice has exec'd borg
    expect(commandMatches(recorded, ["borg", "create", "--log-json", "/repo::laptop@2026", "/home"])).toBe(true);
    // borg is a python script: the kernel shows the interpreter first
    expect(commandMatches(recorded, ["/usr/bin/python3", "/usr/bin/borg", "create", "--log-json", "/repo::laptop@2026", "/home"])).toBe(true);
  });

  it("do not match another command, another program with the same arguments, or nothing", () => {
    const recorded = fingerprint(BORG_ARGV);
    expect(commandMatches(recorded, ["sleep", "60"])).toBe(false);
    expect(commandMatches(recorded, ["/usr/bin/python3", "/usr/bin/borg", "create", "--log-json", "/repo::laptop@2025", "/home"])).toBe(false);
    expect(commandMatches(recorded, ["/usr/bin/python3", "/usr/bin/other", "create", "--log-json", "/repo::laptop@2026", "/home"])).toBe(false);
    // a process that has ended shows an empty command line
    expect(commandMatches(recorded, [])).toBe(false);
    const drone = fingerprint(["node", "/opt/drone/main.mjs", "daemon"]);
    expect(commandMatches(drone, ["node", "/opt/other/main.mjs", "daemon"])).toBe(true);
    expect(commandMatches(drone, ["node", "/opt/other/server.mjs", "daemon"])).toBe(false);
  });
});

describe("is the recorded process the one running now", () => {
  const identity = { bootId: BOOT, startTicks: 5000, command: fingerprint(BORG_ARGV) };
  const record = { pid: 321, identity };

  it("yes only when the boot, the start time and the command all match", () => {
    expect(isRecordedProcess(record, present(BORG_ARGV))).toBe(true);
    expect(isRecordedProcess(record, present(BORG_ARGV, { startTicks: 5001 }))).toBe(false);
    expect(isRecordedProcess(record, present(BORG_ARGV, { bootId: "another-boot" }))).toBe(false);
    expect(isRecordedProcess(record, present(["sleep", "60"]))).toBe(false);
    expect(isRecordedProcess(record, { kind: "absent" })).toBe(false);
  });

  it("without /proc, falls back to whether the pid exists", () => {
    expect(isRecordedProcess(record, { kind: "unknown", exists: true })).toBe(true);
    expect(isRecordedProcess(record, { kind: "unknown", exists: false })).toBe(false);
  });

  it("a record of an older drone (no identity) counts only while nothing contradicts it", () => {
    const bootedAtMs = 1_000_000_000;
    const legacy = (hints: { recordedAtMs: number; startedByMs?: number; startedFromMs?: number; program?: string }) => ({ pid: 321, identity: null, legacy: hints });
    const drone = present(["node", "main.mjs", "daemon"], { startedAtMs: bootedAtMs + 60_000, bootedAtMs });
    // written by this process after it started, during this boot
    expect(isRecordedProcess(legacy({ recordedAtMs: bootedAtMs + 120_000, startedByMs: bootedAtMs + 120_000 }), drone)).toBe(true);
    // written before this boot: whatever has the pid now is someone else
    expect(isRecordedProcess(legacy({ recordedAtMs: bootedAtMs - 3_600_000, startedByMs: bootedAtMs - 3_600_000 }), drone)).toBe(false);
    // the process started after the record was written: it did not write it
    expect(isRecordedProcess(legacy({ recordedAtMs: bootedAtMs + 10_000, startedByMs: bootedAtMs + 10_000 }), drone)).toBe(false);
    // a borg must have started after its run, and be borg
    const borg = present(["/usr/bin/python3", "/usr/bin/borg", "create"], { startedAtMs: bootedAtMs + 60_000, bootedAtMs });
    expect(isRecordedProcess(legacy({ recordedAtMs: bootedAtMs + 59_000, startedFromMs: bootedAtMs + 59_000, program: "borg" }), borg)).toBe(true);
    expect(isRecordedProcess(legacy({ recordedAtMs: bootedAtMs + 90_000, startedFromMs: bootedAtMs + 90_000, program: "borg" }), borg)).toBe(false);
    expect(isRecordedProcess(legacy({ recordedAtMs: bootedAtMs + 59_000, startedFromMs: bootedAtMs + 59_000, program: "borg" }), present(["sleep", "60"], { startedAtMs: bootedAtMs + 60_000, bootedAtMs }))).toBe(false);
    expect(isRecordedProcess({ pid: 321, identity: null }, drone)).toBe(false);
  });
});

describe("live processes", () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const child of children.splice(0)) child.kill("SIGKILL");
  });
  const sleeper = async () => {
    const child = spawn("sleep", ["60"], { stdio: "ignore" });
    children.push(child);
    await once(child, "spawn");
    return child;
  };

  it("this process and a child are recognised; a changed start time or a dead child is not", async () => {
    const own = processIdentity();
    expect(own).not.toBeNull();
    expect(isRecordedProcess({ pid: process.pid, identity: own }, observeProcess(process.pid))).toBe(true);
    const child = await sleeper();
    const pid = child.pid ?? 0;
    const identity = processIdentity(pid);
    expect(identity).not.toBeNull();
    if (!identity) return;
    expect(isRecordedProcess({ pid, identity }, observeProcess(pid))).toBe(true);
    expect(isRecordedProcess({ pid, identity: { ...identity, startTicks: identity.startTicks + 1 } }, observeProcess(pid))).toBe(false);
    expect(isRecordedProcess({ pid, identity: own }, observeProcess(pid))).toBe(false);
    expect(isRunning(pid)).toBe(true);
    child.kill("SIGKILL");
    await once(child, "exit");
    expect(isRunning(pid)).toBe(false);
    expect(isRecordedProcess({ pid, identity }, observeProcess(pid))).toBe(false);
  });

  it("a run lock naming a live process with another start time is taken over; one naming it exactly is held", async () => {
    const dir = await tempDir("run-lock");
    try {
      const child = await sleeper();
      const pid = child.pid ?? 0;
      const identity = processIdentity(pid);
      if (!identity) throw new Error("no /proc identity for the sleeper");
      const lock = join(dir.path, "drone.lock");
      const since = new Date().toISOString();
      await writeFile(lock, JSON.stringify({ pid, identity: { ...identity, startTicks: identity.startTicks - 1 }, since }));
      const taken = await acquireRunLock(lock);
      expect("release" in taken).toBe(true);
      if ("release" in taken) await taken.release();

      await writeFile(lock, JSON.stringify({ pid, identity, since }));
      expect(await acquireRunLock(lock)).toEqual({ heldBy: pid });

      // an older drone's lock: a bare pid. Written before the sleeper started, it is not the sleeper's
      await writeFile(lock, String(pid));
      const before = new Date(Date.now() - 600_000);
      await utimes(lock, before, before);
      const legacyTaken = await acquireRunLock(lock);
      expect("release" in legacyTaken).toBe(true);
      if ("release" in legacyTaken) await legacyTaken.release();
      // written after it started (as its owner would have): held
      await writeFile(lock, String(pid));
      expect(await acquireRunLock(lock)).toEqual({ heldBy: pid });
    } finally {
      await dir.remove();
    }
  });
});

describe("lock files", () => {
  it("name their owner; an older drone's bare pid still reads", () => {
    expect(parseLockText("1234\n", 1_700_000_000_000)).toEqual({ pid: 1234, identity: null, since: "2023-11-14T22:13:20.000Z" });
    expect(parseLockText("not a lock", 0)).toBeUndefined();
    expect(parseLockText(JSON.stringify({ pid: 5, identity: null, since: "2026-01-01T00:00:00.000Z" }), 0)?.pid).toBe(5);
  });

  it("are taken once, released only by their owner, and a lock taken meanwhile survives breaking a stale one", async () => {
    const dir = await tempDir("lock-file");
    try {
      const path = join(dir.path, "x.lock");
      const first = await tryLock(path);
      if (!("release" in first)) throw new Error("the first attempt must take the lock");
      const second = await tryLock(path);
      expect("holder" in second && second.holder.owner?.pid).toBe(process.pid);
      if (!("holder" in second)) return;
      // the lock judged stale was replaced by a new owner's before it was broken
      await writeFile(path, JSON.stringify({ pid: 99_999_999, identity: null, since: new Date().toISOString() }));
      const newer = await readFile(path, "utf8");
      await breakLock(path, second.holder);
      expect(await readFile(path, "utf8")).toBe(newer);
      // the first owner's release leaves the new owner's lock alone
      await first.release();
      expect(await readFile(path, "utf8")).toBe(newer);
      await breakLock(path, { text: newer, writtenAtMs: Date.now() });
      const third = await tryLock(path);
      expect("release" in third).toBe(true);
    } finally {
      await dir.remove();
    }
  });
});
