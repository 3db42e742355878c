/**
 * The drone as it runs in a home: the real `backup-drone` command inside its own network
 * namespace, backing up over ssh to a "nas" namespace whose sshd serves `borg serve` restricted
 * to the drone's folder (test/helpers/home-network.mts). Then the faults of a real home's
 * network while a create is uploading: the link cut, the nas's sshd killed, packets silently
 * dropped, and the drone's machine losing power while the link was silent.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { progressEventSchema, resultEventSchema } from "../../../libs/protocol/index.mjs";
import { TEST_PASSPHRASE } from "../../helpers/borg.mjs";
import { fileHashes, tempDir, writeRandomFiles } from "../../helpers/fs.mjs";
import { type HomeNetwork, startHomeNetwork } from "../../helpers/home-network.mjs";
import { builtBin, type Finished, type Running } from "../../helpers/process.mjs";
import { jsonLines, resultOf, sshDroneMachine, type SshDroneMachine } from "../../helpers/ssh-drone.mjs";

/** One drone per scenario, so that a fault left behind by one never meets the next. */
const DRONES = ["happy", "cut", "nasdown", "silent", "powercut"] as const;
type DroneName = (typeof DRONES)[number];

/** The upload while a fault hits: slow enough (a token bucket on the drone's link) to be mid-way. */
const THROTTLE = "2mbit";
const BIG = { files: 8, bytes: 1024 * 1024 };

let bin = "";
let network: HomeNetwork;
let work: { path: string; remove: () => Promise<void> };

beforeAll(async () => {
  bin = await builtBin("backup-drone");
  network = await startHomeNetwork({ drones: [...DRONES] });
  work = await tempDir("ssh-drones");
}, 120_000);

afterAll(async () => {
  await network.stop();
  await work.remove();
}, 60_000);

/** A drone machine over ssh with the drone's DEFAULT ssh options (only the key and known_hosts are ours). */
const droneMachine = (name: DroneName) =>
  sshDroneMachine(network, name, { bin, workDir: work.path, lockWaitSeconds: 5, sourceFileBytes: 64 * 1024 });

/** A create over a throttled link, returned once borg has read its first bytes (and is uploading them). */
async function uploading(machine: SshDroneMachine): Promise<Running> {
  await writeRandomFiles(machine.source, BIG.files, BIG.bytes, "big");
  await network.throttle(machine.drone.name, THROTTLE);
  const create = machine.start(["create", "--json"]);
  await create.waitFor(/"original_size":[1-9]/, 60_000);
  expect(create.alive()).toBe(true);
  return create;
}

/** After a fault: a clean `borg check` over ssh, every earlier archive still there, and the next create succeeds. */
async function expectRecovered(machine: SshDroneMachine, before: string[]) {
  const next = resultOf(await machine.run(["create", "--json"]));
  // a borg serve that was killed leaves its lock behind; the nas's next borg serve (same host)
  // removes it and says so: a warning that still made the archive, nothing else may be wrong
  expect(next.operation).toBe("create");
  expect(["success", "warning"], next.error ?? "").toContain(next.outcome);
  expect(next.archive?.name).toMatch(new RegExp(`^${machine.drone.name}@`));
  for (const warning of next.warnings) expect(warning).toMatch(/stale (exclusive roster )?lock/);
  const check = await machine.run(["check", "--json"]);
  expect(check.code, check.stderr).toBe(0);
  expect(resultOf(check)).toMatchObject({ operation: "check", outcome: "success" });
  const after = await machine.names();
  for (const name of before) expect(after).toContain(name);
  expect(after).toHaveLength(before.length + 1);
}

/*
 * The error kinds asserted below (connection_lost, ssh_connection_refused) are checked with
 * expect.soft: a wrong kind fails the test, and the recovery after the fault is still tested.
 */
const seconds = (from: number) => ((Date.now() - from) / 1000).toFixed(1);

