/**
 * A drone whose connection died without `synapse/going_offline`, against the loopback Home
 * Assistant with the synapse integration's own behaviour (the dead connection is kept, the
 * restarted drone is refused `already_connected`): the coordinator's press reaches nothing,
 * the coordinator starts the run through `backup_drone_command` instead, real borg backs up,
 * and the drone says in its log and its status that it is locked out — until Home Assistant
 * restarts.
 */
import { randomBytes } from "node:crypto";

import { afterEach, describe, expect, it, onTestFailed } from "vitest";

import { droneLockedOutMessage } from "../../../apps/drone/ha/lockout.mjs";
import { COMMAND_EVENT_SCHEMAS, COMMAND_EVENT_TYPES, type CommandAckEvent, type CommandEvent } from "../../../libs/protocol/index.mjs";
import { startEmulator } from "../../emulator/index.mjs";
import { Fleet } from "../../fleet/harness.mjs";
import { tempDir } from "../../helpers/fs.mjs";

let cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  cleanups = [];
});

describe("a drone Home Assistant still holds an earlier connection of", () => {
  it("kill -9 while idle, restarted: refused by HA; the press reaches nothing, the coordinator's command runs the backup, the drone reports locked_out until HA restarts", async () => {
    const dir = await tempDir("lockout");
    const token = randomBytes(20).toString("hex");
    const haLog: string[] = [];
    // the integration's heartbeat timeout, long enough that HA still shows the entities
    // available (and so accepts the press) while the test runs: the press must reach nothing
    const emulator = await startEmulator({ token, port: 0, offlineAfterMs: 300_000, log: line => void haLog.push(line) });
    const lines: string[] = [];
    const fleet = new Fleet({ root: dir.path, emulator, token, drones: [{ id: "alpha", host: "nas" }], log: (source, line) => lines.push(`${source}: ${line}`) });
    cleanups.push(dir.remove, () => emulator.stop(), () => fleet.stopAll());
    onTestFailed(() => console.error([...lines.slice(-200), ...haLog.slice(-60).map(line => `ha: ${line}`)].join("\n")));
    await fleet.prepare();

    const drone = fleet.drone("alpha");
    const first = emulator.events().length;
    await fleet.startAll();
    await fleet.round(["alpha"], first, 120_000);
    const [earlier] = await drone.archives();
    expect(earlier).toBeDefined();

    await drone.crash();
    const restart = emulator.events().length;
    const haLogAtRestart = haLog.length;
    await drone.start({ registered: false });
    await fleet.waitFor(() => (haLog.slice(haLogAtRestart).some(line => line.includes("is already connected")) ? true : undefined), 30_000, "HA refusing the restarted drone");

    await drone.changeData();
    const runNow = emulator.events().length;
    await fleet.press(fleet.coordinator.entity("run_now"));
    const button = drone.entity("scheduled_backup");
    // HA takes the press (the entity shows available), but it goes to the dead connection
    const press = await fleet.waitFor(
      () => emulator.events().slice(runNow).find(event => event.event_type === "call_service" && event.data.domain === "button" && (event.data.service_data as { entity_id?: string }).entity_id === button),
      30_000,
      `the coordinator pressing ${button}`,
    );
    expect(emulator.state(button)?.state).not.toBe("unavailable");

    const busEvents = <T,>(type: string) =>
      emulator
        .events()
        .slice(runNow)
        .filter(event => event.event_type === type)
        .map(event => COMMAND_EVENT_SCHEMAS[type as keyof typeof COMMAND_EVENT_SCHEMAS].parse(event.data) as T);
    const command = await fleet.waitFor(
      () => busEvents<CommandEvent>(COMMAND_EVENT_TYPES.command).find(event => event.drone_id === "alpha"),
      // START_TIMEOUT_SECONDS (20) and a tick
      60_000,
      "the coordinator's backup_drone_command",
    );
    expect(command).toMatchObject({ v: 1, action: "scheduled", sender: "backup_coordinator" });
    expect(Date.parse(command.time)).toBeGreaterThan(Date.parse(press.time_fired));
    const ack = await fleet.waitFor(
      () => busEvents<CommandAckEvent>(COMMAND_EVENT_TYPES.ack).find(event => event.request_id === command.request_id),
      30_000,
      "the drone's answer",
    );
    expect(ack).toMatchObject({ drone_id: "alpha", accepted: true, duplicate: false, sender: "backup_coordinator" });

    const result = await fleet.waitFor(() => fleet.finishedScheduled("alpha", runNow)[0], 120_000, "alpha's run");
    // sent as a command, re-labelled by the drone once the coordinator's run_started names the run as its own
    expect(result).toMatchObject({ outcome: "success", trigger: "coordinator", run_id: ack.run_id });
    // the press started nothing: this one run is all there is
    expect(fleet.finishedScheduled("alpha", restart)).toHaveLength(1);
    const started = fleet.coordinatorEvents("backup_coordinator_run_started", runNow).filter(event => event.drone_id === "alpha");
    expect(started).toEqual([expect.objectContaining({ ours: true, run_id: ack.run_id })]);

    // the drone found out, says so once in its log and in every status, and the coordinator shows it
    const locked = await fleet.waitFor(() => fleet.statuses("alpha", restart).find(status => status.synapse === "locked_out"), 60_000, "alpha's status saying locked_out");
    expect(locked.drone_id).toBe("alpha");
    const problem = await fleet.waitFor(
      () => fleet.coordinatorEvents("backup_coordinator_drone_problem", restart).find(event => event.drone_id === "alpha" && event.kind === "locked_out"),
      30_000,
      "the coordinator's locked_out problem",
    );
    expect(problem.reason).toMatch(/Restart Home Assistant/);
    const output = drone.process?.output();
    const said = `${output?.stdout ?? ""}${output?.stderr ?? ""}`.split(droneLockedOutMessage("alpha")).length - 1;
    expect(said).toBe(1);

    // still locked out in HA: no heartbeat of the drone was taken since the crash
    expect(emulator.applications().find(app => app.name === "Backup drone alpha")?.lastHeartbeat ?? 0).toBeLessThan(Date.parse(press.time_fired) / 1000);
    const archives = await drone.archives();
    expect(archives.map(archive => archive.name)).toContain(earlier?.name);
    expect(archives).toHaveLength(2);

    // what fixes it: a restart of Home Assistant; the drone is taken again and says so, and the problem ends
    const haRestart = emulator.events().length;
    await emulator.restart({ downMs: 500 });
    const connected = await fleet.waitFor(() => fleet.statuses("alpha", haRestart).find(status => status.synapse === "connected"), 60_000, "alpha's status saying connected");
    expect(connected.drone_id).toBe("alpha");
    await fleet.waitFor(
      () => fleet.coordinatorEvents("backup_coordinator_drone_recovered", haRestart).find(event => event.drone_id === "alpha" && event.previous_kind === "locked_out"),
      30_000,
      "the locked_out problem over",
    );
    await drone.process?.waitFor(/Home Assistant takes this drone's connection again/, 10_000);
  });
});
