/**
 * `error_kind` on the wire is one of the protocol's kinds; a reader still counts a result whose
 * kind it does not know (another drone version's), as `unknown`.
 */
import { describe, expect, it } from "vitest";

import { DroneError } from "../../../apps/drone/core/errors.mjs";
import { BORG_ERROR_KINDS } from "../../../libs/borg/index.mjs";
import {
  DRONE_ERROR_KINDS,
  ERROR_KINDS,
  knownErrorKind,
  PROTOCOL_VERSION,
  readResultEvent,
  type ResultEvent,
  resultEventSchema,
} from "../../../libs/protocol/index.mjs";

const failed = (error_kind: string | null) => ({
  v: PROTOCOL_VERSION,
  drone_id: "laptop",
  run_id: "run-1",
  operation: "scheduled",
  repository: "primary",
  trigger: "button",
  outcome: "failed",
  error_kind,
  error: "the repository's quota is used up; free space on the host",
  warnings: [],
  started_at: "2026-11-22T02:30:00.000Z",
  finished_at: "2026-11-22T02:33:00.000Z",
  duration_seconds: 180,
  archive: null,
  pruned: [],
});

describe("error kinds", () => {
  it("are borg's and the drone's, each once", () => {
    expect(ERROR_KINDS).toEqual([...BORG_ERROR_KINDS, ...DRONE_ERROR_KINDS]);
    expect(new Set(ERROR_KINDS).size).toBe(ERROR_KINDS.length);
    for (const kind of ["crashed", "hook_failed", "sources_missing", "prune_held", "run_timeout", "lock_timeout", "integrity"]) expect(ERROR_KINDS).toContain(kind);
  });

  it("the result schema takes every known kind and null, and refuses another", () => {
    for (const kind of [...ERROR_KINDS, null]) expect(resultEventSchema.safeParse(failed(kind)).success, String(kind)).toBe(true);
    expect(resultEventSchema.safeParse(failed("quota_exceeded_v9")).success).toBe(false);
  });

  it("a reader counts a result of an unknown kind, as unknown, with its error text", () => {
    const read = readResultEvent(failed("quota_exceeded_v9"));
    expect(read.success).toBe(true);
    expect(read.data).toMatchObject({ run_id: "run-1", outcome: "failed", error_kind: "unknown", error: "the repository's quota is used up; free space on the host" });
    expect(resultEventSchema.safeParse(read.data).success).toBe(true);
  });

  it("a reader keeps a known kind and null as they are", () => {
    expect(readResultEvent(failed("lock_timeout")).data?.error_kind).toBe("lock_timeout");
    expect(readResultEvent(failed(null)).data?.error_kind).toBeNull();
    expect(knownErrorKind("prune_held")).toBe("prune_held");
    expect(knownErrorKind("")).toBe("unknown");
  });

  it("a reader takes a result with more notes, or a longer cancelled_by, than the limits, and cuts them", () => {
    const notes = Array.from({ length: 14 }, (_, index) => `note ${index}`);
    const read = readResultEvent({ ...failed("cancelled"), outcome: "interrupted", notes, cancelled_by: "x".repeat(400) });
    expect(read.success).toBe(true);
    expect(read.data?.notes).toEqual(notes.slice(0, 10));
    expect(read.data?.cancelled_by?.endsWith("…")).toBe(true);
    expect(resultEventSchema.safeParse(read.data).success).toBe(true);
  });

  it("a reader still refuses what is not a result", () => {
    expect(readResultEvent({ ...failed("lock_timeout"), outcome: "maybe" }).success).toBe(false);
    expect(readResultEvent({ ...failed("lock_timeout"), error_kind: 7 }).success).toBe(false);
  });

  it("the drone's errors carry a kind of the protocol", () => {
    const error = new DroneError("hook_failed", "the hook before_backup failed");
    const kind: ResultEvent["error_kind"] = error.kind;
    expect(kind).toBe("hook_failed");
  });
});
