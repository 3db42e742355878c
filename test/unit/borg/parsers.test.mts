import { describe, expect, it } from "vitest";

import {
  type BorgCommand,
  type BorgEvent,
  BorgError,
  type BorgRepository,
  checkCommand,
  checkpointWatch,
  classifyExitCode,
  createCommand,
  EXIT_CODE_POLICY,
  infoCommand,
  listCommand,
  listItemsCommand,
  type LogMessage,
  parseLogLine,
  parseVersion,
  pruneCommand,
  Secret,
  settleRun,
  assertSupported,
  featuresOf,
  MODERN_EXIT_KINDS,
} from "../../../libs/borg/index.mjs";
import { type BorgFixture, fixture, FIXTURE_VERSIONS, loadFixtures } from "../../helpers/fixtures.mjs";

const repo: BorgRepository = { location: "/tmp/fixcap/repo" };

function events(stderr: string): BorgEvent[] {
  return stderr
    .split("\n")
    .filter(line => line.trim().length > 0)
    .flatMap(line => parseLogLine(line));
}

/** Feed a captured run through the same settle step the runner uses. */
function settle<T>(command: BorgCommand<T>, captured: BorgFixture) {
  const parsed = events(captured.stderr);
  return settleRun(command, {
    exitCode: captured.exitCode,
    stdout: captured.stdout,
    logs: parsed.filter((event): event is LogMessage => event.type === "log_message"),
    textTail: parsed.flatMap(event => (event.type === "text" ? [event.line] : [])),
    durationMs: 0,
  });
}

function settleError<T>(command: BorgCommand<T>, captured: BorgFixture): BorgError {
  try {
    settle(command, captured);
  } catch (error) {
    if (error instanceof BorgError) return error;
    throw error;
  }
  throw new Error(`${captured.name} settled without an error`);
}

describe("stderr log lines from every captured run", () => {
  const all = loadFixtures();

  it("has fixtures to test against", () => {
    expect(all.length).toBeGreaterThan(30);
  });

  it("every JSON line borg wrote matches a schema (nothing falls back to text), in 1.2.4's and 1.4.5's output", () => {
    for (const captured of FIXTURE_VERSIONS.flatMap(version => loadFixtures(version))) {
      for (const line of captured.stderr.split("\n")) {
        const start = line.indexOf('{"');
        if (start < 0) continue;
        const parsed = parseLogLine(line);
        expect(parsed.at(-1)?.type, `${captured.name}: ${line}`).not.toBe("text");
      }
    }
  });

  it("archive progress: counters while running, a bare final line", () => {
    const progress = events(fixture("create_first").stderr).filter(event => event.type === "archive_progress");
    expect(progress.length).toBeGreaterThan(3);
    const running = progress.filter(event => !event.finished);
    for (const event of running) {
      expect(event).toMatchObject({ originalSize: expect.any(Number), nfiles: expect.any(Number), path: expect.any(String) });
      expect(event.time).toBeInstanceOf(Date);
    }
    expect(progress.at(-1)).toMatchObject({ finished: true, originalSize: undefined });
  });

  it("progress_percent, progress_message and file_status", () => {
    const compact = events(fixture("compact").stderr).filter(event => event.type === "progress_percent");
    expect(compact.some(event => event.msgid === "repository.compact_segments" && (event.total ?? 0) > 0)).toBe(true);
    const cache = events(fixture("create_first").stderr).filter(event => event.type === "progress_message");
    expect(cache.map(event => event.msgid)).toContain("cache.begin_transaction");
    const files = events(fixture("create_list_filter").stderr).filter(event => event.type === "file_status");
    expect(new Set(files.map(event => event.status))).toEqual(new Set(["A", "M", "E"]));
  });

  it("a JSON record glued to a passphrase prompt is still found", () => {
    const parsed = events(fixture("err_no_passphrase").stderr);
    expect(parsed.some(event => event.type === "log_message" && event.msgid === "NoPassphraseFailure")).toBe(true);
    expect(parsed.some(event => event.type === "text" && event.line.includes("Enter passphrase"))).toBe(true);
  });

  it("question prompts become question events", () => {
    const parsed = events(fixture("err_relocated_repo").stderr);
    expect(parsed).toContainEqual(
      expect.objectContaining({ type: "question", kind: "question_prompt", msgid: "BORG_RELOCATED_REPO_ACCESS_IS_OK" }),
    );
  });

  it("unparseable lines come back as text", () => {
    expect(parseLogLine("Warning: Password input may be echoed.")).toEqual([
      { type: "text", line: "Warning: Password input may be echoed." },
    ]);
    expect(parseLogLine('{"type": "mystery"}')).toEqual([{ type: "text", line: '{"type": "mystery"}' }]);
  });
});

