/** What the drone says when Home Assistant refuses its connection (see libs/ha/synapse-link.mts). */
import { lockedOutMessage } from "../../../libs/ha/synapse-link.mjs";

/** The one line the drone logs when it finds itself locked out. */
export function droneLockedOutMessage(droneId: string): string {
  return lockedOutMessage(
    `drone ${droneId}`,
    "the drone's entities stay unavailable and their buttons reach nothing. Backups still run through backup_drone_command " +
      "events (the coordinator sends them)",
  );
}
