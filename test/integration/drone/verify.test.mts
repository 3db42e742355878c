/**
 * Integrity checks against real borg on repositories damaged on purpose: what each check
 * mode catches, how a failure reaches Home Assistant (result event, Last Check Result,
 * Last Error, the heartbeat), the checks after a backup, and the check schedule.
 */
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";

import { afterEach, describe, expect, it } from "vitest";

import { emptyState } from "../../../apps/drone/core/state.mjs";
import { EVENT_TYPES, resultEventSchema, statusEventSchema } from "../../../libs/protocol/index.mjs";
import { type TestRepository } from "../../helpers/borg.mjs";
import { bootDrone, droneTestConfig, makeDroneRepository } from "../../helpers/drone.mjs";
import { bootHassDrone, type HassDrone, teardownCheckingSecrets } from "../../helpers/hass.mjs";
import { waitFor } from "../../helpers/wait.mjs";

/**
 * Damage the largest chunk of a repository: borg 1.2 segment files are `BORG_SEG` and then
 * entries `crc32 (4) | size (4) | tag (1) | key (32) | data`, the crc over everything after
 * itself. The largest entry holds file data (the manifest and archive metadata are small).
 * With `fixCrc` the entry's checksum is recomputed, as tampering or a consistent rewrite
 * would leave it: only reading and authenticating the data notices then.
 */
async function damageLargestChunk(repo: TestRepository, fixCrc: boolean): Promise<void> {
  const dir = join(repo.repository.location, "data", "0");
  let largest: { file: string; offset: number; size: number } | undefined;
  for (const name of await readdir(dir)) {
    const file = join(dir, name);
    const bytes = await readFile(file);
    if (bytes.subarray(0, 8).toString("latin1") !== "BORG_SEG") continue;
    for (let offset = 8; offset + 9 <= bytes.length; ) {
      const size = bytes.readUInt32LE(offset + 4);
      if (size < 9) break;
      const tag = bytes.readUInt8(offset + 8);
      if (tag === 0 && (!largest || size > largest.size)) largest = { file, offset, size };
      offset += size;
    }
  }
  if (!largest || largest.size < 10_000) throw new Error("no chunk of file data found in the repository");
  const bytes = await readFile(largest.file);
  const position = largest.offset + 41 + Math.floor((largest.size - 41) / 2);
  bytes.writeUInt8(bytes.readUInt8(position) ^ 0xff, position);
  if (fixCrc) bytes.writeUInt32LE(crc32(bytes.subarray(largest.offset + 4, largest.offset + largest.size)), largest.offset);
  await writeFile(largest.file, bytes);
}

describe("a damaged repository, seen from Home Assistant", () => {
  const drones: HassDrone[] = [];
  const repos: TestRepository[] = [];
  afterEach(async () => {
    for (const drone of drones.splice(0)) {
      // the canaries: in no log line, no event, no registration or patch
      await teardownCheckingSecrets(drone);
    }
    for (const repo of repos.splice(0)) await repo.remove();
  });

  it("a flipped byte in chunk data: Check Repository fails with kind integrity; the entities and the heartbeat show it", async () => {
    const repo = await makeDroneRepository(4, 256 * 1024);
    repos.push(repo);
    const drone = await bootHassDrone(droneTestConfig(repo));
    drones.push(drone);
    await waitFor(() => drone.registration(), "the registration");
    expect(drone.registered("last_check_result")).toMatchObject({ device_class: "enum", state: "unknown" });

    expect((await drone.nextResult("create", () => drone.press("create_backup"))).outcome).toBe("success");
    const healthy = await drone.nextResult("check", () => drone.press("check_repository"));
    expect(healthy).toMatchObject({ outcome: "success", checks: [{ kind: "repository", archive: null, healthy: true, problems: [] }] });
    await waitFor(() => drone.published("last_check_result") === "success", "Last Check Result success");

    await damageLargestChunk(repo, false);
    const failed = await drone.nextResult("check", () => drone.press("check_repository"));
    expect(failed).toMatchObject({ outcome: "failed", error_kind: "integrity", trigger: "button" });
    expect(failed.error).toContain("found damage");
    expect(failed.error).toContain("docs/restore.md");
    expect(failed.checks).toEqual([{ kind: "repository", archive: null, healthy: false, problems: expect.arrayContaining([expect.stringMatching(/checksum mismatch/)]) as unknown }]);
    expect(resultEventSchema.safeParse(failed).success).toBe(true);

    await waitFor(() => drone.published("last_check_result") === "failed", "Last Check Result failed");
    await waitFor(() => drone.published("last_result") === "failed", "Last Result failed");
    expect(String(drone.published("last_error"))).toContain("found damage");
    expect(drone.published("last_check")).toBe(drone.engine.persisted().lastCheck);
    expect(Date.parse(String(drone.published("last_check")))).toBeGreaterThanOrEqual(Date.parse(failed.started_at));
    const status = await waitFor(
      () => drone.fired(EVENT_TYPES.status).find(event => event.event_data.last_check_result === "failed"),
      "a heartbeat with the failed check",
    );
    expect(statusEventSchema.safeParse(status.event_data).success).toBe(true);
    for (const event of drone.fired(EVENT_TYPES.result)) expect(resultEventSchema.safeParse(event.event_data).success).toBe(true);
  });
});

