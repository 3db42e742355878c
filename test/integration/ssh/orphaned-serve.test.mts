/**
 * Issue 15 in the real topology: the drone's machine loses power mid-upload behind a router
 * that forgot the flow (a home router or NAT silently dropping packets of a connection it no
 * longer knows), so nothing ever answers the nas's retransmissions. The nas's `borg serve`
 * lives on with the repository's lock, and borg's own removal of a same-host stale lock never
 * applies (the serve is alive). The restarted drone (the one-shot `backup-drone` command in its
 * namespace) must resume without a person when it can prove the lock is its dead run's, and
 * refuse with a command that works when pasted when it cannot.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import { TEST_PASSPHRASE } from "../../helpers/borg.mjs";
import { tempDir, writeRandomFiles } from "../../helpers/fs.mjs";
import { type HomeNetwork, startHomeNetwork } from "../../helpers/home-network.mjs";
import { builtBin, childEnv } from "../../helpers/process.mjs";
import { resultOf, sshDroneMachine, type SshDroneMachine } from "../../helpers/ssh-drone.mjs";
import { type SshClientKey } from "../../helpers/sshd.mjs";

const exec = promisify(execFile);

/** "solo" has a repository of its own; "twin" shares its repository with "other". */
const DRONES = ["solo", "twin", "other"] as const;
type DroneName = (typeof DRONES)[number];

/** Short, so that the first run after the restart meets its lock timeout quickly. */
const LOCK_WAIT_SECONDS = 3;
/** Slow enough (a token bucket on the drone's link) that the create is mid-upload when the power goes. */
const THROTTLE = "2mbit";
const BIG = { files: 4, bytes: 1024 * 1024 };

let bin = "";
let network: HomeNetwork;
let work: { path: string; remove: () => Promise<void> };
/** Orphaned serves still alive at the end of a test: killed in afterEach. */
const orphans = new Set<number>();

beforeAll(async () => {
  bin = await builtBin("backup-drone");
  network = await startHomeNetwork({ drones: [...DRONES] });
  work = await tempDir("orphaned-serve");
}, 120_000);

afterEach(() => {
  for (const pid of orphans) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone already
    }
  }
  orphans.clear();
});

afterAll(async () => {
  await network.stop();
  await work.remove();
}, 60_000);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** A drone machine backing up to `repositoryRoot/repo` on the nas with `key`; the repository is initialised when `init`. */
const droneMachine = (name: DroneName, options: { repositoryRoot: string; key: SshClientKey; init: boolean }) =>
  sshDroneMachine(network, name, { ...options, bin, workDir: work.path, lockWaitSeconds: LOCK_WAIT_SECONDS, sourceFileBytes: 16 * 1024 });


/**
 * A create over a throttled link; once borg reports its first bytes, the router forgets the
 * drone's ssh connection and the drone's machine loses power. Returns the nas's processes of
 * the orphaned serve (the session's shell and borg serve) and the dead connection's drone port.
 */
async function powerCutBehindRouter(machine: SshDroneMachine): Promise<{ serves: number[]; port: number }> {
  const name = machine.drone.name;
  const serveOf = `borg serve --restrict-to-path ${machine.lockDir.slice(0, -"/repo/lock.exclusive".length)}`;
  expect(await network.nasProcesses(serveOf)).toEqual([]);
  await writeRandomFiles(join(machine.home, "source"), BIG.files, BIG.bytes, "big");
  await network.throttle(name, THROTTLE);
  const create = machine.start(["create", "--json"]);
  await create.waitFor(/"original_size":[1-9]/, 60_000);
  const ports = await network.sshPorts(name);
  expect(ports).toHaveLength(1);
  const [port] = ports;
  if (port === undefined) throw new Error("no ssh connection");
  await network.forgetFlow(name, port);
  const killed = await network.powerCut(name);
  expect(killed).toContain(create.pid);
  await create.done;
  // the link itself is fine again (no throttle); the forgotten flow stays dropped
  await network.restore(name);
  const serves = await network.nasProcesses(serveOf);
  for (const pid of serves) orphans.add(pid);
  return { serves, port };
}

/** Whether the nas still holds the dead machine's connection as established (its side never learnt of the power cut). */
async function nasStillConnected(machine: SshDroneMachine, port: number): Promise<boolean> {
  const { stdout } = await exec("ip", ["netns", "exec", network.nasNetns, "ss", "-t", "-n", "-H", "state", "established", "dst", `${machine.drone.address}:${port}`]);
  return stdout.trim() !== "";
}

