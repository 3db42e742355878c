/**
 * The pure parts of `backup-drone`: the command line, configuration switches, and the words
 * and bars it prints. (Here, next to cli.test.mts, which runs the real bin.)
 */
import { describe, expect, it } from "vitest";

import { parseCommandLine } from "../../../apps/drone/cli/args.mjs";
import { configFileProblem } from "../../../libs/config/env-file.mjs";
import { homeAssistantTokenSource } from "../../../apps/drone/cli/boot.mjs";
import { resolveSources } from "../../../libs/config/sources.mjs";
import { DRONE_CONFIGURATION } from "../../../apps/drone/config.mjs";
import { formatBytes, formatDuration, formatRatio } from "../../../apps/drone/cli/format.mjs";
import { createLineThrottle, statusLine } from "../../../apps/drone/cli/progress.mjs";
import { exitCodeOf } from "../../../apps/drone/cli/report.mjs";
import { type LiveStatus } from "../../../apps/drone/core/engine.mjs";
import { type ProgressEvent } from "../../../libs/protocol/index.mjs";

const progress = (patch: Partial<ProgressEvent> = {}): ProgressEvent => ({
  v: 1,
  drone_id: "laptop",
  run_id: "run-1",
  operation: "create",
  repository: "primary",
  state: "creating",
  percent: 41,
  eta_seconds: 72,
  original_size: 8.2 * 1024 ** 3,
  compressed_size: 0,
  deduplicated_size: 310 * 1024 ** 2,
  nfiles: 48_112,
  path: "/home/a",
  elapsed_seconds: 50,
  expected_size: 20.1 * 1024 ** 3,
  finished: false,
  time: "2026-11-22T10:00:00.000Z",
  ...patch,
});

const live = (event: ProgressEvent | null, state: LiveStatus["state"] = "creating"): LiveStatus => ({
  state,
  operation: "create",
  runId: "run-1",
  trigger: "cli",
  startedAt: new Date(Date.now() - 24_000),
  queue: [],
  progress: event,
});

