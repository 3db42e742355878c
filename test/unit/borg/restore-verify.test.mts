/**
 * The borg commands behind restore, find and the integrity checks: exact argv, and real
 * borg 1.2.4 output (test/fixtures/borg-1.2.4) through the same settle step the runner uses.
 */
import { describe, expect, it } from "vitest";

import {
  type BorgCommand,
  BorgError,
  type BorgEvent,
  type BorgRepository,
  checkCommand,
  createCommand,
  extractCommand,
  listItemsCommand,
  type LogMessage,
  parseArchiveItems,
  parseLogLine,
  settleRun,
} from "../../../libs/borg/index.mjs";
import { type BorgFixture, fixture } from "../../helpers/fixtures.mjs";

const repo: BorgRepository = { location: "/tmp/fixcap2/repo" };
const ARCHIVE = "laptop@2026-11-21T02:00:00.000";

function settle<T>(command: BorgCommand<T>, captured: BorgFixture) {
  const parsed: BorgEvent[] = captured.stderr
    .split("\n")
    .filter(line => line.trim().length > 0)
    .flatMap(line => parseLogLine(line));
  return {
    events: parsed,
    settled: () =>
      settleRun(command, {
        exitCode: captured.exitCode,
        stdout: captured.stdout,
        logs: parsed.filter((event): event is LogMessage => event.type === "log_message"),
        textTail: parsed.flatMap(event => (event.type === "text" ? [event.line] : [])),
        durationMs: 0,
      }),
  };
}

describe("argv of the restore, find and check commands equals what was captured from real borg", () => {
  it("find lists one archive's items with a pattern as a positional path", () => {
    const command = listItemsCommand(repo, ARCHIVE, ["sh:**/notes.txt"]);
    expect(["borg", ...command.args]).toEqual(fixture("list_json_lines_pattern").argv);
    expect(command.archive).toBe(ARCHIVE);
  });

  it("the check after a backup checks one archive's metadata", () => {
    const command = checkCommand(repo, { scope: "archives", archive: ARCHIVE });
    expect(["borg", ...command.args]).toEqual(fixture("check_archives_only_archive").argv);
  });

  it("a full check and a data verification", () => {
    expect(["borg", ...checkCommand(repo).args]).toEqual(fixture("check_damaged_segment").argv);
    expect(["borg", ...checkCommand(repo, { verifyData: true }).args]).toEqual(fixture("check_tampered_verify_data").argv);
  });

  it("restore extracts with progress into the target (its working directory); a spot check is a dry run", () => {
    const restore = extractCommand(repo, { archive: ARCHIVE, target: "/tmp/fixcap2/target", paths: ["src/docs"] });
    expect(["borg", ...restore.args]).toEqual(fixture("extract_restore_progress").argv);
    expect(restore.cwd).toBe("/tmp/fixcap2/target");
    const spot = extractCommand(repo, { archive: ARCHIVE, target: "/tmp/fixcap2/target2", dryRun: true });
    expect(["borg", ...spot.args].sort()).toEqual([...fixture("extract_dry_run_tampered").argv].sort());
    expect(spot.args).toContain("--dry-run");
  });
});

describe("real output, parsed", () => {
  it("find: the matching items of an archive, with paths, sizes and times; no match is an empty list", () => {
    const items = settle(listItemsCommand(repo, ARCHIVE, ["sh:**/notes.txt"]), fixture("list_json_lines_pattern")).settled().value;
    expect(items.map(item => item.path).sort()).toEqual(["src/docs/notes.txt", "src/notes.txt"]);
    const top = items.find(item => item.path === "src/notes.txt");
    expect(top).toMatchObject({ type: "-", size: "second version, longer\n".length });
    expect(top?.mtime).toBeInstanceOf(Date);
    expect(settle(listItemsCommand(repo, ARCHIVE, ["sh:**/missing.txt"]), fixture("list_json_lines_no_match")).settled().value).toEqual([]);
  });

  it("a line that is not an item is an error naming the line, never dropped", () => {
    const good = fixture("list_json_lines_pattern").stdout.split("\n")[0] ?? "";
    expect(() => parseArchiveItems(`${good}\n{"type": 3}\n`)).toThrow(/line 2 of borg list --json-lines/);
  });

  it("a restore reports progress in bytes with a total", () => {
    const { events, settled } = settle(extractCommand(repo, { archive: ARCHIVE, target: "/t" }), fixture("extract_restore_progress"));
    const progress = events.filter(event => event.type === "progress_percent");
    expect(progress.some(event => event.type === "progress_percent" && (event.total ?? 0) > 3_000_000 && event.msgid === "extract")).toBe(true);
    expect(progress.at(-1)).toMatchObject({ finished: true });
    expect(settled().outcome).toBe("success");
  });

  it("the check of a new archive: healthy", () => {
    expect(settle(checkCommand(repo, { scope: "archives", archive: ARCHIVE }), fixture("check_archives_only_archive")).settled().value).toEqual({
      healthy: true,
      problems: [],
    });
  });

  it("a flipped byte: the plain check finds the segment checksum mismatch (a result, not a throw)", () => {
    const run = settle(checkCommand(repo), fixture("check_damaged_segment")).settled();
    expect(run.outcome).toBe("warning");
    expect(run.value.healthy).toBe(false);
    expect(run.value.problems[0]).toMatch(/Segment entry checksum mismatch/);
  });

  it("tampered data with a matching checksum: the plain check sees nothing, --verify-data finds the MAC failure", () => {
    expect(settle(checkCommand(repo), fixture("check_tampered_plain")).settled().value).toEqual({ healthy: true, problems: [] });
    const verified = settle(checkCommand(repo, { verifyData: true }), fixture("check_tampered_verify_data")).settled().value;
    expect(verified.healthy).toBe(false);
    expect(verified.problems.join("\n")).toMatch(/MAC Authentication failed/);
  });

  it("a spot check that reads tampered data fails with kind integrity and one line of detail, not the traceback", () => {
    const { settled } = settle(extractCommand(repo, { archive: ARCHIVE, target: "/t", dryRun: true }), fixture("extract_dry_run_tampered"));
    let error: unknown;
    try {
      settled();
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(BorgError);
    const borg = error as BorgError;
    expect(borg.kind).toBe("integrity");
    expect(borg.message).toContain("MAC Authentication failed");
    expect(borg.message).toContain("borg check --verify-data");
    expect(borg.message).not.toContain("Traceback");
  });
});

describe("archives with a time of their own", () => {
  it("create --timestamp takes the moment in UTC, as borg reads it", () => {
    const command = createCommand(repo, { archive: "l@old", paths: ["/home"], timestamp: new Date("2026-10-01T08:00:00.250Z") });
    expect(command.args.slice(command.args.indexOf("--timestamp"), command.args.indexOf("--timestamp") + 2)).toEqual(["--timestamp", "2026-10-01T08:00:00"]);
  });
});
