/**
 * `backup_drone_command` reaching the real drone over hass's event stream (the mock
 * assistant): a drone without synapse (events only) is driven by commands, runs real borg,
 * and answers; its status says synapse is `off`.
 */
import { afterEach, describe, expect, it } from "vitest";

import { COMMAND_EVENT_TYPES, commandAckEventSchema, EVENT_TYPES, type ResultEvent, statusEventSchema } from "../../../libs/protocol/index.mjs";
import { type TestRepository } from "../../helpers/borg.mjs";
import { droneTestConfig, makeDroneRepository } from "../../helpers/drone.mjs";
import { bootHassDrone, type HassDrone, teardownCheckingSecrets } from "../../helpers/hass.mjs";
import { waitFor } from "../../helpers/wait.mjs";

let drone: HassDrone | undefined;
let repo: TestRepository | undefined;

afterEach(async () => {
  if (drone) await teardownCheckingSecrets(drone);
  await repo?.remove();
  drone = undefined;
  repo = undefined;
});

/** An event on HA's bus, as hass hands it to the drone. */
const onBus = (target: HassDrone, data: Record<string, unknown>) =>
  target.params.hass.socket.onMessage({ type: "event", id: 1, event: { event_type: COMMAND_EVENT_TYPES.command, data } });

const command = (action: string, requestId: string, droneId = "testdrone") => ({
  v: 1,
  drone_id: droneId,
  action,
  request_id: requestId,
  sender: "test",
  time: new Date().toISOString(),
});

const acks = (target: HassDrone) => target.fired(COMMAND_EVENT_TYPES.ack).map(event => commandAckEventSchema.parse(event.event_data));

describe("commands on HA's bus", () => {
  it("drive a drone without synapse: a scheduled run, a repeat answered without a second run, a status on request", async () => {
    repo = await makeDroneRepository(2, 16 * 1024);
    drone = await bootHassDrone(droneTestConfig(repo), { synapse: false });
    const booted = await waitFor(() => drone!.fired(EVENT_TYPES.status)[0], "the first status event");
    expect(statusEventSchema.parse(booted.event_data).synapse).toBe("off");

    await onBus(drone, command("scheduled", "run-1", "someone-else"));
    await onBus(drone, command("scheduled", "run-1"));
    const ack = await waitFor(() => acks(drone!)[0], "the answer to run-1");
    expect(ack).toMatchObject({ drone_id: "testdrone", request_id: "run-1", action: "scheduled", accepted: true, duplicate: false, sender: "test" });
    const result = await waitFor(
      () => drone!.fired(EVENT_TYPES.result).map(event => event.event_data as unknown as ResultEvent).find(event => event.operation === "scheduled"),
      "the scheduled result",
      60_000,
    );
    expect(result).toMatchObject({ outcome: "success", trigger: "command", run_id: ack.run_id });

    // the same request again: answered with the first answer, nothing run again
    await onBus(drone, command("scheduled", "run-1"));
    const repeat = await waitFor(() => acks(drone!)[1], "the answer to the repeat");
    expect(repeat).toMatchObject({ request_id: "run-1", accepted: true, duplicate: true, run_id: ack.run_id });
    const statusesBefore = drone.fired(EVENT_TYPES.status).length;
    await onBus(drone, command("status", "ping-1"));
    expect(await waitFor(() => acks(drone!)[2], "the answer to the status request")).toMatchObject({ action: "status", accepted: true });
    expect(drone.fired(EVENT_TYPES.status).length).toBeGreaterThan(statusesBefore);
    expect(drone.fired(EVENT_TYPES.result).filter(event => event.event_data.operation === "scheduled")).toHaveLength(1);
    expect(acks(drone).map(answer => answer.drone_id)).toEqual(["testdrone", "testdrone", "testdrone"]);

    // nothing to release: refused, and said why
    await onBus(drone, command("release_prune_hold", "release-1"));
    expect(await waitFor(() => acks(drone!)[3], "the answer to release")).toMatchObject({ accepted: false, reason: "prune is not held" });
  });

  it("cancel: refused when nothing runs; during a run accepted with that run's id, which ends cancelled by the sender", async () => {
    repo = await makeDroneRepository(2, 16 * 1024);
    drone = await bootHassDrone(droneTestConfig(repo, { HOOK_BEFORE: "sleep 60" }), { synapse: false });
    await waitFor(() => drone!.fired(EVENT_TYPES.status)[0], "the first status event");

    await onBus(drone, command("cancel", "cancel-idle"));
    expect(await waitFor(() => acks(drone!)[0], "the answer to an idle cancel")).toMatchObject({
      action: "cancel",
      accepted: false,
      reason: "nothing is running or queued",
      run_id: null,
    });

    await onBus(drone, command("scheduled", "run-1"));
    const started = await waitFor(() => acks(drone!)[1], "the answer to run-1");
    await waitFor(() => (drone!.params.drone.engine.engine.live().state === "running_hooks" ? true : undefined), "the before hook running");
    await onBus(drone, command("cancel", "cancel-1"));
    const cancelled = await waitFor(() => acks(drone!)[2], "the answer to cancel-1");
    expect(cancelled).toMatchObject({ action: "cancel", accepted: true, reason: null, run_id: started.run_id });
    const result = await waitFor(
      () => drone!.fired(EVENT_TYPES.result).map(event => event.event_data as unknown as ResultEvent).find(event => event.run_id === started.run_id),
      "the cancelled result",
      30_000,
    );
    expect(result).toMatchObject({ operation: "scheduled", trigger: "command", outcome: "interrupted", error_kind: "cancelled", cancelled_by: "test" });
  });
});
