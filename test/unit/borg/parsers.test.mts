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
} from "../../../libs/borg/index.mjs";
import { type BorgFixture, fixture, loadFixtures } from "../../helpers/fixtures.mjs";

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

  it("every JSON line borg wrote matches a schema (nothing falls back to text)", () => {
    for (const captured of all) {
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
