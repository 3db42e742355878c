/**
 * The progress of a whole-repository check with real borg: borg counts each of its phases
 * (segments, data, archives) from 0 %, the drone shows one bar that never goes back.
 */
import { afterEach, describe, expect, it } from "vitest";

import { type ProgressEvent } from "../../../libs/protocol/index.mjs";
import { type TestRepository } from "../../helpers/borg.mjs";
import { bootDrone, droneTestConfig, makeDroneRepository } from "../../helpers/drone.mjs";

describe("check and verify progress", () => {
  let repo: TestRepository | undefined;
  let teardown: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await teardown?.();
    await repo?.remove();
    teardown = undefined;
    repo = undefined;
  });

  it("verify and check: one bar over borg's phases, never backwards, ending at 100 %", async () => {
    repo = await makeDroneRepository(12, 512 * 1024);
    const drone = await bootDrone(droneTestConfig(repo));
    teardown = drone.teardown;
    expect((await drone.engine.run("create", "library")).outcome).toBe("success");
    for (const operation of ["verify", "check"] as const) {
      const events: ProgressEvent[] = [];
      const stop = drone.engine.onProgress(event => events.push(event));
      const result = await drone.engine.run(operation, "library");
      stop();
      expect(result.outcome, operation).toBe("success");
      const percents = events.filter(event => event.run_id === result.run_id).map(event => event.percent ?? 0);
      // borg reports more than one phase: without the mapping the bar would restart
      expect(percents.filter(percent => percent > 0 && percent < 100).length, operation).toBeGreaterThan(2);
      for (const [index, percent] of percents.entries()) expect(percent, `${operation} event ${index}: ${percents.join(", ")}`).toBeGreaterThanOrEqual(percents[index - 1] ?? 0);
      expect(percents.at(-1), operation).toBe(100);
    }
  });
});
