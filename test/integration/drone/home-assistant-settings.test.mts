import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { type DroneEntityKey, EVENT_SCHEMAS, EVENT_TYPES } from "../../../libs/protocol/index.mjs";
import { TEST_PASSPHRASE, type TestRepository } from "../../helpers/borg.mjs";
import { bootDrone, droneTestConfig, makeDroneRepository } from "../../helpers/drone.mjs";
import { bootHassDrone, type HassDrone } from "../../helpers/hass.mjs";
import { TEST_HASS_TOKEN } from "../../helpers/runner.mjs";
import { waitFor } from "../../helpers/wait.mjs";

describe("settings from Home Assistant, and the bridge without synapse", () => {
  const repos: TestRepository[] = [];
  const drones: HassDrone[] = [];
  let teardownPlain: (() => Promise<void>) | undefined;
  const boot = async (config: Record<string, unknown>, options: Parameters<typeof bootHassDrone>[1] = {}) => {
    const drone = await bootHassDrone(config, options);
    drones.push(drone);
    return drone;
  };

  afterEach(async () => {
    await teardownPlain?.();
    teardownPlain = undefined;
    for (const drone of drones.splice(0)) {
      await drone.teardown();
      for (const secret of [TEST_PASSPHRASE, TEST_HASS_TOKEN]) {
        expect(drone.logs.filter(line => line.includes(secret))).toEqual([]);
        expect(drone.sent.filter(message => JSON.stringify(message).includes(secret))).toEqual([]);
      }
      for (const event of drone.fired()) {
        const schema = EVENT_SCHEMAS[event.event_type as keyof typeof EVENT_SCHEMAS];
        expect(schema.safeParse(event.event_data).success, JSON.stringify(event)).toBe(true);
      }
    }
    for (const repo of repos.splice(0)) await repo.remove();
  });

  it("a bad value is rejected, logged, and the entity keeps its old value; a good one is applied and survives a restart", async () => {
    const repo = await makeDroneRepository(1, 1024);
    repos.push(repo);
    const config = droneTestConfig(repo);
    const databaseUrl = join(repo.root, "synapse.db");
    const drone = await boot(config, { databaseUrl });
    await waitFor(() => drone.registration(), "the registration");
    const { engine } = drone;
    const before = engine.settings();

    /** Send a value as HA would; wait until the drone answered with a patch of that entity. */
    const send = async (key: DroneEntityKey, value: unknown, field: "native_value" | "current_option" = "native_value") => {
      const count = drone.patches(key).length;
      const warnings = drone.logs.filter(line => line.startsWith("warn")).length;
      if (field === "current_option") await drone.selectOption(key, value);
      else await drone.setValue(key, value);
      await waitFor(() => drone.patches(key).length > count, `a patch of ${key} after ${JSON.stringify(value)}`);
      return { published: drone.patches(key).at(-1)?.[field], warnings: drone.logs.filter(line => line.startsWith("warn")).slice(warnings) };
    };
    const rejected = async (key: DroneEntityKey, value: unknown, old: unknown, field?: "native_value" | "current_option") => {
      const answer = await send(key, value, field);
      expect(answer.published, `${key} := ${JSON.stringify(value)}`).toEqual(old);
      expect(answer.warnings.some(line => line.includes(`testdrone ${key}`) && line.includes("rejected")), answer.warnings.join("\n")).toBe(
        true,
      );
    };

    await rejected("keep_within", "2 weeks", "");
    expect(drone.logs.some(line => line.includes('"2 weeks" rejected') && line.includes("keepWithin"))).toBe(true);
    await rejected("keep_daily", -1, before.keepDaily);
    await rejected("keep_daily", 99_999, before.keepDaily);
    await rejected("keep_daily", 2.5, before.keepDaily);
    await rejected("keep_daily", "three", before.keepDaily);
    await rejected("backup_frequency", 4, before.frequencyMinutes);
    await rejected("priority", 101, before.priority);
    await rejected("application_mode", "turbo", before.mode, "current_option");
    // all count rules off and no keep-within: nothing would be kept, so the last one is refused
    for (const key of ["keep_weekly", "keep_monthly", "keep_yearly"] as const) expect((await send(key, 0)).published).toBe(0);
    await rejected("keep_daily", 0, before.keepDaily);
    expect(engine.settings()).toEqual({ ...before, keepWeekly: 0, keepMonthly: 0, keepYearly: 0 });

    expect((await send("keep_within", "14d")).published).toBe("14d");
    expect((await send("keep_daily", 3)).published).toBe(3);
    expect((await send("backup_frequency", 60)).published).toBe(60);
    expect((await send("priority", -5)).published).toBe(-5);
    expect((await send("application_mode", "paused", "current_option")).published).toBe("paused");
    const changed = { ...before, keepWithin: "14d", keepDaily: 3, keepWeekly: 0, keepMonthly: 0, keepYearly: 0, frequencyMinutes: 60, priority: -5, mode: "paused" };
    expect(engine.settings()).toEqual(changed);
    const status = await waitFor(
      () => drone.fired(EVENT_TYPES.status).find(event => event.event_data.mode === "paused" && event.event_data.priority === -5),
      "a status event with the new settings",
    );
    expect(status.event_data).toMatchObject({ frequency_minutes: 60 });
    await drone.teardown();

    // a restart on the same state folder and synapse database: the values are back
    const second = await boot(config, { databaseUrl });
    await waitFor(() => second.registration(), "the second registration");
    expect(second.engine.settings()).toEqual(changed);
    expect(second.registered("keep_within")?.native_value).toBe("14d");
    expect(second.registered("keep_daily")?.native_value).toBe(3);
    expect(second.registered("backup_frequency")?.native_value).toBe(60);
    expect(second.registered("priority")?.native_value).toBe(-5);
    expect(second.registered("application_mode")?.current_option).toBe("paused");
    await second.teardown();

    // changed in the state file while the drone was stopped (as the CLI does): the engine's
    // settings win over what synapse's database remembers
    const stateFile = join(repo.root, "state", "testdrone.json");
    const state = JSON.parse(await readFile(stateFile, "utf8")) as { settings: Record<string, unknown> };
    state.settings.keepDaily = 9;
    await writeFile(stateFile, JSON.stringify(state));
    const third = await boot(config, { databaseUrl });
    await waitFor(() => third.registration(), "the third registration");
    expect(third.engine.settings().keepDaily).toBe(9);
    expect(third.registered("keep_daily")?.native_value).toBe(9);
    // the stored rows match this version's entities: nothing to warn about
    expect(third.logs.filter(line => /^(warn|error|fatal)/.test(line))).toEqual([]);
  });

  it("a fire_event HA never confirms is logged after its deadline and holds nothing up", async () => {
    const repo = await makeDroneRepository(1, 1024);
    repos.push(repo);
    const drone = await boot(droneTestConfig(repo), { hass: { EXPECT_RESPONSE_AFTER: 0.2 } });
    // HA answers every fire_event with an error (as for a token without admin rights): hass never settles the call
    const { mock_assistant } = drone.params;
    mock_assistant.socket.onMessage("fire_event", message =>
      mock_assistant.socket.sendMessage({ id: message.id, type: "result", error: { code: "unauthorized", message: "Unauthorized" } } as never),
    );
    const unconfirmed = () =>
      drone.logs.some(line => line.startsWith("warn") && line.includes("backup_drone_result event not confirmed by Home Assistant"));
    const result = await drone.engine.run("stats", "button");
    // the run ended while its result event still waited for HA's reply
    expect(result.outcome).toBe("success");
    expect(unconfirmed()).toBe(false);
    await waitFor(unconfirmed, "the warning about the unconfirmed result event", 5_000);
    expect(drone.engine.live().state).toBe("idle");
    await waitFor(() => drone.published("last_result") === "success", "the entities to follow regardless");
  });

  it("without synapse the drone still fires its events (no entities); without hass the bridge is off", async () => {
    const repo = await makeDroneRepository(1, 1024);
    repos.push(repo);
    const plain = await bootDrone(droneTestConfig(repo, { DRONE_ID: "plaindrone" }));
    teardownPlain = plain.teardown;
    expect(plain.params.drone.home_assistant.mode).toBe("off");
    await plain.teardown();
    teardownPlain = undefined;

    const drone = await boot(droneTestConfig(repo, { STATUS_INTERVAL_SECONDS: 5 }), { synapse: false });
    expect(drone.params.synapse).toBeUndefined();
    expect(drone.params.drone.home_assistant.mode).toBe("events");
    const result = await drone.nextResult("stats", async () => void (await drone.engine.run("stats", "library")));
    expect(result).toMatchObject({ outcome: "success", trigger: "library" });
    expect(drone.sent.filter(message => message.type.startsWith("synapse/"))).toEqual([]);
    const boot0 = drone.fired(EVENT_TYPES.status)[0];
    expect(boot0?.event_data).toMatchObject({ drone_id: "testdrone", entities: {} });

    // the heartbeat: a status event every STATUS_INTERVAL_SECONDS even when nothing changed
    // (a change sends one only when the payload differs from the last one)
    const withoutTime = (data: Record<string, unknown>) => JSON.stringify({ ...data, time: undefined });
    const heartbeat = await waitFor(
      () => {
        const statuses = drone.fired(EVENT_TYPES.status).map(event => event.event_data);
        return statuses.find((data, index) => index > 0 && data.last_result === "success" && withoutTime(data) === withoutTime(statuses[index - 1]!));
      },
      "a heartbeat repeating the last status",
      // the result event was a sign of life: the first heartbeat after it may come two intervals on
      15_000,
    );
    expect(heartbeat).toMatchObject({ state: "idle", last_result: "success" });
  });

  it("no heartbeat while progress events show the drone alive; a change of state still sends a status", async () => {
    const repo = await makeDroneRepository(2000, 2048);
    repos.push(repo);
    // borg create works 20 ms of every 600: the run outlasts several heartbeat intervals while
    // borg still writes progress lines
    const slowBorg = join(repo.root, "slow-borg");
    await writeFile(
      slowBorg,
      [
        "#!/bin/sh",
        'case " $* " in *" create "*) ;; *) exec borg "$@" ;; esac',
        'borg "$@" &',
        "pid=$!",
        "while kill -0 $pid 2>/dev/null; do sleep 0.02; kill -STOP $pid 2>/dev/null; sleep 0.58; kill -CONT $pid 2>/dev/null; done",
        "wait $pid",
        "",
      ].join("\n"),
    );
    await chmod(slowBorg, 0o755);
    const intervalMs = 5000;
    const drone = await boot(droneTestConfig(repo, { STATUS_INTERVAL_SECONDS: intervalMs / 1000, PROGRESS_INTERVAL_MS: 1000, BORG_BINARY: slowBorg }), {
      synapse: false,
    });
    const result = await drone.nextResult("create", async () => void (await drone.engine.run("create", "library")));
    expect(result.outcome).toBe("success");

    const at = (event: { event_data: Record<string, unknown> }) => Date.parse(String(event.event_data.time));
    const creating = drone.fired(EVENT_TYPES.progress).filter(event => event.event_data.state === "creating");
    const from = at(creating[0]!);
    const to = at(creating.at(-1)!);
    // the create lasted long enough that heartbeats would have gone out during it
    expect(to - from).toBeGreaterThan(2 * intervalMs);
    const statuses = drone.fired(EVENT_TYPES.status);
    const during = statuses.filter(event => at(event) > from && at(event) < to);
    expect(during).toEqual([]);
    // the change to creating sent its status at once, and the end its own
    expect(statuses.some(event => event.event_data.state === "creating")).toBe(true);
    const end = await waitFor(
      () => drone.fired(EVENT_TYPES.status).find(event => at(event) > to && event.event_data.state === "idle" && event.event_data.last_result === "success"),
      "the status of the run's end",
    );
    // idle again: the heartbeat is back
    await waitFor(() => drone.fired(EVENT_TYPES.status).find(event => at(event) > at(end)), "a heartbeat after the run", 3 * intervalMs);
  });
});
