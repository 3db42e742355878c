/**
 * How an app (a drone, the coordinator) finds out that Home Assistant refuses its connection: `synapse/get_health`
 * answered "no bridge" twice in a row while HA lists its device. A fake clock; the answers
 * are those of the integration's websocket.py (`_handle_bridge_not_found`,
 * `handle_synapse_get_health`).
 */
import { describe, expect, it } from "vitest";

import { coordinatorLockedOutMessage, lockoutNotification, lockoutNotificationId } from "../../../apps/backup_coordinator/ha/lockout.mjs";
import { droneLockedOutMessage } from "../../../apps/drone/ha/lockout.mjs";
import { createLinkWatch, INITIAL_LINK, LINK_SETTLE_MS, nextLink, readHealth, reportLockout } from "../../../libs/ha/synapse-link.mjs";
import { type SynapseLink } from "../../../libs/protocol/index.mjs";

/** The answer to a question that names no application: every connection of the bridge that holds this socket. */
const KNOWN = { success: true, health: { app: { connected: true, uptime_seconds: 12, online: true, last_heartbeat: 1 } }, total_connections: 1 };
const NO_BRIDGE = {
  success: false,
  error_code: "bridge_not_found",
  message: "No bridge found for health check - connection may be stale. Re-registration requested.",
  requires_reregistration: true,
};

describe("reading synapse/get_health", () => {
  it("tells a known socket, an unknown one, and no answer apart", () => {
    expect(readHealth(KNOWN)).toBe("known");
    expect(readHealth(NO_BRIDGE)).toBe("unknown_socket");
    expect(readHealth(undefined)).toBe("no_answer");
    expect(readHealth({ success: false, error_code: "rate_limit_exceeded" })).toBe("no_answer");
    expect(readHealth({ error: "unexpected" })).toBe("no_answer");
  });
});

describe("the link state", () => {
  it("is locked out after two 'no bridge' answers in a row, and connected again after a known one", () => {
    const once = nextLink(INITIAL_LINK, { socket: true, added: true, health: "unknown_socket" });
    expect(once).toEqual({ link: "unknown", misses: 1 });
    const twice = nextLink(once, { socket: true, added: true, health: "unknown_socket" });
    expect(twice).toEqual({ link: "locked_out", misses: 2 });
    expect(nextLink(twice, { socket: true, added: true, health: "no_answer" })).toEqual(twice);
    expect(nextLink(twice, { socket: true, added: true, health: "known" })).toEqual({ link: "connected", misses: 0 });
  });

  it("one 'no bridge' while connected (a registration under way) changes nothing yet", () => {
    const connected = { link: "connected" as const, misses: 0 };
    expect(nextLink(connected, { socket: true, added: true, health: "unknown_socket" })).toEqual({ link: "connected", misses: 1 });
  });

  it("is unknown without a socket and not_added while HA lists no device of the drone", () => {
    expect(nextLink({ link: "locked_out", misses: 3 }, { socket: false, added: true })).toEqual({ link: "unknown", misses: 0 });
    expect(nextLink({ link: "connected", misses: 0 }, { socket: true, added: false })).toEqual({ link: "not_added", misses: 0 });
  });
});

describe("the watcher", () => {
  function watcher(answers: unknown[]) {
    let clock = 0;
    let socket = true;
    let added = true;
    const changes: [SynapseLink, SynapseLink][] = [];
    let probes = 0;
    const watch = createLinkWatch({
      socketConnected: () => socket,
      added: () => added,
      probe: () => Promise.resolve(answers[probes++]),
      now: () => clock,
      onChange: (link, previous) => void changes.push([link, previous]),
    });
    return {
      watch,
      changes,
      probes: () => probes,
      advance: (ms: number) => void (clock += ms),
      setSocket: (value: boolean) => void (socket = value),
      setAdded: (value: boolean) => void (added = value),
    };
  }

  it("asks nothing in the first LINK_SETTLE_MS after a connect, then finds the lockout and reports each change once", async () => {
    const w = watcher([NO_BRIDGE, NO_BRIDGE, NO_BRIDGE, KNOWN]);
    await w.watch.check();
    expect(w.probes()).toBe(0);
    w.advance(LINK_SETTLE_MS);
    await w.watch.check();
    await w.watch.check();
    await w.watch.check();
    expect(w.watch.link()).toBe("locked_out");
    expect(w.changes).toEqual([["locked_out", "unknown"]]);
    await w.watch.check();
    expect(w.changes).toEqual([
      ["locked_out", "unknown"],
      ["connected", "locked_out"],
    ]);
  });

  it("a reconnect forgets what was learnt and waits again", async () => {
    const w = watcher([NO_BRIDGE, NO_BRIDGE, KNOWN]);
    w.advance(LINK_SETTLE_MS);
    await w.watch.check();
    await w.watch.check();
    expect(w.watch.link()).toBe("locked_out");
    w.watch.connected();
    expect(w.watch.link()).toBe("unknown");
    await w.watch.check();
    expect(w.probes()).toBe(2);
    w.advance(LINK_SETTLE_MS);
    await w.watch.check();
    expect(w.watch.link()).toBe("connected");
  });

  it("does not ask while the drone is not added in HA", async () => {
    const w = watcher([KNOWN]);
    w.setAdded(false);
    w.advance(LINK_SETTLE_MS);
    await w.watch.check();
    expect(w.probes()).toBe(0);
    expect(w.watch.link()).toBe("not_added");
  });
});

describe("reporting a lockout", () => {
  function reporter() {
    const said: string[] = [];
    const report = reportLockout(() => "locked", { lockedOut: message => void said.push(message), recovered: () => void said.push("back") });
    return { said, report };
  }

  it("says a lockout once, however often the link flips while the socket reconnects, and its end once", () => {
    const { said, report } = reporter();
    const links: SynapseLink[] = ["unknown", "locked_out", "unknown", "locked_out", "connected", "connected", "locked_out"];
    for (const link of links) report(link);
    expect(said).toEqual(["locked", "back", "locked"]);
  });

  it("says nothing when the app was never locked out", () => {
    const { said, report } = reporter();
    for (const link of ["unknown", "not_added", "connected"] as const) report(link);
    expect(said).toEqual([]);
  });
});

describe("the line each app logs", () => {
  const common = (line: string) => {
    expect(line).toContain("restart Home Assistant");
    expect(line).toContain("reloading the Digital Alchemy entry does not help");
    expect(line).not.toContain("\n");
  };

  it("the drone's says what happened, what still works, and the step that fixes it", () => {
    const line = droneLockedOutMessage("laptop");
    expect(line).toContain("drone laptop");
    expect(line).toContain("backup_drone_command");
    common(line);
  });

  it("the coordinator's names its entities that stay unavailable and that rounds go on; its notification carries the same line", () => {
    const line = coordinatorLockedOutMessage("home");
    expect(line).toContain("the coordinator home");
    expect(line).toContain("Run Now, Pause");
    expect(line).toContain("Scheduled rounds still run");
    common(line);
    expect(lockoutNotification("home")).toEqual({ notification_id: lockoutNotificationId("home"), title: expect.stringContaining("restart Home Assistant"), message: line });
    expect(lockoutNotificationId("home")).not.toBe(lockoutNotificationId("office"));
  });
});
