import { describe, expect, it } from "vitest";

import { describeFileKeyProblem, fileKeyProblems } from "../../../apps/drone/cli/boot.mjs";
import { closestName } from "../../../libs/config/index.mjs";

describe("closestName: what a mistyped name meant", () => {
  const keys = ["SOURCES", "KEEP_DAILY", "KEEP_WEEKLY", "REPOSITORY", "PASSPHRASE_FILE", "json", "verbose"];

  it.each([
    ["SOURCE", "SOURCES"],
    ["KEEP_DAILEY", "KEEP_DAILY"],
    ["REPOSITRY", "REPOSITORY"],
    ["PASSPHRASEFILE", "PASSPHRASE_FILE"],
    ["passphrase-file", "PASSPHRASE_FILE"],
    ["sources", "SOURCES"],
    ["jsno", "json"],
  ])("%s → %s", (typed, meant) => {
    expect(closestName(typed, keys)).toBe(meant);
  });

  it("suggests nothing when nothing is close, and prefers the nearer of two", () => {
    expect(closestName("frobnicate", keys)).toBeUndefined();
    expect(closestName("KEEP", keys)).toBeUndefined();
    expect(closestName("KEEP_WEEKL", keys)).toBe("KEEP_WEEKLY");
  });
});

describe("fileKeyProblems: keys of a file that nothing reads", () => {
  const modules = new Map([
    ["drone", ["SOURCES", "KEEP_DAILY", "REPOSITORY"]],
    ["boilerplate", ["LOG_LEVEL"]],
  ]);

  it("names unknown keys, unknown sections and keys outside any section, each with its file", () => {
    const problems = fileKeyProblems(
      "/etc/backup_drone.ini",
      {
        drone: { SOURCES: ["/home"], SOURCE: "/srv", KEEP_DAILEY: "3", ZZZ: "1" },
        dron: { MODE: "paused" },
        boilerplate: { LOG_LEVEL: "debug" },
        REPOSITORY: "/srv/borg",
        hass: { TOKEN: "x", ANYTHING: "y" },
      },
      modules,
    );
    expect(problems.map(describeFileKeyProblem)).toEqual([
      "/etc/backup_drone.ini: [drone] SOURCE is not a configuration key; did you mean SOURCES?",
      "/etc/backup_drone.ini: [drone] KEEP_DAILEY is not a configuration key; did you mean KEEP_DAILY?",
      "/etc/backup_drone.ini: [drone] ZZZ is not a configuration key",
      "/etc/backup_drone.ini: [dron] is not a section the drone reads; did you mean [drone]?",
      "/etc/backup_drone.ini: REPOSITORY is outside any section; did you mean [drone] REPOSITORY?",
    ]);
  });

  it("checks [hass] once Home Assistant's module is loaded, and finds nothing in a clean file", () => {
    const withHass = new Map([...modules, ["hass", ["TOKEN", "BASE_URL"]]]);
    expect(fileKeyProblems("f.json", { hass: { TOKEN: "x", BASE_ULR: "y" } }, withHass)).toEqual([
      { kind: "unknown_key", file: "f.json", section: "hass", key: "BASE_ULR", suggestion: "BASE_URL" },
    ]);
    expect(fileKeyProblems("f.json", { drone: { SOURCES: ["/home"], KEEP_DAILY: 7 } }, modules)).toEqual([]);
  });
});
