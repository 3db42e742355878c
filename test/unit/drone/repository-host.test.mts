import { describe, expect, it } from "vitest";

import { ConfigError, defaultConfigValues, parseDroneConfig } from "../../../apps/drone/config.mjs";
import { repositoryHost } from "../../../apps/drone/core/engine.mjs";

const valid = (extra: Record<string, unknown> = {}) => ({ ...defaultConfigValues(), DRONE_ID: "laptop", REPOSITORY: "/mnt/nas/borg", ...extra });

describe("the repository host a drone is counted against", () => {
  it("is derived from the repository unless REPOSITORY_HOST names it", () => {
    expect(repositoryHost("ssh://borg@NAS.lan:22/./repo", "laptop")).toBe("nas.lan");
    expect(repositoryHost("borg@nas:repo", "laptop")).toBe("nas");
    expect(repositoryHost("/mnt/nas/borg", "laptop")).toBe("local:laptop");
    expect(parseDroneConfig(valid()).repositoryHost).toBeUndefined();
  });

  it("scp-like locations with an absolute path count against their host (issue 15)", () => {
    expect(repositoryHost("nas:/srv/borg/laptop", "laptop")).toBe("nas");
    expect(repositoryHost("borg@nas:/srv/borg/laptop", "laptop")).toBe("nas");
    expect(repositoryHost("borg@[fe80::1]:laptop", "laptop")).toBe("fe80::1");
    // a colon after a `/` is part of a local path
    expect(repositoryHost("./a:b", "laptop")).toBe("local:laptop");
    expect(repositoryHost("file:///srv/borg", "laptop")).toBe("local:laptop");
  });

  it("REPOSITORY_HOST overrides what the location says", () => {
    expect(parseDroneConfig(valid({ REPOSITORY_HOST: " NAS " })).repositoryHost).toBe("nas");
  });

  it("the offsite repository has its own", () => {
    const config = parseDroneConfig(valid({ OFFSITE_REPOSITORY: "/mnt/usb/borg", OFFSITE_REPOSITORY_HOST: "usb-disk" }));
    expect(config.offsite?.host).toBe("usb-disk");
  });

  it("a repository location borg would refuse is refused, naming the key and the forms", () => {
    for (const [key, value] of [
      ["REPOSITORY", "ssh://nas"],
      ["REPOSITORY", "/srv/borg::laptop"],
      ["OFFSITE_REPOSITORY", "//server/share"],
    ] as const) {
      try {
        parseDroneConfig(valid({ [key]: value }));
        expect.unreachable(`${key}=${value} was accepted`);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        expect(error instanceof ConfigError && error.problems.join("\n")).toMatch(
          new RegExp(`drone\\.${key}: is not a repository location borg reads: .*e\\.g\\. /srv/borg/repo`),
        );
      }
    }
    expect(parseDroneConfig(valid({ REPOSITORY: "borg@nas:/srv/borg/laptop" })).repository).toBe("borg@nas:/srv/borg/laptop");
  });

  it("a host with spaces or slashes is refused, naming the key", () => {
    expect(() => parseDroneConfig(valid({ REPOSITORY_HOST: "my nas/x" }))).toThrow(ConfigError);
    try {
      parseDroneConfig(valid({ REPOSITORY_HOST: "my nas/x" }));
    } catch (error) {
      expect(error instanceof ConfigError && error.problems.join("\n")).toMatch(/drone\.REPOSITORY_HOST: must be a host name/);
    }
  });
});