describe("the command line", () => {
  it("defaults to the daemon, knows every command, and passes configuration switches through", () => {
    expect(parseCommandLine([])).toMatchObject({ kind: "run", command: "daemon" });
    expect(parseCommandLine(["create", "--json", "--REPOSITORY=/srv/borg", "--config", "/etc/x.ini"])).toEqual({
      kind: "run",
      command: "create",
      options: {
        arguments: [],
        json: true,
        verbose: false,
        checkpoints: false,
        all: false,
        overwrite: false,
        verifyData: false,
        showCommands: false,
        versions: undefined,
        olderThan: undefined,
        target: undefined,
        archive: undefined,
        toDatabase: undefined,
        toFile: undefined,
        dryRun: false,
        yes: false,
        dumps: false,
        dump: undefined,
        config: "/etc/x.ini",
        envFile: undefined,
        token: undefined,
      },
      switches: [{ name: "REPOSITORY", value: "/srv/borg" }],
    });
    expect(parseCommandLine(["--KEEP_DAILY=3", "prune", "-v"])).toMatchObject({
      kind: "run",
      command: "prune",
      options: { verbose: true },
      switches: [{ name: "KEEP_DAILY", value: "3" }],
    });
  });

  it("restore-dump takes one NAME and --to-database or --to-file, not both; find takes PATTERN or --dump", () => {
    expect(parseCommandLine(["restore-dump", "shop", "--to-database", "shop_check", "--yes", "--dry-run", "--archive", "latest"])).toMatchObject({
      kind: "run",
      command: "restore-dump",
      options: { arguments: ["shop"], toDatabase: "shop_check", yes: true, dryRun: true, archive: "latest" },
    });
    expect(parseCommandLine(["restore-dump", "shop", "--to-database", "a", "--to-file", "/b"])).toEqual({ kind: "usage_error", command: "restore-dump", message: "give --to-database or --to-file, not both" });
    expect(parseCommandLine(["restore-dump"])).toMatchObject({ kind: "usage_error", message: "restore-dump needs NAME" });
    expect(parseCommandLine(["find", "--dump", "shop"])).toMatchObject({ kind: "run", options: { arguments: [], dump: "shop" } });
    expect(parseCommandLine(["find"])).toMatchObject({ kind: "usage_error", message: "find needs PATTERN (or --dump NAME)" });
    expect(parseCommandLine(["find", "x", "--dump", "shop"])).toMatchObject({ kind: "usage_error", message: "give PATTERN or --dump NAME, not both" });
    expect(parseCommandLine(["list", "--dumps"])).toMatchObject({ kind: "run", options: { dumps: true } });
  });

  it("answers help and version before anything else", () => {
    expect(parseCommandLine(["create", "--help", "--bogus"])).toEqual({ kind: "help", command: "create" });
    expect(parseCommandLine(["help", "prune"])).toEqual({ kind: "help", command: "prune" });
    expect(parseCommandLine(["-h"])).toEqual({ kind: "help", command: undefined });
    expect(parseCommandLine(["--version"])).toEqual({ kind: "version" });
  });

  it("says what is wrong with a bad command line", () => {
    const error = (argv: string[]) => {
      const line = parseCommandLine(argv);
      return line.kind === "usage_error" ? line.message : `not an error: ${line.kind}`;
    };
    expect(error(["frobnicate"])).toContain('unknown command "frobnicate"');
    expect(error(["daemon", "--json"])).toBe("--json is not an option of daemon");
    expect(error(["list", "--token=x"])).toBe("--token is not an option of list");
    expect(error(["create", "--REPOSITORY", "/srv"])).toContain("--REPOSITORY=VALUE");
    expect(error(["create", "extra"])).toBe('unexpected argument "extra"');
    expect(error(["create", "--config"])).toContain("--config needs a value");
    expect(error(["create", "--json=yes"])).toBe("--json takes no value");
    expect(error(["create", "-x"])).toBe("unknown option -x");
  });

  it("parses drone switches as Digital Alchemy does, under either spelling", () => {
    const switches = [
      { name: "KEEP_DAILY", value: "3" },
      { name: "drone-keep-within", value: "14d" },
      { name: "ONE_FILE_SYSTEM", value: undefined },
      { name: "PRESCAN", value: "false" },
      { name: "SOURCES", value: "/home,/etc" },
      { name: "EXCLUDES", value: "*/.cache" },
      { name: "EXCLUDES", value: "*/tmp" },
      { name: "token", value: "not-a-drone-key" },
    ];
    const resolved = resolveSources({ modules: new Map([["drone", DRONE_CONFIGURATION]]), files: [], env: {}, switches }).values.get("drone");
    const fromSwitches = Object.fromEntries([...(resolved ?? [])].filter(([, entry]) => entry.source.kind === "switch").map(([key, entry]) => [key, entry.value]));
    expect(fromSwitches).toEqual({
      KEEP_DAILY: 3,
      KEEP_WITHIN: "14d",
      ONE_FILE_SYSTEM: true,
      PRESCAN: false,
      SOURCES: ["/home", "/etc"],
      EXCLUDES: ["*/.cache", "*/tmp"],
    });
  });

  it("names a --config or --env-file that is missing or not a file (node 20 itself stops first on a missing --env-file)", () => {
    expect(configFileProblem("/nonexistent/drone.env", "--env-file")).toBe("--env-file /nonexistent/drone.env: no such file");
    expect(configFileProblem("/tmp", "--env-file")).toBe("--env-file /tmp: not a file");
    expect(configFileProblem("/nonexistent/backup_drone.ini")).toBe("--config /nonexistent/backup_drone.ini: no such file");
    expect(configFileProblem(undefined, "--env-file")).toBeUndefined();
  });

  it("uses Home Assistant when a token is configured anywhere, and says where (never what)", () => {
    const none = { files: {} };
    expect(homeAssistantTokenSource(none, {})).toBeUndefined();
    expect(homeAssistantTokenSource({ ...none, token: "t" }, {})).toBe("--token");
    expect(homeAssistantTokenSource(none, { HASS_TOKEN: "t" })).toBe("HASS_TOKEN");
    expect(homeAssistantTokenSource(none, { SUPERVISOR_TOKEN: "t" })).toBe("SUPERVISOR_TOKEN");
    expect(homeAssistantTokenSource(none, { HASS_TOKEN: "  " })).toBeUndefined();
    // a plain TOKEN is another program's
    expect(homeAssistantTokenSource(none, { TOKEN: "t" })).toBeUndefined();
    expect(homeAssistantTokenSource({ files: {}, envFile: { HASS_TOKEN: "t" } }, {})).toBe("HASS_TOKEN in the env file");
    expect(homeAssistantTokenSource({ files: { hass: { TOKEN: "t" } } }, {})).toBe("the [hass] section of the configuration file");
  });
});

