/** The pictures `npm run docs:screenshots` makes, by file name in docs/images (the docs test checks every reference to them). */
export const PICTURES = {
  droneDevice: "ha-drone-device.png",
  coordinatorDevice: "ha-coordinator-device.png",
  dashboard: "ha-dashboard.png",
  progress: "cli-create-progress.png",
} as const;
