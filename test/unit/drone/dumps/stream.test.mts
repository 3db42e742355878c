import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { Secret } from "../../../../libs/borg/index.mjs";
import { defaultConfigValues, parseDroneConfig } from "../../../../apps/drone/config.mjs";
import { type NamedDump } from "../../../../apps/drone/core/dumps/config.mjs";
import { dumpManifestSchema } from "../../../../apps/drone/core/dumps/manifest.mjs";
import { excludeFileText, findSpecialFiles } from "../../../../apps/drone/core/dumps/special-files.mjs";
import { dumpError, firstLine, manifestOf, readyDumps, runFolderOf } from "../../../../apps/drone/core/dumps/stream.mjs";
import { removeLeftoverRunFolder } from "../../../../apps/drone/core/recovery.mjs";
import { acquireRunLock } from "../../../../apps/drone/core/run-lock.mjs";

const common = { timeout_seconds: 60, policy: "break" as const };
const quiet = () => undefined;
const LOG = { debug: quiet, info: quiet, warn: quiet, error: quiet };

describe("a dump's error text", () => {
  const dump: NamedDump = { name: "paperless", kind: "postgresql", database: "paperless", options: [], restore_options: [], ...common };

  it("names the dump and its tool's first stderr line, with the password redacted", () => {
    const password = new Secret("hunter2");
    const stderr = '\n  pg_dump: error: connection to server failed: password "hunter2" was refused\nsecond line\n';
    expect(dumpError(dump, { end: { kind: "exited", code: 1, signal: null }, stderr }, password)).toBe(
      'dump paperless (postgresql) exited with 1: pg_dump: error: connection to server failed: password "[redacted]" was refused',
    );
  });

  it("says a timeout and whether its processes were stopped, a signal, a tool that could not start; nothing for exit 0", () => {
    expect(dumpError(dump, { end: { kind: "timed_out" }, stopped: { groupGone: true }, stderr: "" })).toBe(
      "dump paperless (postgresql) took longer than its timeout_seconds (60 s) and was stopped; its processes were stopped",
    );
    expect(dumpError(dump, { end: { kind: "timed_out" }, stopped: { groupGone: false }, stderr: "" })).toMatch(/some of its processes could not be stopped$/);
    expect(dumpError(dump, { end: { kind: "exited", code: null, signal: "SIGKILL" }, stderr: "" })).toBe("dump paperless (postgresql) was killed by SIGKILL");
    expect(dumpError(dump, { end: { kind: "not_started", code: "ENOENT" }, stderr: "" })).toBe("dump paperless (postgresql) could not start (ENOENT): is its tool installed?");
    expect(dumpError(dump, { end: { kind: "exited", code: 0, signal: null }, stderr: "a notice" })).toBeUndefined();
  });

  it("cuts a long line", () => {
    expect(firstLine(`${"x".repeat(1000)}\n`)).toHaveLength(300);
  });
});

describe("the manifest", () => {
  it("says what restore needs: kind, format, database or path, and the data file", () => {
    const at = new Date("2026-11-30T03:00:00.000Z");
    const pg = manifestOf({ name: "paperless", kind: "postgresql", database: "paperless", options: [], restore_options: [], ...common }, at);
    expect(pg).toEqual({
      version: 1,
      name: "paperless",
      kind: "postgresql",
      format: "pg_custom",
      database: "paperless",
      selects_database: false,
      file: "paperless.pgdump",
      created_at: "2026-11-30T03:00:00.000Z",
    });
    const ha = manifestOf({ name: "ha", kind: "sqlite", path: "/config/home-assistant_v2.db", ...common }, at);
    expect(ha).toMatchObject({ kind: "sqlite", format: "sql", path: "/config/home-assistant_v2.db", file: "ha.sql" });
    expect(dumpManifestSchema.parse(ha)).toEqual(ha);
  });
});