describe("what it prints", () => {
  it("sizes, durations and ratios for people", () => {
    expect([0, 512, 1536, 23.4 * 1024 ** 2, 1.21 * 1024 ** 3, 601 * 1024 ** 3].map(formatBytes)).toEqual([
      "0 B",
      "512 B",
      "1.50 KiB",
      "23.4 MiB",
      "1.21 GiB",
      "601 GiB",
    ]);
    expect([0.42, 12, 72, 3 * 3600 + 240, 3 * 86_400 + 4 * 3600].map(formatDuration)).toEqual(["0.4 s", "12 s", "1m 12s", "3h 04m", "3d 4h"]);
    expect([formatRatio(601, 24.6), formatRatio(170, 71.9), formatRatio(1, 0)]).toEqual(["24×", "2.4×", "–"]);
  });

  it("a bar with the ETA first when the line is narrow; a spinner until an estimate holds", () => {
    const wide = statusLine(live(progress()), 0, 120);
    expect(wide).toBe("creating ████████░░░░░░░░░░░░  41% · ETA 1m 12s · 8.20 GiB of 20.1 GiB · 48,112 files · 310 MiB new");
    const narrow = statusLine(live(progress()), 0, 60) ?? "";
    expect(narrow).toBe("creating ████████░░░░░░░░░░░░  41% · ETA 1m 12s");
    expect(statusLine(live(progress({ percent: null, eta_seconds: null, expected_size: null })), 0, 120)).toBe(
      "⠋ creating · 8.20 GiB · 48,112 files · 310 MiB new · 24 s",
    );
    // the sources grew past the estimate: no stuck 99%
    expect(statusLine(live(progress({ percent: 99, expected_size: 1024 ** 3 })), 1, 120)).toMatch(/^⠙ creating · 8\.20 GiB · /);
    expect(statusLine(live(null, "idle"), 0, 120)).toBeUndefined();
  });

  it("plain lines at each new step, then one per interval", () => {
    let now = 0;
    const due = createLineThrottle(10_000, () => now);
    expect(due(progress())).toBe(true);
    now = 5_000;
    expect(due(progress())).toBe(false);
    expect(due(progress({ state: "pruning" }))).toBe(true);
    now = 16_000;
    expect(due(progress({ state: "pruning" }))).toBe(true);
    expect(due(progress({ state: "pruning", finished: true }))).toBe(false);
  });

  it("exit codes: success 0, warning 1, failed 2, interrupted 3, busy 4", () => {
    expect(exitCodeOf({ outcome: "success", error_kind: null })).toBe(0);
    expect(exitCodeOf({ outcome: "warning", error_kind: null })).toBe(1);
    expect(exitCodeOf({ outcome: "failed", error_kind: "passphrase_wrong" })).toBe(2);
    expect(exitCodeOf({ outcome: "interrupted", error_kind: "interrupted" })).toBe(3);
    expect(exitCodeOf({ outcome: "failed", error_kind: "busy" })).toBe(4);
  });
});
