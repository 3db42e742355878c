import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.mts"],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.mts"],
          testTimeout: 180_000,
          hookTimeout: 120_000,
          pool: "forks",
        },
      },
      {
        // the real Home Assistant (test/homeassistant): one instance at a time, after the other
        // projects, so that boots and backups do not fight the rest of the suite for the CPU
        test: {
          name: "ha",
          include: ["test/ha/**/*.test.mts"],
          testTimeout: 300_000,
          // an uncached install of HA's venv happens in the first beforeAll (about 4 minutes here)
          hookTimeout: 900_000,
          pool: "forks",
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
