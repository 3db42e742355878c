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
    ],
  },
});
