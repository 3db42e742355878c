/** Failures of the drone itself (not of borg). */
import { type ErrorKind } from "../../../libs/protocol/index.mjs";

/** A failure of the drone itself (not of borg), with a kind like borg's. */
export class DroneError extends Error {
  override readonly name = "DroneError";
  constructor(
    readonly kind: ErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/** Why a run was stopped from outside: its timeout, or a person (or program) cancelling it. */
export type StopReason = { kind: "run_timeout"; minutes: number } | { kind: "cancelled"; by: string };

/** The abort reason of a run stopped from outside. */
export class RunStop extends DroneError {
  constructor(readonly stop: StopReason) {
    super(stop.kind, stop.kind === "cancelled" ? `cancelled by ${stop.by}` : "run timeout");
  }
}
