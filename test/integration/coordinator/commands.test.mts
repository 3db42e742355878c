/**
 * The coordinator starting drones through `backup_drone_command` (mock assistant, fake
 * clock): after a press that started nothing, and at once for a drone that reports HA
 * refuses its connection, which also shows as its `locked_out` problem.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { COMMAND_EVENT_TYPES, commandEventSchema, COORDINATOR_EVENT_SCHEMAS } from "../../../libs/protocol/index.mjs";
import { bootCoordinator, type Harness, settle } from "./harness.mjs";
import { minutesFrom, T0, waitFor } from "../../helpers/wait.mjs";

let h: Harness | undefined;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(T0);
});
afterEach(async () => {
  if (h) {
    for (const event of h.fired()) {
      const schema = event.event_type === COMMAND_EVENT_TYPES.command ? commandEventSchema : COORDINATOR_EVENT_SCHEMAS[event.event_type as keyof typeof COORDINATOR_EVENT_SCHEMAS];
      expect(schema?.safeParse(event.event_data).success, JSON.stringify(event)).toBe(true);
    }
    await h.teardown();
  }
  h = undefined;
  vi.useRealTimers();
});

const commands = (harness: Harness) => harness.fired(COMMAND_EVENT_TYPES.command).map(event => commandEventSchema.parse(event.event_data));

describe("starting a drone by command", () => {
  it("a press that started nothing within START_TIMEOUT_SECONDS: the command starts the run, which is ours; no problem", async () => {
    h = await bootCoordinator({ drones: [{ id: "a", answers: false, synapse: "connected" }] });
    await h.report("a");
    await h.waitForPresses(1);
    expect(commands(h)).toEqual([]);

    vi.setSystemTime(minutesFrom(T0, 1.1));
    await h.heartbeat();
    h.evaluate();
    const [command] = await waitFor(() => commands(h!).length === 1 && commands(h!), "the command");
    expect(command).toMatchObject({ v: 1, drone_id: "a", action: "scheduled", sender: "backup_coordinator", time: minutesFrom(T0, 1.1).toISOString() });
    const started = await waitFor(() => h!.fired("backup_coordinator_run_started")[0], "the run started");
    expect(started.event_data).toMatchObject({ drone_id: "a", ours: true, run_id: "a-run-1" });
    await waitFor(() => h!.logs.some(line => line.includes(`a: command scheduled ${command!.request_id} accepted, run a-run-1`)), "the answer in the journal");

    await h.finish("a", "success");
    const finished = await waitFor(() => h!.fired("backup_coordinator_run_finished")[0], "the run finished");
    expect(finished.event_data).toMatchObject({ drone_id: "a", ours: true, outcome: "success" });
    expect(h.fired("backup_coordinator_drone_problem")).toEqual([]);
    // one press, one command: nothing was asked twice
    expect(h.presses()).toHaveLength(1);
    expect(commands(h)).toHaveLength(1);
  });

  it("a drone that reports itself locked out: no press, a command at once, and its locked_out problem until it is connected again", async () => {
    h = await bootCoordinator({ drones: [{ id: "a", synapse: "locked_out" }] });
    await h.report("a");
    const [command] = await waitFor(() => commands(h!).length === 1 && commands(h!), "the command");
    expect(command).toMatchObject({ drone_id: "a", action: "scheduled" });
    expect(h.presses()).toEqual([]);

    h.params.backup_coordinator.entities.sync();
    const sensor = await waitFor(() => {
      const current = h!.problemSensor("a");
      return current?.is_on === true && current.attributes?.kind === "locked_out" && current;
    }, "a's problem sensor showing locked_out");
    expect(sensor.attributes?.reason).toMatch(/Restart Home Assistant/);

    await h.finish("a", "success", { trigger: "command" });
    await settle();
    h.drones.get("a")!.spec.synapse = "connected";
    await h.report("a");
    await waitFor(
      () => h!.fired("backup_coordinator_drone_recovered").find(event => event.event_data.previous_kind === "locked_out"),
      "the locked_out problem over",
    );
  });
});
