import { describe, expect, it } from "vitest";

import { createFleet, type FleetEffect } from "../../../apps/backup_coordinator/core/fleet.mjs";
import { canonicalAddress, groupHosts, needsLookup } from "../../../apps/backup_coordinator/core/hosts.mjs";
import { createHostDirectory, HOST_REFRESH_MS, HOST_RETRY_MS } from "../../../apps/backup_coordinator/services/host-directory.mjs";
import { DEFAULT_FLEET_SETTINGS, statusEvent } from "../../helpers/fleet.mjs";
import { T0 } from "../../helpers/wait.mjs";

const resolved = (entries: Record<string, string[]>) => new Map(Object.entries(entries));
const starts = (effects: FleetEffect[]) => effects.flatMap(effect => (effect.type === "start" ? [effect.droneId] : []));

describe("repository hosts that are one machine", () => {
  it("a name and the address it resolves to share one key, the smallest address", () => {
    const grouping = groupHosts(["nas", "192.168.1.10", "cloud"], resolved({ nas: ["192.168.1.10", "fd00::10"], cloud: ["203.0.113.5"] }));
    expect(grouping.keyOf("nas")).toBe("192.168.1.10");
    expect(grouping.keyOf("192.168.1.10")).toBe("192.168.1.10");
    expect(grouping.keyOf("cloud")).toBe("203.0.113.5");
    expect(grouping.aliases).toEqual([{ key: "192.168.1.10", names: ["192.168.1.10", "nas"] }]);
  });

  it("names sharing any address group, also through a third name (a NAS with two interfaces)", () => {
    const grouping = groupHosts(
      ["nas", "nas-10g", "10.0.0.5"],
      resolved({ nas: ["192.168.1.10"], "nas-10g": ["192.168.1.10", "10.0.0.5"] }),
    );
    expect(new Set(["nas", "nas-10g", "10.0.0.5"].map(grouping.keyOf))).toEqual(new Set(["10.0.0.5"]));
    expect(grouping.aliases).toEqual([{ key: "10.0.0.5", names: ["10.0.0.5", "nas", "nas-10g"] }]);
  });

  it("an unresolved name counts as itself; IP literals resolve to themselves in one spelling", () => {
    const grouping = groupHosts(["nas", "0:0:0:0:0:0:0:1", "::1", "FD00::0:10"], resolved({}));
    expect(grouping.keyOf("nas")).toBe("nas");
    expect(grouping.keyOf("0:0:0:0:0:0:0:1")).toBe("::1");
    expect(grouping.keyOf("::1")).toBe("::1");
    expect(grouping.aliases).toEqual([{ key: "::1", names: ["0:0:0:0:0:0:0:1", "::1"] }]);
    expect(canonicalAddress("FD00::0:10")).toBe("fd00::10");
    expect(canonicalAddress("nas")).toBeUndefined();
  });

  it("local: and offsite: hosts are never looked up and never group", () => {
    expect(needsLookup("local:laptop")).toBe(false);
    expect(needsLookup("192.168.1.10")).toBe(false);
    expect(needsLookup("nas")).toBe(true);
    // even a resolution handed in for a made-up host is ignored
    const grouping = groupHosts(["local:laptop", "local:desk"], resolved({ "local:laptop": ["127.0.0.1"], "local:desk": ["127.0.0.1"] }));
    expect(grouping.keyOf("local:laptop")).toBe("local:laptop");
    expect(grouping.aliases).toEqual([]);
  });

  it("the per-host limit holds across the two spellings (issue 15: the NAS ran 2 backups under a limit of 1)", () => {
    const fleet = createFleet(DEFAULT_FLEET_SETTINGS);
    fleet.onStatus(statusEvent("laptop", { repository_host: "nas" }), T0);
    fleet.onStatus(statusEvent("desktop", { repository_host: "192.168.1.10" }), T0);
    // without the grouping both would start at once
    expect(starts(fleet.evaluate(T0, { paused: false })).sort()).toEqual(["desktop", "laptop"]);

    const grouped = createFleet(DEFAULT_FLEET_SETTINGS);
    grouped.onStatus(statusEvent("laptop", { repository_host: "nas" }), T0);
    grouped.onStatus(statusEvent("desktop", { repository_host: "192.168.1.10" }), T0);
    const grouping = groupHosts(["nas", "192.168.1.10"], resolved({ nas: ["192.168.1.10"] }));
    const first = starts(grouped.evaluate(T0, { paused: false, hostKey: grouping.keyOf }));
    expect(first).toHaveLength(1);
    grouped.markPressed(first[0]!, "primary", T0);
    expect(starts(grouped.evaluate(T0, { paused: false, hostKey: grouping.keyOf }))).toEqual([]);
  });
});

