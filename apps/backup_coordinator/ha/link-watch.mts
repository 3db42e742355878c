/** The coordinator's watch on its synapse connection: a lockout goes to its log and a persistent notification. */
import { type TServiceParams } from "@digital-alchemy/core";

import { withDeadline } from "../../../libs/ha/deadline.mjs";
import { reportLockout, watchSynapseLink } from "../../../libs/ha/synapse-link.mjs";
import { coordinatorLockedOutMessage, lockoutNotification, lockoutNotificationId } from "./lockout.mjs";

/**
 * Watch whether HA takes the coordinator's connection (HA refuses it after one that dropped
 * without going offline, like a drone's). Its own entities are then unavailable, so it says
 * so in its log and in a persistent notification, sent over the hass socket, which HA still
 * takes; both say the one step that helps: restarting Home Assistant.
 */
export function watchCoordinatorLink(options: {
  hass: TServiceParams["hass"];
  synapse: TServiceParams["synapse"];
  scheduler: TServiceParams["scheduler"];
  logger: TServiceParams["logger"];
  coordinatorId: string;
  callTimeoutMs: number;
  closing: () => boolean;
}): void {
  const { hass, synapse, scheduler, logger, coordinatorId, callTimeoutMs } = options;
  const notify = (what: string, service: "create" | "dismiss", service_data: Record<string, unknown>) =>
    void withDeadline(hass.socket.sendMessage({ type: "call_service", domain: "persistent_notification", service, service_data }), callTimeoutMs).then(
      outcome => {
        if (!outcome.ok) logger.warn(`${what} failed: ${outcome.reason}`);
      },
    );
  const report = reportLockout(() => coordinatorLockedOutMessage(coordinatorId), {
    lockedOut: message => {
      logger.warn(message);
      notify("creating the lockout notification", "create", lockoutNotification(coordinatorId));
    },
    recovered: () => {
      logger.info("Home Assistant takes the coordinator's connection again: its entities work");
      notify("dismissing the lockout notification", "dismiss", { notification_id: lockoutNotificationId(coordinatorId) });
    },
  });
  watchSynapseLink({
    hass,
    synapse,
    scheduler,
    deadlineMs: () => callTimeoutMs,
    onChange: (link, previous) => {
      logger.debug(`synapse link: ${previous} → ${link}`);
      if (!options.closing()) report(link);
    },
  });
}
