/**
 * The fleet backing up over ssh to one nas: real `backup-drone` daemons and the real
 * `backup-coordinator` meet through the loopback Home Assistant (127.0.0.1, so they run in the
 * root namespace), and reach the nas namespace's sshd through a veth from the root namespace.
 * Each drone spells the nas's repository another way borg accepts; the coordinator must see one
 * host in all of them and never run two backups on it at once.
 */
import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";

import { afterEach, describe, expect, it, onTestFailed } from "vitest";

import { startEmulator } from "../../emulator/index.mjs";
import { Fleet, type FleetDroneSpec, peakConcurrency } from "../../fleet/harness.mjs";
import { tempDir } from "../../helpers/fs.mjs";
import { startHomeNetwork } from "../../helpers/home-network.mjs";

let cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  cleanups = [];
});

/** Slow enough (lzma on random data) that two unlimited runs on the nas would overlap. */
const SLOW = { files: 8, bytes: 1024 * 1024, config: { COMPRESSION: "lzma,6" } } as const;

describe("a fleet over ssh to one nas", () => {
  it("ssh://, user@host:/path and host:/path of one nas are one repository host: never two runs on it at once", async () => {
    const network = await startHomeNetwork({ drones: [], rootLink: true });
    cleanups.push(network.stop);
    const dir = await tempDir("fleet-ssh");
    cleanups.push(dir.remove);
    const nas = network.nasAddress;
    const spellings: Record<string, (path: string) => string> = {
      alpha: path => `ssh://root@${nas}${path}`,
      bravo: path => `root@${nas}:${path}`,
      charlie: path => `${nas}:${path}`,
    };
    const drones: FleetDroneSpec[] = [];
    for (const [id, spell] of Object.entries(spellings)) {
      const folder = join(network.nasRoot, "fleet", id);
      await mkdir(folder, { recursive: true });
      const key = await network.sshd.addClient({ restrictTo: [folder], name: id });
      const path = join(folder, "repo");
      drones.push({ id, ...SLOW, config: { ...SLOW.config, BORG_RSH: key.rsh }, remote: { location: spell(path), path } });
    }

    const token = randomBytes(20).toString("hex");
    const emulator = await startEmulator({ token, port: 0 });
    cleanups.push(() => emulator.stop());
    const lines: string[] = [];
    const fleet = new Fleet({ root: dir.path, emulator, token, drones, log: (source, line) => lines.push(`${source}: ${line}`) });
    cleanups.push(() => fleet.stopAll());
    onTestFailed(() => {
      console.error(lines.slice(-200).join("\n"));
    });
    await fleet.prepare();

    const since = emulator.events().length;
    await fleet.startAll();
    // each drone tells the coordinator its repository host in its status: one nas, one host
    const hosts = Object.fromEntries(Object.keys(spellings).map(id => [id, fleet.statuses(id, since).at(-1)?.repository_host]));
    // soft: a wrong host fails the test, and the round still shows what the coordinator made of it
    expect.soft(hosts).toEqual({ alpha: nas, bravo: nas, charlie: nas });

    const results = await fleet.round(Object.keys(spellings), since, 240_000);
    for (const [id, result] of results) expect({ id, outcome: result.outcome, error: result.error }).toEqual({ id, outcome: "success", error: null });
    // borg's own clocks: the three backups on the nas never overlapped
    const runs = [];
    for (const drone of fleet.drones.values()) {
      const archives = await drone.archives();
      expect(archives).toHaveLength(1);
      for (const archive of archives) runs.push({ host: nas, start: archive.start, end: archive.end });
    }
    expect(peakConcurrency(runs).get(nas)).toBe(1);
  });
});
