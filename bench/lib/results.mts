/** The raw results file of a benchmark run (bench/results/*.json), validated when read back. */
import { z } from "zod";

import { coordinatorMeasurementSchema, progressSampleSchema } from "./messages.mjs";

const timingBase = { ms: z.number() };

const busRowSchema = z.object({ type: z.string(), events: z.number(), bytes: z.number() });
const recorderRowSchema = z.object({ table: z.string(), owner: z.string(), rows: z.number(), bytes: z.number() });

/** One measured window of bench/ha-cost.mts: the bus's events by type, the recorder's rows by table and owner. */
export const haCostWindowSchema = z.object({
  /** Wall time of the window. */
  seconds: z.number(),
  bus: z.array(busRowSchema),
  recorder: z.array(recorderRowSchema),
  /** Growth of the recorder's tables and indexes as SQLite's pages count it (dbstat). */
  diskBytes: z.number(),
});

/** What a drone costs Home Assistant (bench/ha-cost.mts). */
export const haCostSchema = z.union([
  z.object({
    status: z.literal("measured"),
    haVersion: z.string(),
    synapseVersion: z.string(),
    settings: z.object({
      progressIntervalMs: z.number(),
      statusIntervalSeconds: z.number(),
      droneProgressEntityMs: z.number(),
      coordinatorProgressMs: z.number(),
      borgDutyPercent: z.number(),
    }),
    data: z.object({ files: z.number(), bytes: z.number() }),
    run: haCostWindowSchema.extend({ runSeconds: z.number(), createSeconds: z.number() }),
    idle: haCostWindowSchema,
  }),
  z.object({ status: z.enum(["skipped", "failed"]), reason: z.string() }),
]);

/** Everything one run measured, before any summary. */
export const resultsSchema = z.object({
  v: z.literal(1),
  startedAt: z.string(),
  finishedAt: z.string(),
  quick: z.boolean(),
  /** The command that reproduces the run. */
  command: z.string(),
  machine: z.object({
    cpu: z.string(),
    cores: z.number(),
    memoryBytes: z.number(),
    freeMemoryBytes: z.number(),
    loadAverage: z.number(),
    kernel: z.string(),
    disk: z.string(),
    node: z.string(),
    borg: z.string(),
    borgmatic: z.string().nullable(),
    /** borg 1.4.x of the second create comparison (absent in older results and when it was left out). */
    borg14: z.string().optional(),
    /** borgmatic 2.x from PyPI (absent in older results and when it was left out). */
    borgmatic2: z.string().optional(),
    os: z.string(),
  }),
  settings: z.object({
    compression: z.string(),
    encryption: z.string(),
    rounds: z.object({ first: z.number(), incremental: z.number(), eta: z.number(), startup: z.number() }),
    progressIntervalMs: z.number(),
    drones: z.number(),
  }),
  datasets: z.array(
    z.object({
      name: z.string(),
      files: z.number(),
      bytes: z.number(),
      generateMs: z.number(),
      changes: z.array(z.object({ files: z.number(), bytes: z.number() })),
    }),
  ),
  startup: z.array(z.object({ round: z.number(), command: z.string(), ...timingBase })),
  create: z.array(
    z.object({
      dataset: z.string(),
      phase: z.enum(["first", "incremental"]),
      round: z.number(),
      variant: z.string(),
      /** The borg version the comparison ran on; older results ran on machine.borg only. */
      borg: z.string().optional(),
      peakRssBytes: z.number().nullable(),
      ...timingBase,
    }),
  ),
  eta: z.array(
    z.object({
      dataset: z.string(),
      phase: z.enum(["first", "incremental"]),
      interval: z.enum(["default", "every_line"]),
      progress: z.array(progressSampleSchema),
      startedAt: z.number(),
      ms: z.number(),
    }),
  ),
  coordinator: z
    .object({
      step: z.object({ drones: z.number(), hosts: z.number(), startsPerStep: z.number(), evaluateMs: z.array(z.number()), planStartsMs: z.array(z.number()) }),
      detection: z.array(z.object({ kind: z.string(), afterMs: z.number(), thresholdMs: z.number(), tickMs: z.number() })),
      process: coordinatorMeasurementSchema.nullable(),
      processError: z.string().nullable(),
      /** The real `backup-coordinator` process against the emulated Home Assistant (bench/coordinator-real.mts); absent in older results. */
      real: z
        .object({
          drones: z.number(),
          heartbeats: z.number(),
          bootRssBytes: z.number(),
          rssBytes: z.number(),
          peakRssBytes: z.number(),
          presses: z.number(),
          /** CPU time of the coordinator from boot to the end of the last round; absent in older results. */
          cpuMs: z.number().optional(),
          /** The node options it ran with (its systemd unit's); absent in older results. */
          nodeOptions: z.array(z.string()).optional(),
        })
        .nullable()
        .optional(),
      realError: z.string().nullable().optional(),
    })
    .nullable(),
  latency: z.union([
    z.object({
      status: z.literal("measured"),
      runs: z.array(
        z.object({
          progressIntervalMs: z.number(),
          /** ms from borg's own `time` stamp on a progress line to the HA event reaching a subscriber. */
          latenciesMs: z.array(z.number()),
          /** Progress events per second while borg created (as received). */
          eventsPerSecond: z.number(),
          events: z.number(),
          unmatched: z.number(),
        }),
      ),
      path: z.string(),
    }),
    z.object({ status: z.literal("pending"), reason: z.string() }),
  ]),
  /** What one drone costs Home Assistant; absent in older results. */
  haCost: haCostSchema.optional(),
  notes: z.array(z.string()),
});

/** A results file. */
export type Results = z.infer<typeof resultsSchema>;

/** What bench/ha-cost.mts measured, or why not. */
export type HaCost = z.infer<typeof haCostSchema>;
/** One window of it. */
export type HaCostWindow = z.infer<typeof haCostWindowSchema>;
