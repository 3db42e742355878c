/**
 * The relay between a dump's tool and borg, with a stand-in for borg that reads the FIFO:
 * a tool whose child still writes after it exited 0 is stored whole; a FIFO that borg closes
 * early is a failed dump that settles (never a hang, never a success); sqlite3's dump of a
 * damaged database (exit 0, a script ending in ROLLBACK) is a failed dump.
 */
import { execFileSync } from "node:child_process";
import { closeSync, constants, openSync, readSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { type NamedDump } from "../../../../apps/drone/core/dumps/config.mjs";
import { DumpsFailed, prepareRunFolder, readyDumps, streamDumps } from "../../../../apps/drone/core/dumps/stream.mjs";
import { scriptEndProblem } from "../../../../apps/drone/core/dumps/script-end.mjs";

const quiet = () => undefined;
const LOG = { debug: quiet, info: quiet };
const ENV = { PATH: process.env.PATH ?? "/usr/bin:/bin" };
const NO_SOURCES = { sources: [], excludes: [], excludeIfPresent: [], oneFileSystem: false };

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

/** Open a FIFO for reading without blocking, as borg does when it reaches it. */
const openFifo = (path: string) => openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);

/** Read a FIFO to its end, like borg with --read-special; throws when `stop` aborts (borg terminated). */
async function readToEnd(path: string, stop: AbortSignal): Promise<string> {
  const fd = openFifo(path);
  const chunks: Buffer[] = [];
  const buffer = Buffer.alloc(65_536);
  let writerSeen = false;
  try {
    for (;;) {
      if (stop.aborted) throw new Error("borg was terminated");
      let read: number;
      try {
        read = readSync(fd, buffer);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EAGAIN") throw error;
        await sleep(10);
        continue;
      }
      // a FIFO reads as ended before its writer has opened it
      if (read === 0 && writerSeen) break;
      if (read === 0) {
        await sleep(10);
        continue;
      }
      writerSeen = true;
      chunks.push(Buffer.from(buffer.subarray(0, read)));
    }
  } finally {
    closeSync(fd);
  }
  return Buffer.concat(chunks).toString();
}

