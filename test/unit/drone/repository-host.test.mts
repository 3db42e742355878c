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
    expect(parseDroneConfig(valid({ REPOSITORY_HOST: " NAS " })).repositoryHost).toBe("nas");
  });

  it("the offsite repository has its own", () => {
    const config = parseDroneConfig(valid({ OFFSITE_REPOSITORY: "/mnt/usb/borg", OFFSITE_REPOSITORY_HOST: "usb-disk" }));
    expect(config.offsite?.host).toBe("usb-disk");
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