/** Pids of the lock holders written in `lock.exclusive` (borg 1.2: one file `HOSTID.PID-THREAD`). */
async function lockHolders(lockDir: string): Promise<number[]> {
  const entries = await readdir(lockDir);
  return entries.map(entry => Number(/\.(\d+)-[0-9a-f]+$/.exec(entry)?.[1] ?? Number.NaN));
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

const seconds = (from: number) => ((Date.now() - from) / 1000).toFixed(1);

describe("the drone's machine loses power behind a router that forgot the flow: the orphaned borg serve keeps the lock", () => {
  it("the first run after the restart proves the lock is its dead run's, breaks it and backs up, with no person", async () => {
    const solo = network.drone("solo");
    const machine = await droneMachine("solo", { repositoryRoot: solo.repositoryRoot, key: solo.key, init: true });
    for (const round of [1, 2]) {
      await writeFile(join(machine.home, "source", `round-${round}`), `${round}\n`);
      expect(resultOf(await machine.run(["create", "--json"])).outcome).toBe("success");
    }
    const before = await machine.names();
    expect(before).toHaveLength(2);

    const { serves, port } = await powerCutBehindRouter(machine);
    // sshd's session and borg serve, alive on the nas; the repository's lock is the serve's
    expect(serves.length).toBeGreaterThan(0);
    const holders = await lockHolders(machine.lockDir);
    expect(holders).toHaveLength(1);
    expect(serves).toContain(holders[0]);
    // and it stays so: no reset from the restarted drone's stack will ever reach the nas
    await new Promise(resolve => setTimeout(resolve, (LOCK_WAIT_SECONDS + 1) * 1000));
    expect(serves.filter(alive)).toEqual(serves);
    expect(await lockHolders(machine.lockDir)).toEqual(holders);
    expect(await nasStillConnected(machine, port)).toBe(true);

    const restartedAt = Date.now();
    const next = await machine.run(["create", "--json"]);
    console.log(`orphaned serve: from the restart to a successful backup ${seconds(restartedAt)} s (LOCK_WAIT_SECONDS=${LOCK_WAIT_SECONDS})`);
    // the one-shot command ran crash recovery: it reported the dead run before its own
    expect(next.stderr).toMatch(/the previous create \(started .*\) did not finish: the drone stopped during create/);
    const result = resultOf(next);
    expect(result).toMatchObject({ operation: "create", outcome: "success", drone_id: "solo" });
    expect(result.notes).toEqual([expect.stringMatching(new RegExp(`^the lock on ${escapeRegExp(machine.repository)} left by run \\S+ \\(create\\), which died with the drone, was broken and the run went on$`))]);
    expect(next.stdout + next.stderr).not.toContain(TEST_PASSPHRASE);

    const check = await machine.run(["check", "--json"]);
    expect(check.code, check.stderr).toBe(0);
    expect(resultOf(check)).toMatchObject({ operation: "check", outcome: "success" });
    const after = await machine.names();
    expect(after).toEqual([...before, result.archive?.name]);
    // the new run did not need the orphan gone; it holds no lock any more
    expect(serves.filter(alive)).toEqual(serves);
    expect(await nasStillConnected(machine, port)).toBe(true);
    expect(existsSync(machine.lockDir)).toBe(false);
  });

  it("another drone's archives in the shared repository: it refuses, and the command it names, pasted, frees the next run", async () => {
    const twin = network.drone("twin");
    const machine = await droneMachine("twin", { repositoryRoot: twin.repositoryRoot, key: twin.key, init: true });
    // "other" is a second machine backing up into twin's repository with a key of its own
    const otherKey = await network.sshd.addClient({ restrictTo: [twin.repositoryRoot], name: "other-shared" });
    const other = await droneMachine("other", { repositoryRoot: twin.repositoryRoot, key: otherKey, init: false });
    const othersArchive = resultOf(await other.run(["create", "--json"])).archive?.name ?? "";
    expect(othersArchive).toMatch(/^other@/);
    expect(resultOf(await machine.run(["create", "--json"])).outcome).toBe("success");
    // each drone lists only its own archives
    const before = await machine.names();
    expect(before).toEqual([expect.stringMatching(/^twin@/)]);

    const { serves } = await powerCutBehindRouter(machine);
    const holders = await lockHolders(machine.lockDir);
    expect(holders).toHaveLength(1);
    expect(serves).toContain(holders[0]);

    const refused = await machine.run(["create", "--json"]);
    const result = resultOf(refused);
    expect(result).toMatchObject({ operation: "create", outcome: "failed", error_kind: "lock_timeout" });
    const error = result.error ?? "";
    console.log(`orphaned serve, shared repository: the restarted drone refused: ${error}`);
    expect(error).not.toContain("\n");
    expect(error).toContain(`another drone's archives are in the repository (${othersArchive})`);
    // the orphan is still listed on the nas: the message says how a person tells it apart
    expect(error).toContain("`pgrep -a \"borg serve\"` also lists the dead run's own serve");
    const command = /then run `([^`]+)`\.$/.exec(error)?.[1] ?? "";
    expect(command).toBe(`BORG_BASE_DIR=${join(machine.home, "borg-base")} BORG_RSH='${twin.key.rsh}' borg break-lock ${machine.repository}`);
    // refused, the lock is untouched
    expect(await lockHolders(machine.lockDir)).toEqual(holders);

    // a person pastes it in a shell on the drone's machine: the drone's environment, no passphrase
    const env = childEnv({}, machine.home);
    expect(Object.values(env)).not.toContain(TEST_PASSPHRASE);
    expect(command).not.toContain(TEST_PASSPHRASE);
    await exec("ip", ["netns", "exec", twin.netns, "sh", "-c", command], { env, cwd: machine.home });
    expect(existsSync(machine.lockDir)).toBe(false);

    const next = resultOf(await machine.run(["create", "--json"]));
    expect(next).toMatchObject({ operation: "create", outcome: "success", drone_id: "twin" });
    // the person broke it, not the drone
    expect(next.notes ?? []).toEqual([]);
    const check = await machine.run(["check", "--json"]);
    expect(check.code, check.stderr).toBe(0);
    expect(resultOf(check)).toMatchObject({ operation: "check", outcome: "success" });
    expect(await machine.names()).toEqual([...before, next.archive?.name]);
    expect(await other.names()).toEqual([othersArchive]);
    expect(serves.filter(alive)).toEqual(serves);
  });
});
