import { defineConfig } from "vitest/config";

/**
 * What runs a second time on borg 1.4 (the `borg14` project): the borg client's integration
 * tests (create, list, info, extract, prune, compact, check, failures, ssh) and the drone's
 * end-to-end tests of a scheduled run, borg's failures, cancel with its checkpoint, and
 * dumps streamed through FIFOs with --read-special (borg's reading of a FIFO is what a dump
 * relies on), and the pre-scan against what borg's walk stores. The prune guard (our
 * judgement of borg's same JSON), restore, find and the rest stay on 1.2.4 only, to keep the
 * added CI time small.
 */
const BORG14_FILES = [
  "test/integration/borg/*.test.mts",
  "test/integration/drone/engine.test.mts",
  "test/integration/drone/cancel.test.mts",
  "test/integration/drone/borg-failures.test.mts",
  "test/integration/drone/dumps.test.mts",
  "test/integration/drone/prescan-borg.test.mts",
];

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
        // the same tests on borg 1.4.x from PyPI, built once into a cached venv (test/borg14)
        // and put first on PATH; Debian 12's borg 1.2.4 runs the `integration` project
        test: {
          name: "borg14",
          include: BORG14_FILES,
          testTimeout: 180_000,
          // an uncached build of borg 1.4 happens in the global setup (about 1–1.5 minutes here)
          hookTimeout: 120_000,
          pool: "forks",
          globalSetup: ["test/borg14/global-setup.mts"],
          setupFiles: ["test/borg14/setup.mts"],
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
