import { describe, expect, it } from "vitest";

describe("package subpath exports (built by npm's prepare step)", () => {
  it("backup-coordinator/drone, /coordinator, /borg and /protocol resolve to the library entry points", async () => {
    const drone = await import("backup-coordinator/drone");
    expect(drone.LIB_DRONE.name).toBe("drone");
    expect(typeof drone.createDroneApplication).toBe("function");
    expect(typeof drone.createDroneEngine).toBe("function");
    const borg = await import("backup-coordinator/borg");
    expect(typeof borg.createBorgClient).toBe("function");
    const protocol = await import("backup-coordinator/protocol");
    expect(protocol.EVENT_TYPES.result).toBe("backup_drone_result");
    const coordinator = await import("backup-coordinator/coordinator");
    expect(coordinator.LIB_BACKUP_COORDINATOR.name).toBe("backup_coordinator");
  });
});
