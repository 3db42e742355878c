/**
 * The whole product across real processes: the real `backup-drone` daemons and the real
 * `backup-coordinator`, meeting only through the loopback Home Assistant, backing up with
 * real borg — and what happens when parts of it fail.
 */
import { randomBytes } from "node:crypto";

import { afterEach, describe, expect, it, onTestFailed } from "vitest";

import { startEmulator } from "../../emulator/index.mjs";
import { Fleet, FLEET_PASSPHRASE, type FleetDroneSpec, peakConcurrency } from "../../fleet/harness.mjs";
import { tempDir } from "../../helpers/fs.mjs";

/** Slow enough (lzma on random data) that a test can act while borg is writing. */
const SLOW = { files: 24, bytes: 1024 * 1024, config: { COMPRESSION: "lzma,6" } } as const;

let cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  cleanups = [];
});

/** A home with these drones and a coordinator (not started), torn down after the test. */
async function home(drones: FleetDroneSpec[], coordinator: Record<string, unknown> = {}, options: { dropClosedAppConnections?: boolean } = {}) {
  const dir = await tempDir("fleet");
  const token = randomBytes(20).toString("hex");
  const emulator = await startEmulator({ token, port: 0, ...options });
  const lines: string[] = [];
  const fleet = new Fleet({ root: dir.path, emulator, token, drones, coordinator, log: (source, line) => lines.push(`${source}: ${line}`) });
  cleanups.push(dir.remove, () => emulator.stop(), () => fleet.stopAll());
  // what the processes said, for the person reading a failure
  onTestFailed(() => {
    console.error(lines.slice(-200).join("\n"));
  });
  await fleet.prepare();
  return { fleet, emulator, token };
}

/** Neither the repository passphrase nor the token ever reaches Home Assistant. */
function expectNoSecrets(fleet: Fleet, token: string) {
  const seen = JSON.stringify([fleet.emulator.events(), fleet.emulator.states(), fleet.emulator.entityRegistry()]);
  expect(seen).not.toContain(FLEET_PASSPHRASE);
  expect(seen).not.toContain(token);
}

/** The drone's progress events of a scheduled run that has written data (borg is mid-backup). */
const writing = (fleet: Fleet, id: string, since: number) =>
  fleet.progress(id, since).find(event => event.operation === "scheduled" && event.original_size > 0);

/** Archive start/end of every drone, with its repository host, for the concurrency check. */
async function runsByHost(fleet: Fleet) {
  const runs = [];
  for (const drone of fleet.drones.values()) {
    for (const archive of await drone.archives()) runs.push({ host: drone.spec.host ?? drone.spec.id, start: archive.start, end: archive.end });
  }
  return runs;
}

