/** The `backup-coordinator` command line as data: the command, its options, configuration switches, and usage errors. */
import { describe, expect, it } from "vitest";

import { coordinatorHelp, parseCoordinatorLine } from "../../../apps/backup_coordinator/command-line.mjs";
import { COORDINATOR_CONFIGURATION } from "../../../apps/backup_coordinator/config.mjs";

describe("the coordinator's command line", () => {
  it("runs the coordinator by default, prints the configuration with config, and passes switches through", () => {
    expect(parseCoordinatorLine(["--config", "/etc/c.yaml", "--env-file", "c.env", "--TICK_SECONDS=5"])).toEqual({
      kind: "run",
      options: { config: "/etc/c.yaml", envFile: "c.env", json: false },
      switches: [{ name: "TICK_SECONDS", value: "5" }],
    });
    expect(parseCoordinatorLine(["config", "--json", "--hass-BASE_URL=http://ha:8123"])).toEqual({
      kind: "config",
      options: { json: true },
      switches: [{ name: "hass-BASE_URL", value: "http://ha:8123" }],
    });
    expect(parseCoordinatorLine(["-h"])).toEqual({ kind: "help" });
    expect(parseCoordinatorLine(["--version"])).toEqual({ kind: "version" });
  });

  it("says in one line what is wrong with a line it cannot run", () => {
    expect(parseCoordinatorLine(["start"])).toEqual({ kind: "usage_error", message: 'unknown command "start"; the only command is config (without one, the coordinator runs)' });
    expect(parseCoordinatorLine(["--json"])).toEqual({ kind: "usage_error", message: "--json is an option of `backup-coordinator config`" });
    expect(parseCoordinatorLine(["--TICK_SECONDS", "5"])).toEqual({ kind: "usage_error", message: 'write configuration switches as --TICK_SECONDS=VALUE (got "--TICK_SECONDS 5")' });
    expect(parseCoordinatorLine(["-x"])).toEqual({ kind: "usage_error", message: "unknown option -x" });
    expect(parseCoordinatorLine(["--config"])).toEqual({ kind: "usage_error", message: "--config needs a value: --config FILE" });
  });

  it("documents every setting and the variables it reads", () => {
    const help = coordinatorHelp();
    for (const key of Object.keys(COORDINATOR_CONFIGURATION)) expect(help).toContain(key);
    expect(help).toContain("BACKUP_COORDINATOR_<KEY>");
    expect(help).toContain("./.env are not read");
  });
});
