/** Failures of the drone itself (not of borg). */

/** A failure of the drone itself (not of borg), with a kind like borg's. */
export class DroneError extends Error {
  override readonly name = "DroneError";
  constructor(
    readonly kind: string,
    message: string,
  ) {
    super(message);
  }
}
