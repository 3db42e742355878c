import { type TServiceParams } from "@digital-alchemy/core";

/** Options the host (the daemon main) sets before boot. */
export interface StandaloneService {
  /** Turn the drone's own schedule on (the daemon does; one-shot commands and tests leave it off). */
  enable(): void;
  /** Look for due work now (also runs every minute once enabled). */
  tick(): void;
}

/**
 * Standalone mode: the drone schedules itself from Backup Frequency (and the offsite
 * frequency). In coordinated or paused mode it does nothing.
 */
export function StandaloneService({ drone, lifecycle, scheduler, logger }: TServiceParams): StandaloneService {
  let enabled = false;
  const tick = () => {
    if (!enabled) return;
    const engine = drone.engine.engine;
    for (const operation of engine.due()) {
      const live = engine.live();
      if (live.operation === operation || live.queue.includes(operation)) continue;
      logger.info(`${operation} is due (standalone schedule)`);
      engine.request(operation, "schedule");
    }
  };
  lifecycle.onReady(() => {
    if (!enabled) return;
    scheduler.setInterval(tick, 60_000);
    scheduler.setTimeout(tick, 2_000);
  });
  return {
    enable: () => {
      enabled = true;
    },
    tick,
  };
}