describe("special files and the run folder", () => {
  const dirs: string[] = [];
  const temp = async () => {
    const dir = await mkdtemp(join(tmpdir(), "bc-dumps-"));
    dirs.push(dir);
    return dir;
  };
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  it("finds FIFOs and links to devices, not in excluded folders nor in folders with a marker; regular files and plain links are left", async () => {
    const root = await temp();
    await mkdir(join(root, "a", "deep"), { recursive: true });
    await mkdir(join(root, "cache"));
    await mkdir(join(root, "marked"));
    await writeFile(join(root, "a", "file.txt"), "x");
    await writeFile(join(root, "marked", ".nobackup"), "");
    // a marker that is a link to nothing marks nothing: borg walks that folder and would open its FIFO
    await mkdir(join(root, "dangling"));
    await symlink(join(root, "nowhere"), join(root, "dangling", ".nobackup"));
    execFileSync("mkfifo", [join(root, "a", "deep", "pipe"), join(root, "cache", "pipe"), join(root, "marked", "pipe"), join(root, "dangling", "pipe")]);
    await symlink("/dev/null", join(root, "a", "devnull"));
    await symlink(join(root, "a", "file.txt"), join(root, "a", "plain-link"));
    const found = await findSpecialFiles({ sources: [root], excludes: [`${root.slice(1)}/cache`], excludeIfPresent: [".nobackup"], oneFileSystem: false });
    expect(found.paths.sort()).toEqual([join(root, "a", "deep", "pipe"), join(root, "a", "devnull"), join(root, "dangling", "pipe")]);
  });

  it("writes one full-path pattern a line; a name borg's line reading would change becomes a regular expression of the whole path", () => {
    const lines = excludeFileText(["/srv/a pipe", "/srv/bad\nname", "/srv/trailing ", "/srv/nbsp\u00a0", "/srv/x.y\r", "/srv/nel\u0085", "/srv/fs\u001c"]).split("\n");
    expect(lines).toEqual([
      "pf:/srv/a pipe",
      "re:^srv\\/bad\\x0aname\\Z",
      "re:^srv\\/trailing\\x20\\Z",
      "re:^srv\\/nbsp\\xa0\\Z",
      "re:^srv\\/x\\.y\\x0d\\Z",
      "re:^srv\\/nel\\x85\\Z",
      "re:^srv\\/fs\\x1c\\Z",
      "",
    ]);
    // what borg's clean_lines does to each line leaves it as written
    expect(lines.every(line => line === line.trim())).toBe(true);
  });

  it("checks what each dump needs before borg starts: a readable password file, an existing SQLite file", async () => {
    const root = await temp();
    const { ready, failed } = await readyDumps([
      { name: "pg", kind: "postgresql", database: "x", password_file: join(root, "missing.pass"), options: [], restore_options: [], ...common },
      { name: "ha", kind: "sqlite", path: join(root, "missing.db"), ...common },
      { name: "cmd", kind: "command", command: "echo hi", extension: "out", ...common },
    ]);
    expect(ready.map(entry => entry.dump.name)).toEqual(["cmd"]);
    expect(failed.map(entry => [entry.name, entry.error])).toEqual([
      ["pg", expect.stringMatching(/^dump pg: its password_file .*missing\.pass cannot be read \(.*\); fix the path or the file's permissions$/)],
      ["ha", `dump ha: no SQLite database file at ${join(root, "missing.db")}; check its path`],
    ]);
  });

  it("a leftover run folder (FIFOs, manifests) is removed at start-up when no run holds the drone's run lock", async () => {
    const stateDir = await temp();
    const config = parseDroneConfig({ ...defaultConfigValues(), REPOSITORY: "/srv/borg", ENCRYPTION: "none", STATE_DIR: stateDir, DRONE_ID: "nas" });
    const dir = runFolderOf(stateDir, "nas");
    await mkdir(join(dir, "backup-drone-dumps"), { recursive: true });
    execFileSync("mkfifo", [join(dir, "backup-drone-dumps", "ha.sql")]);
    await writeFile(join(dir, "backup-drone-dumps", "ha.json"), "{}");
    await removeLeftoverRunFolder(config, LOG);
    expect(existsSync(dir)).toBe(false);
    // and the lock is free again for the run that follows
    const lock = await acquireRunLock(join(stateDir, "nas.lock"));
    expect("release" in lock).toBe(true);
    if ("release" in lock) await lock.release();
  });
});
