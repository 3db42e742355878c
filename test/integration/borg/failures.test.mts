import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  createBorgClient,
  Secret,
} from "../../../libs/borg/index.mjs";
import { makeTestRepository, rejection, TEST_PASSPHRASE, type TestRepository } from "../../helpers/borg.mjs";
import { tempDir, writeRandomFiles } from "../../helpers/fs.mjs";

const MiB = 1024 * 1024;


/** argv and environment of every borg process running now. */
async function borgProcesses(): Promise<{ pid: string; argv: string; environ: string }[]> {
  const found = [];
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const argv = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    if (!argv.includes("borg")) continue;
    const environ = await readFile(`/proc/${pid}/environ`, "utf8").catch(() => "");
    found.push({ pid, argv: argv.split("\0").join(" "), environ });
  }
  return found;
}

describe("typed errors from a real borg", () => {
  let repo: TestRepository;

  beforeAll(async () => {
    repo = await makeTestRepository();
  });

  afterAll(async () => {
    await repo?.remove();
  });

  it("a wrong passphrase is passphrase_wrong, and the message says what to do", async () => {
    const wrong = createBorgClient({
      ...repo.repository,
      passphrase: { kind: "passphrase", value: new Secret("not-the-passphrase") },
    });
    const error = await rejection(wrong.list());
    expect(error.kind).toBe("passphrase_wrong");
    expect(error.message).toContain("passphrase");
    expect(error.message).not.toContain("not-the-passphrase");
  });

  it("a missing passphrase is passphrase_missing", async () => {
    const none = createBorgClient({ ...repo.repository, passphrase: undefined });
    const error = await rejection(none.list());
    expect(error.kind).toBe("passphrase_missing");
    // borg's own words, without their doubled full stop, and what to configure; no passphrase file was involved
    expect(error.message).toMatch(/no passphrase reached borg \(borg: .*BORG_PASSPHRASE is not set/);
    expect(error.message).toContain("Configure a passphrase, a passcommand or a passphrase file.");
    expect(error.message).not.toContain("..");
    expect(error.message).not.toContain("passphrase file setting");
  });

  it("a passphrase file works, and a missing one says which file", async () => {
    const file = join(repo.root, "passphrase");
    await writeFile(file, `${TEST_PASSPHRASE}\n`, { mode: 0o600 });
    const fromFile = createBorgClient({ ...repo.repository, passphrase: { kind: "file", path: file } });
    expect((await fromFile.list()).value.archives).toEqual([]);
    const missing = createBorgClient({ ...repo.repository, passphrase: { kind: "file", path: `${file}.nope` } });
    const error = await rejection(missing.list());
    expect(error.kind).toBe("passphrase_missing");
    expect(error.message).toContain(`${file}.nope`);
  });

  it("a passcommand and the environment transport both work", async () => {
    const viaCommand = createBorgClient({
      ...repo.repository,
      passphrase: { kind: "command", command: `printf ${TEST_PASSPHRASE}` },
    });
    expect((await viaCommand.list()).outcome).toBe("success");
    const viaEnv = createBorgClient({ ...repo.repository, passphraseTransport: "env" });
    expect((await viaEnv.list()).outcome).toBe("success");
  });

  it("a missing repository is repository_missing", async () => {
    const missing = createBorgClient({ ...repo.repository, location: join(repo.root, "nothing-here") });
    const error = await rejection(missing.list());
    expect(error.kind).toBe("repository_missing");
    expect(error.message).toContain("borg init");
  });

  it("a folder that is not a repository is repository_invalid", async () => {
    const invalid = createBorgClient({ ...repo.repository, location: repo.root });
    expect((await rejection(invalid.list())).kind).toBe("repository_invalid");
  });

  it("an existing archive name is archive_exists; an unknown one archive_missing", async () => {
    const source = join(repo.root, "small");
    await writeRandomFiles(source, 1, 1024);
    await repo.client.create({ archive: "dup", paths: [source] });
    const exists = await rejection(repo.client.create({ archive: "dup", paths: [source] }));
    expect(exists.kind).toBe("archive_exists");
    expect(exists.message).toContain("dup");
    expect((await rejection(repo.client.info({ archive: "nope" }))).kind).toBe("archive_missing");
  });

  it("a missing source path is a warning result, not a throw", async () => {
    const run = await repo.client.create({ archive: "partial", paths: [join(repo.root, "small"), join(repo.root, "gone")] });
    expect(run.outcome).toBe("warning");
    // borg 1.4 with BORG_EXIT_CODES=modern says which warning: 107 is BackupFileNotFoundError
    expect(run.exitCode).toBe((await repo.client.version()).minor >= 4 ? 107 : 1);
    expect(run.warnings.some(warning => warning.message.includes("gone"))).toBe(true);
    expect(run.value.archive.name).toBe("partial");
  });

  it("a missing borg binary is not_installed with the install hint", async () => {
    const client = createBorgClient(repo.repository, { binary: "borg-that-does-not-exist" });
    const error = await rejection(client.list());
    expect(error.kind).toBe("not_installed");
    expect(error.message).toContain("apt-get install borgbackup");
  });

  it("detects the installed version and its features", async () => {
    const version = await repo.client.version();
    expect(version.major).toBe(1);
    expect(version.minor).toBeGreaterThanOrEqual(2);
    const features = await repo.client.features();
    expect(features.quarterlyKeepRules).toBe(version.minor >= 4);
  });
});

describe("a create in progress: the lock, the argv, SIGINT and the checkpoint", () => {
  let repo: TestRepository;
  let work: { path: string; remove: () => Promise<void> };

  beforeAll(async () => {
    repo = await makeTestRepository();
    work = await tempDir("slow");
  });

  afterAll(async () => {
    await repo?.remove();
    await work?.remove();
  });

  it("another borg gets lock_timeout, no borg argv holds the passphrase, SIGINT leaves a checkpoint the rerun reuses", async () => {
    const data = join(work.path, "data");
    const dataSize = await writeRandomFiles(data, 32, MiB);
    const controller = new AbortController();
    let progressed: () => void = () => undefined;
    const underway = new Promise<void>(resolve => (progressed = resolve));
    let borgPid = 0;
    let doneAtAbort = 0;
    // lzma level 9 on random data runs at a few MB/s: slow enough to act while it runs
    const create = repo.client.create(
      { archive: "held", paths: [data], compression: "lzma,9" },
      {
        signal: controller.signal,
        onSpawn: pid => (borgPid = pid),
        onEvent: event => {
          if (event.type !== "archive_progress" || event.finished) return;
          doneAtAbort = event.originalSize ?? 0;
          if (doneAtAbort >= 4 * MiB) progressed();
        },
      },
    );
    await underway;

    // the repository lock is held by the running create
    const locked = await rejection(repo.client.list());
    expect(locked.kind).toBe("lock_timeout");
    expect(locked.message).toContain("break-lock");

    // no borg process carries the passphrase in argv; with the fd transport not in its environment either
    const processes = await borgProcesses();
    expect(processes.map(process => process.pid)).toContain(String(borgPid));
    for (const process of processes) expect(process.argv).not.toContain(TEST_PASSPHRASE);
    const ours = processes.find(process => process.pid === String(borgPid))!;
    expect(ours.environ).toContain("BORG_PASSPHRASE_FD=3");
    expect(ours.environ).not.toContain(TEST_PASSPHRASE);

    controller.abort();
    const interrupted = await rejection(create);
    expect(interrupted.kind).toBe("interrupted");
    expect(interrupted.message).toContain("checkpoint");
    expect(doneAtAbort).toBeLessThan(dataSize);

    const withCheckpoints = (await repo.client.list({ considerCheckpoints: true })).value.archives;
    expect(withCheckpoints.map(archive => archive.name)).toEqual(["held.checkpoint"]);
    expect((await repo.client.list()).value.archives).toEqual([]);

    const rerun = await repo.client.create({ archive: "rerun", paths: [data], compression: "lz4" });
    expect(rerun.value.archive.stats.originalSize).toBeGreaterThanOrEqual(dataSize);
    // what the checkpoint already uploaded is not stored again
    expect(rerun.value.archive.stats.deduplicatedSize).toBeLessThan(dataSize - 3 * MiB);
  });
});