describe("stdout JSON, normalised", () => {
  it("create", () => {
    const run = settle(createCommand(repo, { archive: "x", paths: ["src"] }), fixture("create_first"));
    expect(run.outcome).toBe("success");
    const { archive, totals, repository } = run.value;
    expect(archive.name).toMatch(/^alpha-/);
    expect(archive.start).toBeInstanceOf(Date);
    expect(Number.isNaN(archive.start.getTime())).toBe(false);
    expect(archive.stats.originalSize).toBeGreaterThan(archive.stats.deduplicatedSize / 2);
    expect(totals.deduplicatedSize).toBeGreaterThan(0);
    expect(repository.encryption).toBe("repokey");
    expect(repository.lastModified).toBeInstanceOf(Date);
  });

  it("list, info of the repository and of the last archive, list items", () => {
    const list = settle(listCommand(repo), fixture("list_json")).value;
    expect(list.archives.length).toBeGreaterThanOrEqual(5);
    expect(list.archives[0]?.start).toBeInstanceOf(Date);
    const glob = settle(listCommand(repo, { prefix: "alpha-" }), fixture("list_json_glob")).value;
    expect(glob.archives.every(archive => archive.name.startsWith("alpha-"))).toBe(true);

    const info = settle(infoCommand(repo), fixture("info_json_repo")).value;
    expect(info.archives).toEqual([]);
    expect(info.totals.totalSize).toBeGreaterThan(0);
    const last = settle(infoCommand(repo, { last: 1 }), fixture("info_json_last1")).value;
    expect(last.archives).toHaveLength(1);
    expect(last.archives[0]?.durationSeconds).toBeGreaterThan(0);

    const items = settle(listItemsCommand(repo, "a"), fixture("list_json_lines_archive")).value;
    expect(items).toHaveLength(20);
    expect(items.every(item => typeof item.path === "string")).toBe(true);
  });

  it("prune --list: kept with rules, pruned, and the dry run's would-prune", () => {
    const dry = settle(pruneCommand(repo, { prefix: "alpha-", keep: { last: 1 }, dryRun: true }), fixture("prune_dry_run"));
    expect(dry.value.dryRun).toBe(true);
    expect(dry.value.pruned.length).toBeGreaterThan(0);
    expect(dry.value.kept[0]).toMatchObject({ rule: expect.stringMatching(/^secondly #1/) });
    const real = settle(pruneCommand(repo, { prefix: "alpha-", keep: { last: 1 } }), fixture("prune"));
    expect(real.value.pruned).toEqual(dry.value.pruned);
    expect(real.value.pruned.every(name => name.startsWith("alpha-"))).toBe(true);
  });

  it("check: a clean run is healthy", () => {
    expect(settle(checkCommand(repo), fixture("check")).value).toEqual({ healthy: true, problems: [] });
  });
});

describe("exit codes and msgids become results or typed errors", () => {
  const cases: [string, string][] = [
    ["err_wrong_passphrase", "passphrase_wrong"],
    ["err_no_passphrase", "passphrase_missing"],
    ["err_repo_missing", "repository_missing"],
    ["err_not_a_repo", "repository_invalid"],
    ["err_archive_exists", "archive_exists"],
    ["err_info_archive_missing_logjson", "archive_missing"],
    ["err_lock_timeout", "lock_timeout"],
    // ssh's own reason, relayed by borg, names the kind
    ["err_ssh_unreachable", "ssh_connection_refused"],
    ["err_relocated_repo", "repository_access_aborted"],
    ["err_unknown_unencrypted", "repository_access_aborted"],
    ["create_interrupted_sigterm", "interrupted"],
  ];
  for (const [name, kind] of cases) {
    it(`${name} → ${kind}`, () => {
      const error = settleError(listCommand(repo), fixture(name));
      expect(error.kind).toBe(kind);
      expect(error.message.length).toBeGreaterThan(20);
    });
  }

  it("a checkpoint is seen only where borg committed one after archive progress (SIGINT), not after SIGTERM", () => {
    const committed = (name: string) => {
      const watch = checkpointWatch();
      for (const event of events(fixture(name).stderr)) watch.see(event);
      return watch.committed();
    };
    expect(committed("create_interrupted_sigint")).toBe(true);
    expect(committed("create_interrupted_sigint_json")).toBe(true);
    expect(committed("create_interrupted_sigterm")).toBe(false);
  });

  it("a lock timeout names break-lock as it must be pasted, with the drone's BORG_RSH for a remote repository", () => {
    const remote = { location: "ssh://borg@nas/./repo", rsh: "ssh -i /root/.ssh/borg -o BatchMode=yes" };
    const error = settleError(listCommand(remote), fixture("err_lock_timeout"));
    expect(error.kind).toBe("lock_timeout");
    expect(error.message).toContain("run `BORG_RSH='ssh -i /root/.ssh/borg -o BatchMode=yes' borg break-lock ssh://borg@nas/./repo`");
    expect(settleError(listCommand(repo), fixture("err_lock_timeout")).message).toContain(`run \`borg break-lock ${repo.location}\``);
  });

  it("an error without a known msgid is unknown and carries what borg said", () => {
    const error = settleError(createCommand(repo, { archive: "x", paths: ["a"] }), fixture("create_interrupted_sigint"));
    expect(error.kind).toBe("unknown");
    expect(error.message).toContain("Got Ctrl-C / SIGINT.");
  });

  it("the same SIGINT exit after we stopped borg is `interrupted`", () => {
    const captured = fixture("create_interrupted_sigint");
    const parsed = events(captured.stderr);
    expect(() =>
      settleRun(createCommand(repo, { archive: "x", paths: ["a"] }), {
        exitCode: captured.exitCode,
        stdout: "",
        logs: parsed.filter((event): event is LogMessage => event.type === "log_message"),
        textTail: [],
        stopReason: "aborted",
        durationMs: 0,
      }),
    ).toThrow(expect.objectContaining({ kind: "interrupted" }));
  });

  it("a warning exit is a result that carries its warning lines", () => {
    const run = settle(createCommand(repo, { archive: "x", paths: ["a"] }), fixture("create_missing_source"));
    expect(run.outcome).toBe("warning");
    expect(run.warnings.map(warning => warning.message).join("\n")).toContain("does-not-exist");
  });

  it("a full disk is disk_full with a one-line message that says where, from borg's real output", () => {
    const onRepository = { location: "/tmp/fixcap3/small/repo" };
    const crashed = settleError(createCommand(onRepository, { archive: "x", paths: ["big8.bin"] }), fixture("create_disk_full"));
    expect(crashed.kind).toBe("disk_full");
    expect(crashed.message).toMatch(/^No space left on device on the repository's filesystem: \/tmp\/fixcap3\/small\/repo\. Free space there/);
    expect(crashed.context.traceback).toContain("OSError: [Errno 28] No space left on device");

    const refused = settleError(createCommand(onRepository, { archive: "x", paths: ["big29.bin"] }), fixture("create_insufficient_free_space"));
    expect(refused.kind).toBe("disk_full");
    expect(refused.message).toContain("repository's filesystem: /tmp/fixcap3/small/repo (required: 169.23 kB, available: 159.74 kB)");

    const cache = settleError(createCommand({ location: "/tmp/fixcap3/repo2" }, { archive: "x", paths: ["many"] }), fixture("create_cache_disk_full"));
    expect(cache.kind).toBe("disk_full");
    expect(cache.context.space).toEqual({ place: "cache", path: "/tmp/fixcap3/smallcache/base/.cache/borg" });
    expect(cache.message).toMatch(/^No space left on device for borg's cache \(\/tmp\/fixcap3\/smallcache\/base\/\.cache\/borg\)\. .*BORG_BASE_DIR/);
    for (const error of [crashed, refused, cache]) {
      expect(error.message).not.toMatch(/\n|Traceback|File "/);
      // Home Assistant keeps 255 characters of a state: the whole message fits
      expect(error.message.length).toBeLessThanOrEqual(255);
    }
  });

  it("an invalid pattern is invalid_pattern naming the pattern, whether borg crashed before logging (exit 1) or after (exit 2)", () => {
    const beforeLogging = fixture("create_invalid_exclude_regex");
    expect(beforeLogging.exitCode).toBe(1);
    const exclude = settleError(createCommand(repo, { archive: "x", paths: ["src"], excludes: ["*/.cache", "re:("] }), beforeLogging);
    expect(exclude.kind).toBe("invalid_pattern");
    expect(exclude.message).toBe(
      "borg create rejected the pattern re:( as invalid: missing ), unterminated subpattern at position 0. Fix the exclude pattern: re: is a Python regular expression, sh: and fm: are shell patterns, pp: and pf: are paths.",
    );
    expect(exclude.context.traceback?.split("\n")[0]).toBe("Traceback (most recent call last):");

    const find = settleError(listItemsCommand(repo, "a", ["re:("]), fixture("list_invalid_pattern_regex"));
    expect(find.kind).toBe("invalid_pattern");
    expect(find.message).toContain("rejected the pattern re:( as invalid: missing ), unterminated subpattern");

    const style = settleError(listItemsCommand(repo, "a", ["xx:foo"]), fixture("list_invalid_pattern_style"));
    expect(style.kind).toBe("invalid_pattern");
    expect(style.message).toContain("rejected the pattern xx:foo as invalid: Unknown pattern style: xx");
    for (const error of [exclude, find, style]) {
      expect(error.message).not.toMatch(/\n|Traceback|File "/);
      expect(error.message.length).toBeLessThanOrEqual(255);
    }
  });

  it("any other Python traceback is borg_crashed: the exception in one line, the traceback kept apart", () => {
    const error = settleError(createCommand(repo, { archive: "x", paths: ["src"] }), fixture("create_crash_damaged_cache_config"));
    expect(error.kind).toBe("borg_crashed");
    expect(error.message).toMatch(/^borg create crashed \(exit code 2\): ValueError: invalid literal for int\(\) with base 10: 'x' \(in borg\/[\w/]+\.py\)\. /);
    expect(error.message).not.toMatch(/\n|Traceback|File "|Local Exception/);
    expect(error.message.length).toBeLessThanOrEqual(255);
    expect(error.context.traceback).toMatch(/^Traceback \(most recent call last\):\n/);
    expect(error.context.details).toHaveLength(1);
  });

  it("a stale lock of a dead process that borg removed is a note, and the run a success", () => {
    const run = settle(createCommand(repo, { archive: "x", paths: ["src"] }), fixture("create_stale_lock_removed"));
    expect(run.outcome).toBe("success");
    expect(run.warnings).toEqual([]);
    expect(run.notes).toEqual([
      "borg removed a stale lock of its process 12382 on this host, which no longer runs (an earlier run was killed or crashed)",
      "borg removed a stale lock of its process 12367 on this host, which no longer runs (an earlier run was killed or crashed)",
    ]);
    // the same lines at a warning exit (borg 1.4 may count them): still a success when nothing else warned
    const asWarning = settle(createCommand(repo, { archive: "x", paths: ["src"] }), { ...fixture("create_stale_lock_removed"), exitCode: 1 });
    expect(asWarning.outcome).toBe("success");
    // a real warning next to them keeps the warning
    const missing = fixture("create_missing_source");
    const both = settle(createCommand(repo, { archive: "x", paths: ["a"] }), {
      ...missing,
      stderr: `${fixture("create_stale_lock_removed").stderr.split("\n").filter(line => line.includes("borg.locking")).join("\n")}\n${missing.stderr}`,
    });
    expect(both.outcome).toBe("warning");
    expect(both.notes).toHaveLength(2);
    expect(both.warnings.map(warning => warning.message).join("\n")).toContain("does-not-exist");
    expect(both.warnings.map(warning => warning.message).join("\n")).not.toContain("stale");
  });

  it("one table: 1.2's 0/1/2, 1.4's modern codes, signals", () => {
    expect([0, 1, 2, 73, 100, 107, 127, 130, 143].map(classifyExitCode)).toEqual([
      "success",
      "warning",
      "error",
      "error",
      "warning",
      "warning",
      "warning",
      "signal",
      "signal",
    ]);
    expect(EXIT_CODE_POLICY.length).toBeGreaterThan(0);
  });
});

describe("borg 1.4.5's real output (BORG_EXIT_CODES=modern), beside 1.2.4's", () => {
  const v14 = (name: string) => fixture(name, "1.4.5");

  it("has its own captured cases", () => {
    expect(loadFixtures("1.4.5").length).toBeGreaterThan(30);
    expect(parseVersion(v14("version").stdout)).toMatchObject({ major: 1, minor: 4, patch: 5, text: "1.4.5" });
    expect(featuresOf(parseVersion(v14("version").stdout))).toEqual({ modernExitCodes: true, quarterlyKeepRules: true });
  });

  it("create, list, info and list items parse as 1.2.4's do (1.4's info adds an archive's cwd, which is ignored)", () => {
    const created = settle(createCommand(repo, { archive: "x", paths: ["src"] }), v14("create_first")).value;
    expect(created.archive.name).toBe("alpha-2026-11-20T02:00:00");
    expect(created.archive.stats.nfiles).toBeGreaterThan(40);
    expect(created.repository.encryption).toBe("repokey");
    const list = settle(listCommand(repo), v14("list_json")).value;
    expect(list.archives.map(archive => archive.name)).toContain("alpha-2026-11-21T02:00:00");
    expect(settle(listCommand(repo, { prefix: "alpha-" }), v14("list_json_glob")).value.archives.every(archive => archive.name.startsWith("alpha-"))).toBe(true);
    expect(settle(infoCommand(repo), v14("info_json_repo")).value.totals.totalSize).toBeGreaterThan(0);
    const last = settle(infoCommand(repo, { last: 1 }), v14("info_json_last1")).value;
    expect(last.archives).toHaveLength(1);
    expect(JSON.parse(v14("info_json_last1").stdout)).toMatchObject({ archives: [{ cwd: "/tmp/fixcap14" }] });
    const items = settle(listItemsCommand(repo, "a"), v14("list_json_lines_archive")).value;
    expect(items.length).toBeGreaterThan(5);
    expect(items.every(item => item.path.startsWith("src/dir0"))).toBe(true);
  });

  it("prune --list names the quarterly rules: quarterly_13weekly and quarterly_3monthly", () => {
    const borg14 = featuresOf(parseVersion(v14("version").stdout));
    const weekly = settle(pruneCommand(repo, { prefix: "gamma-", keep: { quarterly13Weekly: 2 }, dryRun: true, features: borg14 }), v14("prune_13weekly_dry_run")).value;
    expect(weekly.kept.map(kept => kept.rule)).toEqual(["quarterly_13weekly #1", "quarterly_13weekly #2"]);
    expect(weekly.pruned).toHaveLength(5);
    const monthly = settle(pruneCommand(repo, { prefix: "gamma-", keep: { quarterly3Monthly: 2 }, dryRun: true, features: borg14 }), v14("prune_3monthly_dry_run")).value;
    expect(monthly.kept.map(kept => kept.rule)).toEqual(["quarterly_3monthly #1", "quarterly_3monthly #2"]);
    const real = settle(pruneCommand(repo, { prefix: "gamma-", keep: { quarterly13Weekly: 2, daily: 1 }, features: borg14 }), v14("prune_13weekly")).value;
    expect(real.kept).toEqual([
      { rule: "daily #1", archive: "gamma-2026-10-20T02:00:00" },
      { rule: "quarterly_13weekly #1", archive: "gamma-2026-09-01T02:00:00" },
      { rule: "quarterly_13weekly #2", archive: "gamma-2026-05-30T02:00:00" },
    ]);
    expect(real.pruned).toHaveLength(4);
    // both rules at once is a usage error of borg's: the client refuses it before borg starts
    expect(v14("prune_13weekly_and_3monthly").stderr).toContain("argument --keep-3monthly: not allowed with argument --keep-13weekly");
  });

  const errors: [string, number, string][] = [
    ["err_wrong_passphrase", 52, "passphrase_wrong"],
    ["err_no_passphrase", 50, "passphrase_missing"],
    ["err_repo_missing", 13, "repository_missing"],
    ["err_not_a_repo", 15, "repository_invalid"],
    ["err_archive_exists", 30, "archive_exists"],
    ["err_info_archive_missing_logjson", 31, "archive_missing"],
    ["err_lock_timeout", 73, "lock_timeout"],
    ["err_relocated_repo", 62, "repository_access_aborted"],
    // new in 1.4: a write to a dead borg serve is ConnectionBrokenWithHint ("Broken Pipe")
    ["err_connection_broken", 87, "connection_lost"],
    ["create_interrupted_sigterm", 143, "interrupted"],
  ];
  for (const [name, code, kind] of errors) {
    it(`${name}: modern exit ${code} → ${kind}, by its msgid and by its exit code alone`, () => {
      const captured = v14(name);
      expect(captured.exitCode).toBe(code);
      expect(settleError(listCommand(repo), captured).kind).toBe(kind);
      if (code < 128) {
        // the same run with every msgid taken out: the modern exit code alone names the kind
        const bare = { ...captured, stderr: captured.stderr.replace(/, "msgid": "[^"]*"/g, "") };
        expect(settleError(listCommand(repo), bare).kind).toBe(kind);
      }
    });
  }

  it("a person reads the same message on both: borg's changed wording never reaches it, except in a missing passphrase's quote", () => {
    const remote = { location: "/srv/borg" };
    for (const name of ["err_wrong_passphrase", "err_repo_missing", "err_not_a_repo", "err_archive_exists", "err_info_archive_missing_logjson", "err_lock_timeout", "err_relocated_repo", "create_interrupted_sigterm"]) {
      expect(settleError(listCommand(remote), v14(name)).message, name).toBe(settleError(listCommand(remote), fixture(name)).message);
    }
    expect(settleError(listCommand(remote), fixture("err_no_passphrase")).message).toContain("can not acquire a passphrase");
    expect(settleError(listCommand(remote), v14("err_no_passphrase")).message).toContain("Cannot acquire a passphrase");
  });

  it("the exit code table is only a fallback: 1.2's generic 2 without a msgid stays unknown, and a msgid wins over a code", () => {
    const bare = fixture("err_repo_missing");
    expect(settleError(listCommand(repo), { ...bare, stderr: bare.stderr.replace(/, "msgid": "[^"]*"/g, "") }).kind).toBe("unknown");
    expect(settleError(listCommand(repo), { ...v14("err_lock_timeout"), exitCode: 13 }).kind).toBe("lock_timeout");
    expect(MODERN_EXIT_KINDS[2]).toBeUndefined();
  });

  it("a missing source is warning 107 (BackupFileNotFoundError) carrying its line, a result as with 1.2.4's 1", () => {
    const run = settle(createCommand(repo, { archive: "x", paths: ["src", "does-not-exist"] }), v14("create_missing_source"));
    expect(run.exitCode).toBe(107);
    expect(run.outcome).toBe("warning");
    expect(run.warnings).toEqual([expect.objectContaining({ msgid: "BackupFileNotFoundError", message: expect.stringContaining("does-not-exist") })]);
    expect(run.value.archive.name).toBe("beta-2026-11-22T03:00:00");
  });

  it("a stale lock borg removed is a note and the run a success", () => {
    const run = settle(createCommand(repo, { archive: "x", paths: ["src"] }), v14("create_stale_lock_removed"));
    expect(run.outcome).toBe("success");
    expect(run.notes).toEqual([expect.stringMatching(/^borg removed a stale lock of its process \d+ on this host/)]);
  });

  it("SIGINT: a checkpoint committed, exit 2 with msgid Error (\"Error: Got Ctrl-C / SIGINT.\"), the checkpoint listed; SIGTERM commits none", () => {
    const captured = v14("create_interrupted_sigint");
    expect(captured.exitCode).toBe(2);
    const watch = checkpointWatch();
    for (const event of events(captured.stderr)) watch.see(event);
    expect(watch.committed()).toBe(true);
    const error = settleError(createCommand(repo, { archive: "alpha-int", paths: ["big"] }), captured);
    expect(error.kind).toBe("unknown");
    expect(error.message).toContain("Got Ctrl-C / SIGINT.");
    expect(settle(listCommand(repo), v14("list_json_consider_checkpoints")).value.archives.map(archive => archive.name)).toContain("alpha-int.checkpoint");
    const term = checkpointWatch();
    for (const event of events(v14("create_interrupted_sigterm").stderr)) term.see(event);
    expect(term.committed()).toBe(false);
  });
});

describe("version and secrets", () => {
  it("parses borg --version and gates features", () => {
    const version = parseVersion(fixture("version").stdout);
    expect(version).toMatchObject({ major: 1, minor: 2, patch: 4, text: "1.2.4" });
    expect(featuresOf(version)).toEqual({ modernExitCodes: false, quarterlyKeepRules: false });
    expect(featuresOf(parseVersion("borg 1.4.1"))).toEqual({ modernExitCodes: true, quarterlyKeepRules: true });
    expect(() => assertSupported(parseVersion("borg 1.1.18"))).toThrow(/1\.1\.18 is not supported/);
    expect(() => assertSupported(parseVersion("borg 2.0.0b14"))).toThrow(/not supported/);
    expect(() => parseVersion("bash: borg: command not found")).toThrow();
  });

  it("a Secret never prints itself", async () => {
    const secret = new Secret("hunter2-canary");
    const { inspect } = await import("node:util");
    expect(String(secret)).toBe("[redacted]");
    // eslint-disable-next-line @typescript-eslint/restrict-template-expressions -- the point of the test
    expect(`${secret}`).toBe("[redacted]");
    expect(JSON.stringify({ secret })).toBe('{"secret":"[redacted]"}');
    expect(inspect({ secret })).not.toContain("hunter2");
    expect(secret.reveal()).toBe("hunter2-canary");
    expect(secret.redact("said hunter2-canary twice: hunter2-canary")).toBe("said [redacted] twice: [redacted]");
  });
});
