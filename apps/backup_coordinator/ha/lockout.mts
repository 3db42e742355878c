/**
 * What the coordinator says when Home Assistant refuses its connection (see
 * libs/ha/synapse-link.mts): its own entities are then unavailable, so the log and a
 * persistent notification (a plain service call over the hass socket, which still works) are
 * where a person learns of it.
 */
import { lockedOutMessage } from "../../../libs/ha/synapse-link.mjs";

/** The one line the coordinator logs when it finds itself locked out. */
export function coordinatorLockedOutMessage(coordinatorId: string): string {
  return lockedOutMessage(
    `the coordinator ${coordinatorId}`,
    "its entities (Run Now, Pause, Concurrency Limit, the drones' problem sensors and the fleet sensors) stay unavailable " +
      "and their buttons and switches reach nothing. Scheduled rounds still run (drones are started through Home Assistant " +
      "and backup_drone_command events), and problems still reach its log and events",
  );
}

/** The persistent notification's id: one per coordinator, dismissed when HA takes the connection again. */
export const lockoutNotificationId = (coordinatorId: string) => `${coordinatorId}_synapse_locked_out`;

/** The `persistent_notification.create` data for a lockout. */
export function lockoutNotification(coordinatorId: string): { notification_id: string; title: string; message: string } {
  return {
    notification_id: lockoutNotificationId(coordinatorId),
    title: "Backup Coordinator: restart Home Assistant",
    message: coordinatorLockedOutMessage(coordinatorId),
  };
}