describe("the host directory (DNS in the background)", () => {
  it("localhost and 127.0.0.1 are one machine, with this machine's resolver", async () => {
    let changes = 0;
    const directory = createHostDirectory({ onChange: () => void changes++ });
    directory.refresh(["localhost", "127.0.0.1", "local:laptop"]);
    await directory.settled();
    expect(changes).toBe(1);
    expect(directory.resolutions().get("localhost")).toContain("127.0.0.1");
    // IP literals and made-up hosts are not looked up
    expect([...directory.resolutions().keys()]).toEqual(["localhost"]);
    const grouping = groupHosts(["localhost", "127.0.0.1"], directory.resolutions());
    expect(grouping.keyOf("localhost")).toBe(grouping.keyOf("127.0.0.1"));
    expect(grouping.aliases).toEqual([{ key: "127.0.0.1", names: ["127.0.0.1", "localhost"] }]);
  });

  it("a failed lookup leaves the name as itself and keeps an earlier answer; it is tried again later", async () => {
    let now = 0;
    const answers: (string[] | Error)[] = [["192.168.1.10"], new Error("SERVFAIL"), ["192.168.1.11"]];
    const asked: string[] = [];
    const failures: string[] = [];
    let changes = 0;
    const directory = createHostDirectory({
      resolve: name => {
        asked.push(name);
        const answer = answers.shift();
        return answer instanceof Error || answer === undefined ? Promise.reject(answer ?? new Error("no more")) : Promise.resolve(answer);
      },
      clock: () => now,
      onChange: () => void changes++,
      onFailure: (name, reason) => failures.push(`${name}: ${reason}`),
    });

    directory.refresh(["nas"]);
    await directory.settled();
    expect(directory.resolutions().get("nas")).toEqual(["192.168.1.10"]);
    // fresh: not asked again before HOST_REFRESH_MS
    directory.refresh(["nas"]);
    await directory.settled();
    expect(asked).toEqual(["nas"]);

    now += HOST_REFRESH_MS;
    directory.refresh(["nas"]);
    await directory.settled();
    expect(failures).toEqual(["nas: SERVFAIL"]);
    expect(directory.resolutions().get("nas")).toEqual(["192.168.1.10"]);

    now += HOST_RETRY_MS;
    directory.refresh(["nas"]);
    await directory.settled();
    expect(asked).toEqual(["nas", "nas", "nas"]);
    expect(directory.resolutions().get("nas")).toEqual(["192.168.1.11"]);
    expect(changes).toBe(2);
  });

  it("a name that does not resolve counts as itself", async () => {
    const failures: string[] = [];
    const directory = createHostDirectory({
      resolve: () => Promise.reject(new Error("ENOTFOUND")),
      onChange: () => undefined,
      onFailure: (name, reason) => failures.push(`${name}: ${reason}`),
    });
    directory.refresh(["ghost"]);
    await directory.settled();
    expect(failures).toEqual(["ghost: ENOTFOUND"]);
    expect(directory.resolutions().has("ghost")).toBe(false);
    expect(groupHosts(["ghost", "nas"], directory.resolutions()).aliases).toEqual([]);
  });
});