describe("backup-drone in its own network namespace, over ssh to the nas", () => {
  it("create, list, prune and a bit-for-bit restore, with progress lines over ssh", async () => {
    const machine = await droneMachine("happy");
    // more data than the socket buffers hold (a few MiB), on a slowed link: borg's reading waits
    // for the upload, so it reports progress (every 0.2 s) while it uploads
    await writeRandomFiles(machine.source, BIG.files, BIG.bytes, "big");
    await network.throttle("happy", "4mbit");
    const first = await machine.run(["create", "--json"]);
    await network.restore("happy");
    expect(first.code, first.stderr).toBe(0);
    const lines = jsonLines(first.stdout);
    const result = resultEventSchema.parse(lines.at(-1));
    expect(result).toMatchObject({ operation: "create", outcome: "success", drone_id: "happy" });
    const progress = lines.slice(0, -1).map(line => progressEventSchema.parse(line));
    expect(progress.some(event => event.original_size > 0)).toBe(true);
    expect(progress.at(-1)?.finished).toBe(true);
    expect(first.stdout + first.stderr).not.toContain(TEST_PASSPHRASE);

    await writeFile(join(machine.source, "notes.txt"), "second\n");
    const second = await machine.run(["create", "--json"]);
    expect(resultOf(second).outcome).toBe("success");
    expect(await machine.names()).toEqual([result.archive?.name, resultOf(second).archive?.name]);

    // two archives of one day: keeping one daily prunes the older
    const pruned = await machine.run(["prune", "--json", "--KEEP_DAILY=1", "--KEEP_WEEKLY=0", "--KEEP_MONTHLY=0", "--KEEP_YEARLY=0"]);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(resultOf(pruned).pruned).toEqual([result.archive?.name]);
    expect(await machine.names()).toEqual([resultOf(second).archive?.name]);

    const target = join(machine.home, "restored");
    const restored = await machine.run(["restore", "latest", "--target", target, "--json"]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(await fileHashes(join(target, machine.source.slice(1)))).toEqual(await fileHashes(machine.source));
  });

  it("the link cut mid-upload: the drone reports the lost connection; the link back, the next run succeeds", async () => {
    const machine = await droneMachine("cut");
    expect((await machine.run(["create", "--json"])).code).toBe(0);
    const before = await machine.names();
    const create = await uploading(machine);
    const cutAt = Date.now();
    await network.cut("cut");
    const failed = await create.done;
    console.log(`link cut: the drone reported after ${seconds(cutAt)} s`);
    await network.restore("cut");
    expect.soft(resultOf(failed)).toMatchObject({ operation: "create", outcome: "failed", error_kind: "connection_lost" });
    await expectRecovered(machine, before);
  });

  it("the nas's sshd and its borg serve killed mid-upload: refused while it is down; restarted, the next run succeeds", async () => {
    const machine = await droneMachine("nasdown");
    expect((await machine.run(["create", "--json"])).code).toBe(0);
    const before = await machine.names();
    const create = await uploading(machine);
    const killedAt = Date.now();
    const killed = await network.killNas();
    let refused: Finished;
    let failed: Finished;
    try {
      // sshd, its session and borg serve
      expect(killed.length).toBeGreaterThanOrEqual(3);
      failed = await create.done;
      console.log(`nas sshd killed: the drone reported after ${seconds(killedAt)} s (${resultOf(failed).error_kind})`);
      await network.restore("nasdown");
      // while sshd is down nothing listens on port 22
      refused = await machine.run(["create", "--json"]);
    } finally {
      // the other scenarios share this nas
      await network.restartNas();
    }
    expect.soft(resultOf(failed)).toMatchObject({ operation: "create", outcome: "failed", error_kind: "connection_lost" });
    expect.soft(resultOf(refused)).toMatchObject({ outcome: "failed", error_kind: "ssh_connection_refused" });
    await expectRecovered(machine, before);
  });

  it("a blackhole mid-upload (packets silently dropped): the drone reports the lost connection with its default ssh options", async () => {
    const machine = await droneMachine("silent");
    expect((await machine.run(["create", "--json"])).code).toBe(0);
    const before = await machine.names();
    const create = await uploading(machine);
    const droppedAt = Date.now();
    await network.blackhole("silent");
    const failed = await create.done;
    console.log(`blackhole: the drone reported after ${seconds(droppedAt)} s (${resultOf(failed).error_kind})`);
    await network.restore("silent");
    expect.soft(resultOf(failed)).toMatchObject({ operation: "create", outcome: "failed", error_kind: "connection_lost" });
    await expectRecovered(machine, before);
  });

  it("the drone's machine loses power while the link is silent: the orphaned borg serve's lock does not need a person", async () => {
    const machine = await droneMachine("powercut");
    expect((await machine.run(["create", "--json"])).code).toBe(0);
    const before = await machine.names();
    const create = await uploading(machine);
    await network.blackhole("powercut");
    const killed = await network.powerCut("powercut");
    expect(killed).toContain(create.pid);
    await create.done;
    await network.restore("powercut");
    const restoredAt = Date.now();
    // the nas never heard of the power cut: its borg serve still runs and holds the lock
    const orphans = await network.nasProcesses(`borg serve --restrict-to-path ${machine.drone.repositoryRoot}`);
    console.log(`power cut: borg serve processes left on the nas: ${orphans.length}`);
    expect(orphans.length).toBeGreaterThan(0);

    const next = await machine.run(["create", "--json"]);
    console.log(`power cut: the restarted drone's next create ended ${resultOf(next).outcome} ${seconds(restoredAt)} s after the link came back`);
    expect(resultOf(next)).toMatchObject({ operation: "create", outcome: "success" });
    const check = await machine.run(["check", "--json"]);
    expect(resultOf(check)).toMatchObject({ operation: "check", outcome: "success" });
    const after = await machine.names();
    for (const name of before) expect(after).toContain(name);
  });
});
