/**
 * Scheduling rules both apps apply: the drone to its own schedule (standalone mode), the
 * coordinator to the drones it schedules.
 */

/**
 * A drone's next regular time after a cancel at `cancelledAt`: its last backup plus the first
 * whole number of frequencies that lies after the cancel; a drone never backed up waits one
 * frequency from the cancel.
 */
export function nextRegularTime(lastBackup: Date | null, frequencyMinutes: number, cancelledAt: Date): Date {
  const period = Math.max(frequencyMinutes, 1) * 60_000;
  if (lastBackup === null) return new Date(cancelledAt.getTime() + period);
  const periods = Math.floor((cancelledAt.getTime() - lastBackup.getTime()) / period) + 1;
  return new Date(lastBackup.getTime() + Math.max(periods, 1) * period);
}