describe("a fleet of drones and the coordinator over the loopback Home Assistant", () => {
  it("runs a full round: every drone backs up once, never two at once on a shared host", async () => {
    const { fleet, token } = await home([
      { id: "alpha", host: "nas" },
      { id: "bravo", host: "nas" },
      { id: "charlie", host: "usb" },
    ]);
    const since = fleet.emulator.events().length;
    await fleet.startAll();
    const results = await fleet.round(["alpha", "bravo", "charlie"], since, 180_000);

    for (const [id, result] of results) expect({ id, outcome: result.outcome, error: result.error }).toEqual({ id, outcome: "success", error: null });
    for (const drone of fleet.drones.values()) expect(await drone.archives()).toHaveLength(1);
    // borg's own clocks: alpha and bravo (host nas, limit 1) never overlapped
    const peaks = peakConcurrency(await runsByHost(fleet));
    expect(peaks.get("nas")).toBe(1);
    expect(peaks.get("usb")).toBe(1);
    // the coordinator started each of them, once
    const started = fleet.coordinatorEvents("backup_coordinator_run_started", since).filter(event => event.ours);
    expect(started.map(event => event.drone_id).sort()).toEqual(["alpha", "bravo", "charlie"]);
    // Home Assistant shows the outcome on each drone's device
    for (const drone of fleet.drones.values()) {
      await fleet.waitFor(() => (fleet.emulator.state(drone.entity("application_state"))?.state === "idle" ? true : undefined), 20_000, `${drone.spec.id} idle`);
      expect(fleet.emulator.state(drone.entity("last_backup"))?.state).toMatch(/^\d{4}-\d\d-\d\dT/);
    }
    expectNoSecrets(fleet, token);
  });

  it("kill -9 of a drone mid-backup: the coordinator shows it offline; restarted, it recovers, runs again and the repository is intact", async () => {
    // the synapse integration forgets an application's connection only when it says goodbye:
    // a crashed drone is refused until Home Assistant restarts (docs/troubleshooting.md). This
    // Home Assistant forgets it when the socket closes, so the drone's own recovery is tested.
    const { fleet } = await home([{ id: "alpha", host: "nas", ...SLOW }], {}, { dropClosedAppConnections: true });
    const drone = fleet.drone("alpha");
    const first = fleet.emulator.events().length;
    await fleet.startAll();
    await fleet.round(["alpha"], first, 180_000);
    const [earlier] = await drone.archives();
    expect(earlier).toBeDefined();

    // a second run with new data to write, from the coordinator's Run Now; killed while borg writes
    await drone.changeData();
    const second = fleet.emulator.events().length;
    await fleet.press(fleet.coordinator.entity("run_now"));
    await fleet.waitFor(() => writing(fleet, "alpha", second), 60_000, "alpha writing its second backup");
    await drone.crash();

    const offline = await fleet.waitFor(
      () => fleet.coordinatorEvents("backup_coordinator_drone_problem", second).find(event => event.drone_id === "alpha" && event.kind === "offline"),
      // OFFLINE_AFTER_SECONDS (10) and a tick or two of the coordinator
      30_000,
      "the coordinator reporting alpha offline",
    );
    expect(offline.reason).toMatch(/no heartbeat|reports the drone offline/);

    // restarted: the lost run is reported, the drone is idle and back online
    const restart = fleet.emulator.events().length;
    await drone.start();
    const lost = await fleet.waitFor(() => fleet.finishedScheduled("alpha", restart)[0], 60_000, "alpha reporting the run it lost");
    expect(lost.outcome).toBe("interrupted");
    await fleet.waitFor(
      () => fleet.coordinatorEvents("backup_coordinator_drone_recovered", restart).find(event => event.drone_id === "alpha" && event.previous_kind === "offline"),
      30_000,
      "alpha recovered from offline",
    );

    // its next run succeeds, and nothing of the earlier backup was lost
    const third = fleet.emulator.events().length;
    await fleet.press(fleet.coordinator.entity("run_now"));
    const next = await fleet.waitFor(() => fleet.finishedScheduled("alpha", third)[0], 120_000, "alpha's next run");
    expect(next.outcome).toBe("success");
    const archives = await drone.archives();
    expect(archives.map(archive => archive.name)).toContain(earlier?.name);
    expect(archives).toHaveLength(2);
    const check = await drone.client.check({});
    expect(check.exitCode).toBe(0);
  });

  it("Home Assistant restarted mid-backup: the backup completes, states come back, nothing starts twice", async () => {
    const { fleet, emulator } = await home([
      { id: "alpha", host: "nas", ...SLOW },
      { id: "bravo", host: "nas" },
    ]);
    const since = emulator.events().length;
    await fleet.startAll();
    await fleet.waitFor(() => writing(fleet, "alpha", since) ?? writing(fleet, "bravo", since), 60_000, "the first backup writing");
    const busy = writing(fleet, "alpha", since) ? "alpha" : "bravo";
    const other = busy === "alpha" ? "bravo" : "alpha";

    await emulator.restart({ downMs: 2_000 });
    const after = emulator.events().length;

    // the other drone can only start once the busy one is done: its result means both ran
    await fleet.waitFor(() => fleet.finishedScheduled(other, after).at(-1), 180_000, `${other}'s run after the restart`);
    for (const drone of fleet.drones.values()) {
      // exactly one archive each: the restarted Home Assistant did not make anyone run twice
      expect({ id: drone.spec.id, archives: (await drone.archives()).length }).toEqual({ id: drone.spec.id, archives: 1 });
      // the drone's entities were published again: a real state, not unavailable
      await fleet.waitFor(
        () => (/^\d{4}-/.test(emulator.state(drone.entity("last_backup"))?.state ?? "") ? true : undefined),
        30_000,
        `${drone.spec.id}'s Last Backup after the restart`,
      );
    }
    expect(peakConcurrency(await runsByHost(fleet)).get("nas")).toBe(1);
  });

  it("the coordinator restarted mid-round: the round continues and no drone runs twice", async () => {
    const { fleet, emulator } = await home([
      { id: "alpha", host: "nas", ...SLOW },
      { id: "bravo", host: "nas", ...SLOW },
      { id: "charlie", host: "usb" },
    ]);
    const since = emulator.events().length;
    await fleet.startAll();
    await fleet.waitFor(() => writing(fleet, "alpha", since) ?? writing(fleet, "bravo", since), 60_000, "a nas drone writing");

    await fleet.coordinator.stop();
    await fleet.coordinator.start();

    await fleet.round(["alpha", "bravo", "charlie"], since, 240_000);
    for (const drone of fleet.drones.values()) expect({ id: drone.spec.id, archives: (await drone.archives()).length }).toEqual({ id: drone.spec.id, archives: 1 });
    // the restarted coordinator knew the nas was busy and did not start the other nas drone beside it
    expect(peakConcurrency(await runsByHost(fleet)).get("nas")).toBe(1);
    const results = fleet.results(undefined, since).filter(result => result.operation === "scheduled");
    expect(results.map(result => result.drone_id).sort()).toEqual(["alpha", "bravo", "charlie"]);
  });

  it("a drone with a wrong passphrase fails and shows its problem; the others are unaffected", async () => {
    const { fleet, token } = await home([
      { id: "alpha", host: "nas", wrongPassphrase: true },
      { id: "bravo", host: "nas" },
    ]);
    const since = fleet.emulator.events().length;
    await fleet.startAll();
    const results = await fleet.round(["alpha", "bravo"], since, 180_000);

    expect(results.get("alpha")).toMatchObject({ outcome: "failed", error_kind: "passphrase_wrong" });
    expect(results.get("alpha")?.error).toMatch(/passphrase/i);
    expect(results.get("bravo")?.outcome).toBe("success");
    const problem = await fleet.waitFor(
      () => fleet.coordinatorEvents("backup_coordinator_drone_problem", since).find(event => event.drone_id === "alpha"),
      20_000,
      "alpha's problem",
    );
    expect(problem.kind).toBe("failed");
    expect(fleet.coordinatorEvents("backup_coordinator_drone_problem", since).filter(event => event.drone_id === "bravo")).toEqual([]);
    expect(await fleet.drone("alpha").archives()).toHaveLength(0);
    expect(await fleet.drone("bravo").archives()).toHaveLength(1);
    expectNoSecrets(fleet, token);
  });

  it("pause holds every automatic start; resume lets the round run", async () => {
    const { fleet, emulator } = await home([{ id: "alpha" }, { id: "bravo" }]);
    await fleet.coordinator.start();
    const pause = fleet.coordinator.entity("pause");
    await emulator.callService("switch", "turn_on", { entity_id: pause });
    await fleet.waitFor(() => (emulator.state(pause)?.state === "on" ? true : undefined), 10_000, "the pause switch on");

    const since = emulator.events().length;
    await Promise.all([...fleet.drones.values()].map(drone => drone.start()));
    // while paused the coordinator looks at the fleet every second and after every event:
    // through two heartbeats of both drones it starts nothing
    await fleet.waitFor(
      () => (["alpha", "bravo"].every(id => fleet.statuses(id, since).length >= 2) ? true : undefined),
      30_000,
      "two heartbeats of each drone",
    );
    expect(fleet.coordinatorEvents("backup_coordinator_run_started", since)).toEqual([]);
    expect(fleet.results(undefined, since)).toEqual([]);

    await emulator.callService("switch", "turn_off", { entity_id: pause });
    const results = await fleet.round(["alpha", "bravo"], since, 180_000);
    expect([...results.values()].map(result => result.outcome)).toEqual(["success", "success"]);
  });
});
