/**
 * The passcommand runs in the drone's process (not in borg's), in a process group of its
 * own with a deadline: a working one hands its output to borg on the descriptor, a failing or
 * hanging one ends with a message that names the passcommand, and borg is never started.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { type BorgClient, createBorgClient } from "../../../libs/borg/index.mjs";
import { holdRepositoryLock, makeTestRepository, rejection, TEST_PASSPHRASE, type TestRepository } from "../../helpers/borg.mjs";
import { groupGone, liveInGroup, numberInFile } from "../../helpers/process-group.mjs";


/** The borg processes whose parent is this test process: pid and environment. */
async function ourBorgs(): Promise<{ pid: number; environ: string[] }[]> {
  const found = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    const argv = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (parent !== process.pid || !argv.includes("borg")) continue;
    const environ = await readFile(`/proc/${entry}/environ`, "utf8").catch(() => "");
    found.push({ pid: Number(entry), environ: environ.split("\0") });
  }
  return found;
}

describe("a passcommand", () => {
  let repo: TestRepository;
  const withCommand = (command: string, options: { passcommandTimeoutMs?: number } = {}): BorgClient =>
    createBorgClient({ ...repo.repository, passphrase: { kind: "command", command } }, options);

  beforeAll(async () => {
    repo = await makeTestRepository();
  });

  afterAll(async () => {
    await repo?.remove();
  });

  it("that works: borg gets its output on the descriptor, and neither the command nor the passphrase in its environment", async () => {
    // the repository lock, held by another borg, keeps the drone's borg waiting while its environment is read
    const lock = await holdRepositoryLock(repo);

    let borgPid = 0;
    const client = createBorgClient({ ...repo.repository, lockWaitSeconds: 60, passphrase: { kind: "command", command: `printf '%s\\n' ${TEST_PASSPHRASE}` } });
    const listed = client.list({}, { onSpawn: pid => (borgPid = pid) });
    let borg: { pid: number; environ: string[] } | undefined;
    for (let tries = 0; tries < 200 && !borg; tries++) {
      borg = (await ourBorgs()).find(found => found.pid === borgPid);
      if (!borg) await new Promise(resolve => setTimeout(resolve, 50));
    }
    await lock.release();
    expect((await listed).outcome).toBe("success");

    expect(borg?.environ).toContain("BORG_PASSPHRASE_FD=3");
    expect(borg?.environ.filter(entry => entry.startsWith("BORG_PASSCOMMAND="))).toEqual([]);
    expect(borg?.environ.join("\n")).not.toContain(TEST_PASSPHRASE);
  });

  it("that fails: passcommand_failed with its exit code and last line, and borg is not started", async () => {
    let started = false;
    const error = await rejection(withCommand("echo 'gpg: decryption failed: No secret key' >&2; exit 2").list({}, { onSpawn: () => (started = true) }));
    expect(error.kind).toBe("passcommand_failed");
    expect(error.message).toBe(
      `The passcommand for ${repo.repository.location} exited with 2 (gpg: decryption failed: No secret key), so borg was not started. Run the configured passcommand by hand, as the user the drone runs as: it must print the passphrase and exit without waiting for input.`,
    );
    expect(started).toBe(false);
  });

  it("that prints nothing: passcommand_failed, not a wrong passphrase", async () => {
    const error = await rejection(withCommand("true").list());
    expect(error.kind).toBe("passcommand_failed");
    expect(error.message).toContain("printed nothing");
  });

  it("that prints the wrong passphrase: borg says the passphrase is wrong, and the wrong one is not in the message", async () => {
    const error = await rejection(withCommand("echo not-the-passphrase-canary").list());
    expect(error.kind).toBe("passphrase_wrong");
    expect(error.message).not.toContain("not-the-passphrase-canary");
  });

  it("that hangs: stopped at its deadline with its whole process group; the message names the passcommand, not the network", async () => {
    const pidFile = join(repo.root, "passcommand.pid");
    let started = false;
    const failed = rejection(
      withCommand(`echo $$ > ${pidFile}; sleep 60 & sleep 60`, { passcommandTimeoutMs: 2000 }).list({}, { onSpawn: () => (started = true) }),
    );
    const pgid = await numberInFile(pidFile);
    expect(liveInGroup(pgid).filter(member => /^\d+ \S+ sleep 60$/.test(member))).toHaveLength(2);
    const error = await failed;
    expect(error.kind).toBe("passcommand_failed");
    expect(error.message).toMatch(
      new RegExp(`^The passcommand for ${repo.repository.location} did not finish within 2 s and was stopped, with its processes, so borg was not started\\. `),
    );
    expect(error.message).not.toMatch(/network|host/);
    expect(started).toBe(false);
    expect(liveInGroup(pgid)).toEqual([]);
    expect(await groupGone(pgid)).toBe(true);
  });

  it("that is running when the run is aborted: stopped with its group, an interruption that claims no checkpoint", async () => {
    const pidFile = join(repo.root, "aborted.pid");
    const controller = new AbortController();
    const failed = rejection(
      withCommand(`echo $$ > ${pidFile}; sleep 60 & sleep 60`).create({ archive: "never", paths: [repo.root] }, { signal: controller.signal }),
    );
    const pgid = await numberInFile(pidFile);
    controller.abort();
    const error = await failed;
    expect(error.kind).toBe("interrupted");
    expect(error.message).toBe(`The passcommand for ${repo.repository.location} was stopped: the run was interrupted before borg create started.`);
    expect(liveInGroup(pgid)).toEqual([]);
    expect(await groupGone(pgid)).toBe(true);
  });
});
