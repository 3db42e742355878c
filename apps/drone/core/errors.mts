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