describe("which check catches which damage, and the checks after a backup", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it("tampered data with a matching checksum: the plain check passes, --verify-data and the spot check after a backup catch it", async () => {
    const repo = await makeDroneRepository(4, 256 * 1024);
    const { engine, teardown } = await bootDrone(droneTestConfig(repo, { VERIFY_AFTER_BACKUP: true, SPOT_CHECK_AFTER_BACKUP: true }));
    cleanups.push(teardown, repo.remove);
    const states: string[] = [];
    engine.onChange(() => void states.push(engine.live().state));

    const created = await engine.run("create", "library");
    expect(created.outcome).toBe("success");
    expect(created.checks).toEqual([
      { kind: "archive", archive: created.archive?.name, healthy: true, problems: [] },
      { kind: "spot", archive: created.archive?.name, healthy: true, problems: [] },
    ]);
    expect(states).toEqual(expect.arrayContaining(["creating", "checking", "spot_checking"]));
    // checks after a backup say nothing about the whole repository: no verdict yet
    expect(engine.persisted().lastCheckResult).toBeNull();

    await damageLargestChunk(repo, true);
    const plain = await engine.run("check", "library");
    expect(plain).toMatchObject({ outcome: "success", checks: [{ kind: "repository", healthy: true }] });
    expect(engine.persisted().lastCheckResult).toBe("success");

    const verified = await engine.run("verify", "library");
    expect(verified).toMatchObject({ outcome: "failed", error_kind: "integrity", checks: [{ kind: "verify_data", healthy: false }] });
    expect(verified.checks?.[0]?.problems.join("\n")).toMatch(/MAC Authentication failed/);
    expect(states).toContain("verifying_data");
    expect(engine.persisted()).toMatchObject({ lastCheckResult: "failed", lastVerifyData: expect.any(String) as unknown });

    // the next backup stores the same data again (deduplicated onto the damaged chunk): reading it back fails
    const again = await engine.run("create", "library");
    expect(again).toMatchObject({ outcome: "failed", error_kind: "integrity" });
    expect(again.archive?.name).toMatch(/^testdrone@/);
    expect(again.checks?.map(check => [check.kind, check.healthy])).toEqual([
      ["archive", true],
      ["spot", false],
    ]);
    expect(again.checks?.[1]?.problems.join(" ")).toMatch(/MAC Authentication failed/);
    expect(again.error).not.toContain("Traceback");
    expect(engine.persisted().lastResult).toBe("failed");
  });
});

describe("the check schedule of scheduled runs", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  /** A drone whose state file says its check schedule began `daysAgo` days ago (null: never). */
  const bootWithHistory = async (daysAgo: number | null, extra: Record<string, unknown> = {}) => {
    const repo = await makeDroneRepository(2, 64 * 1024);
    const config = droneTestConfig(repo, extra);
    const state = { ...emptyState(), checksSince: daysAgo === null ? null : new Date(Date.now() - daysAgo * 86_400_000).toISOString() };
    await mkdir(config.STATE_DIR, { recursive: true });
    await writeFile(join(config.STATE_DIR, "testdrone.json"), JSON.stringify(state));
    const drone = await bootDrone(config);
    cleanups.push(drone.teardown, repo.remove);
    return drone.engine;
  };

  it("a drone never checked starts counting at its first scheduled run, and does not check then", async () => {
    const engine = await bootWithHistory(null);
    expect(engine.checkDue()).toBeUndefined();
    const first = await engine.run("scheduled", "library");
    expect(first).toMatchObject({ outcome: "success", checks: [] });
    expect(Date.parse(engine.persisted().checksSince ?? "")).toBeGreaterThanOrEqual(Date.parse(first.started_at));
    expect(engine.checkDue(new Date(Date.now() + 8 * 86_400_000))).toBe("check");
    expect(engine.checkDue(new Date(Date.now() + 31 * 86_400_000))).toBe("verify");
  });

  it("when the data verification is due, the scheduled run ends with it; the next run checks nothing", async () => {
    const engine = await bootWithHistory(40);
    expect(engine.checkDue()).toBe("verify");
    const run = await engine.run("scheduled", "library");
    expect(run.outcome).toBe("success");
    expect(run.checks).toEqual([{ kind: "verify_data", archive: null, healthy: true, problems: [] }]);
    expect(engine.persisted()).toMatchObject({ lastCheckResult: "success", lastCheck: expect.any(String) as unknown, lastVerifyData: expect.any(String) as unknown });
    expect(engine.checkDue()).toBeUndefined();
    expect((await engine.run("scheduled", "library")).checks).toEqual([]);
  });

  it("a plain check when only it is due; 0 turns a schedule off", async () => {
    const checkOnly = await bootWithHistory(10, { VERIFY_DATA_FREQUENCY_DAYS: 0 });
    expect((await checkOnly.run("scheduled", "library")).checks?.map(check => check.kind)).toEqual(["repository"]);
    expect(checkOnly.persisted().lastVerifyData).toBeNull();
    const never = await bootWithHistory(400, { CHECK_FREQUENCY_DAYS: 0, VERIFY_DATA_FREQUENCY_DAYS: 0 });
    expect(never.checkDue()).toBeUndefined();
    expect((await never.run("scheduled", "library")).checks).toEqual([]);
  });
});