describe("the relay of a dump into borg's FIFO", () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  /** Run one dump through streamDumps with `borg` standing in for borg create. */
  async function relay(dump: NamedDump, borg: (fifo: string, terminate: AbortSignal) => Promise<string>) {
    const base = await mkdtemp(join(tmpdir(), "bc-relay-"));
    dirs.push(base);
    const dir = join(base, "run");
    await prepareRunFolder(dir, [dump], NO_SOURCES);
    const { ready, failed } = await readyDumps([dump]);
    expect(failed).toEqual([]);
    const ext = ready[0]?.invocation.ext ?? "?";
    const fifo = join(dir, "backup-drone-dumps", `${dump.name}.${ext}`);
    return streamDumps({ dir, dumps: ready, env: ENV, signal: new AbortController().signal, log: LOG }, terminate => borg(fifo, terminate), value => value);
  }

  const command = (script: string, timeout = 600): NamedDump => ({ name: "data", kind: "command", command: script, extension: "out", timeout_seconds: timeout, policy: "break" });

  it("a tool that exits 0 while its child still writes: borg reads all of it, and the dump succeeds", async () => {
    const { value, results } = await relay(command("(sleep 1; echo LATE) & echo EARLY"), readToEnd);
    expect(value).toBe("EARLY\nLATE\n");
    expect(results).toMatchObject([{ name: "data", outcome: "success", bytes: 11 }]);
  });

  it("the same past the dump's timeout: the dump fails (timed out), borg is stopped, nothing stored as whole", async () => {
    const outcome = await relay(command("(sleep 60; echo LATE) & echo EARLY", 1), readToEnd).catch((error: unknown) => error);
    expect(outcome).toBeInstanceOf(DumpsFailed);
    const failure = outcome as DumpsFailed;
    expect(failure.archive).toBeUndefined();
    expect(failure.failed.map(dump => dump.error)).toEqual([expect.stringMatching(/^dump data \(command\) took longer than its timeout_seconds \(1 s\) and was stopped/)]);
  });

  it("borg closes the FIFO early and goes on: the relay settles, the dump failed, and borg's archive is named for deletion", async () => {
    // the tool writes past the pipe's buffer: it would block for its whole timeout if it were not stopped
    const outcome = await relay(command("printf x; sleep 1; head -c 10000000 /dev/zero; sleep 600"), async fifo => {
      const fd = openFifo(fifo);
      await sleep(300);
      closeSync(fd);
      await sleep(2000);
      return "borg went on";
    }).catch((error: unknown) => error);
    expect(outcome).toBeInstanceOf(DumpsFailed);
    const failure = outcome as DumpsFailed;
    // the archive borg made without the whole dump: the caller deletes it
    expect(failure.archive).toBe("borg went on");
    expect(failure.failed.map(dump => [dump.name, dump.outcome, dump.error])).toEqual([
      ["data", "failed", expect.stringMatching(/^dump data \(command\) was cut short: borg closed its FIFO before the dump's end \(the tool had written \d+ B\)$/)],
    ]);
  });

  it("borg closes the FIFO early and the tool exits 0 soon after: a failed dump, never a success", async () => {
    const outcome = await relay(command("printf x; sleep 1; printf y"), async fifo => {
      const fd = openFifo(fifo);
      await sleep(300);
      closeSync(fd);
      await sleep(2500);
      return "borg went on";
    }).catch((error: unknown) => error);
    expect(outcome).toBeInstanceOf(DumpsFailed);
    expect((outcome as DumpsFailed).results).toMatchObject([{ name: "data", outcome: "failed", error: expect.stringMatching(/borg closed its FIFO/) as string }]);
  });

  it("sqlite3 .dump of a database with a zeroed page exits 0 with a script ending in ROLLBACK: the dump fails and borg is stopped", async () => {
    const base = await mkdtemp(join(tmpdir(), "bc-sqlite-"));
    dirs.push(base);
    const db = join(base, "damaged.db");
    execFileSync("sqlite3", [db], {
      input: "CREATE TABLE a (x);\nWITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 3000) INSERT INTO a SELECT hex(randomblob(100)) FROM g;\nCREATE TABLE b (y);\nINSERT INTO b VALUES (1);\n",
    });
    // a page in the middle of table a's b-tree (4096-byte pages)
    execFileSync("dd", ["if=/dev/zero", `of=${db}`, "bs=4096", "seek=20", "count=1", "conv=notrunc"], { stdio: "ignore" });
    // what sqlite3 itself does with it: exit 0, nothing on stderr, ROLLBACK at the end
    const script = execFileSync("sqlite3", ["-bail", db, ".dump"], { maxBuffer: 64 * 1024 * 1024 }).toString();
    expect(scriptEndProblem(script.slice(-200), "COMMIT;")).toBe('it ends with "ROLLBACK; -- due to errors" instead of COMMIT;');

    const outcome = await relay({ name: "ha", kind: "sqlite", path: db, timeout_seconds: 60, policy: "break" }, readToEnd).catch((error: unknown) => error);
    expect(outcome).toBeInstanceOf(DumpsFailed);
    const failure = outcome as DumpsFailed;
    expect(failure.archive).toBeUndefined();
    expect(failure.failed.map(dump => dump.error)).toEqual([
      `dump ha (sqlite) is not whole although sqlite3 exited 0: it ends with "ROLLBACK; -- due to errors" instead of COMMIT;; is the database damaged? \`sqlite3 ${db} "PRAGMA integrity_check"\` tells`,
    ]);
  });

  it("a whole sqlite3 .dump (COMMIT; at its end) succeeds", async () => {
    const base = await mkdtemp(join(tmpdir(), "bc-sqlite-"));
    dirs.push(base);
    const db = join(base, "good.db");
    execFileSync("sqlite3", [db, "CREATE TABLE a (x); INSERT INTO a VALUES (1);"]);
    const { value, results } = await relay({ name: "ha", kind: "sqlite", path: db, timeout_seconds: 60, policy: "break" }, readToEnd);
    expect(value.endsWith("COMMIT;\n")).toBe(true);
    expect(results).toMatchObject([{ name: "ha", outcome: "success" }]);
  });
});

describe("scriptEndProblem", () => {
  it("is nothing for a last line COMMIT; and says what the last line is otherwise", () => {
    expect(scriptEndProblem("INSERT INTO a VALUES(1);\nCOMMIT;\n", "COMMIT;")).toBeUndefined();
    expect(scriptEndProblem("COMMIT;\r\n\n", "COMMIT;")).toBeUndefined();
    expect(scriptEndProblem("", "COMMIT;")).toBe("it is empty (a whole one ends with COMMIT;)");
    expect(scriptEndProblem("INSERT INTO a VALUES(1);\n", "COMMIT;")).toBe('it ends with "INSERT INTO a VALUES(1);" instead of COMMIT;');
  });
});
