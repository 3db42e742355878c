/**
 * The engine without borg: the queue and its refusals, the operation table, the run timeout,
 * hook policies and the error table, over a fake borg client and a fake hook runner. The
 * state store and the run lock are the real ones, in a temp folder. The same behaviour on
 * the real borg is in test/integration/drone.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { BorgError } from "../../../libs/borg/index.mjs";
import { EVENT_LIMITS, type ResultEvent } from "../../../libs/protocol/index.mjs";
import { defaultConfigValues, type DroneConfig, parseDroneConfig, SETTING_RANGES } from "../../../apps/drone/config.mjs";
import { OPERATION_STEPS } from "../../../apps/drone/core/actions/operations.mjs";
import { createDroneEngine, type DroneEngine } from "../../../apps/drone/core/engine.mjs";
import { type HookOutcome } from "../../../apps/drone/core/hooks.mjs";
import { type HookRunner } from "../../../apps/drone/core/run-context.mjs";
import { SettingsError } from "../../../apps/drone/core/settings.mjs";
import { openStateStore } from "../../../apps/drone/core/state.mjs";
import { type FakeBorg, fakeBorg, type FakeCommands, fakeRepository, healthyCommands, ran } from "../../helpers/fake-borg.mjs";
import { tempDir } from "../../helpers/fs.mjs";

const quiet = () => undefined;

/** A promise the test settles. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>(ok => (resolve = ok));
  return { promise, resolve };
}

/** A borg command that runs until its run is aborted, then fails as borg does when interrupted. */
const untilAborted =
  (started?: () => void) =>
  (...args: unknown[]): Promise<never> => {
    started?.();
    const call = args.at(-1) as { signal?: AbortSignal } | undefined;
    return new Promise((_, fail) => {
      call?.signal?.addEventListener("abort", () =>
        fail(new BorgError("interrupted", "borg was interrupted", { command: "compact" })),
      );
    });
  };

describe("the drone engine, without borg", () => {
  let dir: { path: string; remove: () => Promise<void> };
  const engines: DroneEngine[] = [];

  beforeEach(async () => {
    dir = await tempDir("engine-unit");
    await mkdir(join(dir.path, "source"), { recursive: true });
    await writeFile(join(dir.path, "source", "file.txt"), "data");
  });
  afterEach(async () => {
    for (const engine of engines.splice(0)) await engine.shutdown();
    await dir.remove();
  });

  const configWith = (values: Record<string, unknown> = {}, override: Partial<DroneConfig> = {}): DroneConfig => ({
    ...parseDroneConfig({
      ...defaultConfigValues(),
      DRONE_ID: "laptop",
      REPOSITORY: join(dir.path, "repo"),
      SOURCES: [join(dir.path, "source")],
      STATE_DIR: join(dir.path, "state"),
      PRESCAN: false,
      ...values,
    }),
    ...override,
  });

  const engineWith = async (
    commands: FakeCommands,
    options: { values?: Record<string, unknown>; override?: Partial<DroneConfig>; runHook?: HookRunner } = {},
  ): Promise<{ engine: DroneEngine; borg: FakeBorg; logs: string[] }> => {
    const config = configWith(options.values, options.override);
    const store = await openStateStore(join(config.stateDir, "laptop.json"), quiet);
    const borg = fakeBorg(commands);
    const logs: string[] = [];
    const log = (message: string) => void logs.push(message);
    const engine = createDroneEngine({
      config,
      store,
      log: { debug: log, info: log, warn: log, error: log },
      borgClient: () => borg.client,
      runHook: options.runHook,
    });
    engines.push(engine);
    return { engine, borg, logs };
  };

  describe("the queue", () => {
    it("runs one operation at a time: a second press of the same one is refused, another waits, a full queue refuses", async () => {
      const compacting = deferred();
      const { engine, borg } = await engineWith(
        { ...healthyCommands(), compact: untilAborted(() => compacting.resolve()) },
        { values: { QUEUE_LIMIT: 1 } },
      );
      const first = engine.request("compact", "button");
      await compacting.promise;
      expect(first).toMatchObject({ accepted: true, queued: false });

      expect(engine.request("compact", "button")).toEqual({ accepted: false, reason: "compact is already running" });
      const second = engine.request("stats", "button");
      expect(second).toMatchObject({ accepted: true, queued: true });
      expect(engine.request("stats", "cli")).toEqual({ accepted: false, reason: "stats is already queued" });
      expect(engine.request("check", "button")).toEqual({ accepted: false, reason: "the queue is full (1)" });
      expect(engine.live()).toMatchObject({ operation: "compact", state: "compacting", queue: ["stats"] });
      // nothing but the running compact has reached borg
      expect(borg.calls.map(call => call.command)).toEqual(["compact"]);
    });

    it("refuses an offsite run without an offsite repository, and everything once shutting down", async () => {
      const { engine } = await engineWith(healthyCommands());
      expect(engine.request("offsite", "button")).toEqual({ accepted: false, reason: "no offsite repository is configured" });
      await engine.shutdown();
      expect(engine.request("stats", "button")).toEqual({ accepted: false, reason: "the drone is shutting down" });
      await expect(engine.run("stats", "button")).rejects.toMatchObject({ kind: "refused" });
    });

    it("runs a queued operation after the running one, in order, each with its own result", async () => {
      const compacting = deferred();
      const release = deferred();
      const { engine, borg } = await engineWith({
        ...healthyCommands(),
        compact: async () => {
          compacting.resolve();
          await release.promise;
          return (await healthyCommands().compact?.())!;
        },
      });
      const results: ResultEvent[] = [];
      engine.onResult(result => void results.push(result));
      const first = engine.request("compact", "button");
      await compacting.promise;
      const second = engine.request("stats", "cli");
      release.resolve();
      if (!first.accepted || !second.accepted) throw new Error("refused");
      await second.done;
      expect(results.map(result => [result.operation, result.trigger, result.outcome])).toEqual([
        ["compact", "button", "success"],
        ["stats", "cli", "success"],
      ]);
      expect(borg.calls.map(call => call.command)).toEqual(["compact", "info", "list"]);
      expect(engine.live()).toMatchObject({ state: "idle", operation: null, queue: [] });
    });

    it("at shutdown drops the queue and interrupts the running borg", async () => {
      const compacting = deferred();
      const { engine } = await engineWith({ ...healthyCommands(), compact: untilAborted(() => compacting.resolve()) });
      const running = engine.request("compact", "button");
      await compacting.promise;
      const waiting = engine.request("stats", "button");
      if (!running.accepted || !waiting.accepted) throw new Error("refused");
      await engine.shutdown();
      await expect(waiting.done).rejects.toThrow("the drone is shutting down");
      await expect(running.done).resolves.toMatchObject({ outcome: "interrupted", error_kind: "interrupted" });
    });

    it("re-labels a running or queued run once it is known who asked for it: live status, Job and result", async () => {
      const compacting = deferred();
      const release = deferred();
      const { engine } = await engineWith({
        ...healthyCommands(),
        compact: async () => {
          compacting.resolve();
          await release.promise;
          return (await healthyCommands().compact?.())!;
        },
      });
      const running = engine.request("compact", "button");
      await compacting.promise;
      const waiting = engine.request("stats", "command");
      if (!running.accepted || !waiting.accepted) throw new Error("refused");
      expect(engine.attribute("no-such-run", "coordinator", "backup_coordinator")).toBe(false);
      expect(engine.attribute(running.runId, "coordinator", "backup_coordinator")).toBe(true);
      expect(engine.live()).toMatchObject({ runId: running.runId, trigger: "coordinator" });
      expect(engine.attribute(waiting.runId, "coordinator", "home")).toBe(true);
      release.resolve();
      await expect(running.done).resolves.toMatchObject({ trigger: "coordinator", outcome: "success" });
      await expect(waiting.done).resolves.toMatchObject({ trigger: "coordinator", outcome: "success" });
      // the history rows end with the trigger and who asked as relabelled, not as the runs started
      const rows = new Map(engine.history().map(record => [record.runId, record]));
      expect(rows.get(running.runId)).toMatchObject({ trigger: "coordinator", requestedBy: "backup_coordinator", outcome: "success" });
      expect(rows.get(waiting.runId)).toMatchObject({ trigger: "coordinator", requestedBy: "home", outcome: "success" });
      // a run that has ended keeps its trigger
      expect(engine.attribute(running.runId, "cli", "someone")).toBe(false);
    });
  });

  describe("the operation table", () => {
    it("names the actions of each operation in order", () => {
      const names = (operation: keyof typeof OPERATION_STEPS) => OPERATION_STEPS[operation].map(step => `${step.role}:${step.action}`);
      expect(names("scheduled")).toEqual([
        "primary:before_hook",
        "primary:create",
        "primary:after_backup_checks",
        "primary:prune",
        "primary:compact",
        "primary:stats",
        "primary:due_check",
        "primary:after_hook",
      ]);
      expect(names("offsite")).toEqual(["offsite:create", "offsite:prune", "offsite:compact", "offsite:stats"]);
      expect(names("prune")).toEqual(["primary:prune", "primary:compact", "primary:stats"]);
    });

    it("a scheduled run calls borg for exactly its steps, prune scoped to this drone with the keep rules in force", async () => {
      const { engine, borg } = await engineWith(healthyCommands(), { values: { CHECK_FREQUENCY_DAYS: 0, VERIFY_DATA_FREQUENCY_DAYS: 0 } });
      await engine.updateSettings({ keepDaily: 3, keepWithin: "2w" });
      const result = await engine.run("scheduled", "schedule");
      expect(result).toMatchObject({ outcome: "success", error_kind: null });
      expect(result.archive?.name).toMatch(/^laptop@/);
      // info: the guard's previous archive (none recorded yet), then the stats step
      expect(borg.calls.map(call => call.command)).toEqual(["info", "create", "prune", "compact", "info", "list"]);
      const prune = borg.calls.find(call => call.command === "prune");
      expect(prune?.args[0]).toEqual({ prefix: "laptop@", keep: { within: "2w", daily: 3, weekly: 4, monthly: 6, yearly: 1 } });
      expect(engine.persisted()).toMatchObject({ lastResult: "success", running: null, archiveCount: 0 });
    });
  });

  describe("how runs end", () => {
    it("a run longer than RUN_TIMEOUT_MINUTES is interrupted and says so", async () => {
      const { engine } = await engineWith({ ...healthyCommands(), compact: untilAborted() }, { override: { runTimeoutMinutes: 0.001 } });
      const result = await engine.run("compact", "button");
      expect(result).toMatchObject({ outcome: "interrupted", error_kind: "run_timeout" });
      expect(result.error).toMatch(/^the run took longer than 0.001 minutes and was interrupted — borg was interrupted$/);
    });

    it("a progress listener that throws on the run's last progress costs neither the result nor the return to idle", async () => {
      const { engine, logs } = await engineWith(healthyCommands(), { values: { PROGRESS_INTERVAL_MS: 3_600_000, CHECK_FREQUENCY_DAYS: 0, VERIFY_DATA_FREQUENCY_DAYS: 0 } });
      // the first event of the run goes out at once; the later steps' last one waits, then is flushed as the run ends
      const seen: string[] = [];
      engine.onProgress(event => {
        seen.push(event.state);
        if (seen.length > 1) throw new Error("listener broke");
      });
      const results: ResultEvent[] = [];
      engine.onResult(result => void results.push(result));
      const answer = engine.request("scheduled", "button");
      if (!answer.accepted) throw new Error("refused");
      await expect(answer.done).resolves.toMatchObject({ operation: "scheduled", outcome: "success" });
      expect(seen).toHaveLength(2);
      expect(results.map(result => result.outcome)).toEqual(["success"]);
      expect(engine.live()).toMatchObject({ state: "idle", operation: null, runId: null });
      expect(logs.some(line => line.includes("a progress listener failed") && line.includes("listener broke"))).toBe(true);
    });

    it("maps what was thrown to the result: borg's kind, the drone's kind, anything else as unexpected", async () => {
      const failing = (error: Error) => engineWith({ ...healthyCommands(), compact: () => Promise.reject(error) });
      const borgError = await (await failing(new BorgError("passphrase_wrong", "The passphrase is wrong.", { command: "compact" }))).engine.run("compact", "button");
      expect(borgError).toMatchObject({ outcome: "failed", error_kind: "passphrase_wrong", error: "The passphrase is wrong." });
      const other = await (await failing(new TypeError("boom"))).engine.run("compact", "button");
      expect(other).toMatchObject({ outcome: "failed", error_kind: "unexpected", error: "boom" });
    });

    it("a run whose borg lost its connection to a remote repository lets the next run break the lock its orphaned serve keeps; a local one never", async () => {
      const lockedThenFree = () => {
        let calls = 0;
        const healthy = healthyCommands();
        return {
          ...healthyCommands(),
          info: (...args: Parameters<NonNullable<FakeCommands["info"]>>) => {
            calls += 1;
            if (calls === 1) return Promise.reject(new BorgError("connection_lost", "ssh: Timeout, server nas not responding.", { command: "info" }));
            if (calls === 2) return Promise.reject(new BorgError("lock_timeout", "locked", { command: "info" }));
            return healthy.info?.(...args) ?? Promise.reject(new Error("no info"));
          },
          list: () => Promise.resolve(ran({ archives: [{ name: "laptop@2026-11-20T01:00:00.000", id: "1".repeat(64), start: new Date(0) }], repository: fakeRepository })),
          breakLock: () => Promise.resolve(ran(undefined)),
        } satisfies FakeCommands;
      };
      const remote = await engineWith(lockedThenFree(), { values: { REPOSITORY: "ssh://borg@nas/./laptop" } });
      expect(await remote.engine.run("stats", "button")).toMatchObject({ outcome: "failed", error_kind: "connection_lost" });
      const next = await remote.engine.run("stats", "button");
      expect(next).toMatchObject({ outcome: "success" });
      expect(next.notes).toEqual([expect.stringMatching(/^the lock on ssh:\/\/borg@nas\/\.\/laptop left by run \S+ \(stats\), which lost its connection to the repository host, was broken and the run went on$/) as string]);
      expect(remote.borg.calls.map(call => call.command)).toEqual(["info", "info", "list", "breakLock", "info", "list"]);

      const local = await engineWith(lockedThenFree());
      await local.engine.run("stats", "button");
      expect(await local.engine.run("stats", "button")).toMatchObject({ outcome: "failed", error_kind: "lock_timeout" });
      expect(local.borg.calls.map(call => call.command)).toEqual(["info", "info"]);
    });

    it("a reader that succeeds meanwhile keeps the record: it shares the lock with an orphaned reader's serve and proves nothing", async () => {
      let calls = 0;
      const healthy = healthyCommands();
      const { engine, borg } = await engineWith(
        {
          ...healthy,
          info: (...args: Parameters<NonNullable<FakeCommands["info"]>>) => {
            calls += 1;
            if (calls === 1) return Promise.reject(new BorgError("connection_lost", "ssh: Timeout, server nas not responding.", { command: "info" }));
            if (calls === 3) return Promise.reject(new BorgError("lock_timeout", "locked", { command: "info" }));
            return healthy.info?.(...args) ?? Promise.reject(new Error("no info"));
          },
          list: () => Promise.resolve(ran({ archives: [{ name: "laptop@2026-11-20T01:00:00.000", id: "1".repeat(64), start: new Date(0) }], repository: fakeRepository })),
          breakLock: () => Promise.resolve(ran(undefined)),
        },
        { values: { REPOSITORY: "ssh://borg@nas/./laptop" } },
      );
      expect(await engine.run("stats", "button")).toMatchObject({ error_kind: "connection_lost" });
      expect(await engine.run("stats", "button")).toMatchObject({ outcome: "success", notes: [] });
      const third = await engine.run("stats", "button");
      expect(third).toMatchObject({ outcome: "success" });
      expect(third.notes).toEqual([expect.stringContaining("which lost its connection to the repository host, was broken and the run went on") as string]);
      expect(borg.calls.filter(call => call.command === "breakLock")).toHaveLength(1);
    });

    it("a lost connection during a compact leaves a lock the next run never breaks: the NAS's borg serve may still be compacting", async () => {
      let calls = 0;
      const { engine, borg } = await engineWith(
        {
          ...healthyCommands(),
          compact: () => {
            calls += 1;
            return Promise.reject(
              calls === 1
                ? new BorgError("connection_lost", "ssh: Timeout, server nas not responding.", { command: "compact" })
                : new BorgError("lock_timeout", "locked", { command: "compact" }),
            );
          },
          breakLock: () => Promise.resolve(ran(undefined)),
        },
        { values: { REPOSITORY: "ssh://borg@nas/./laptop" } },
      );
      await engine.run("compact", "button");
      const next = await engine.run("compact", "button");
      expect(next).toMatchObject({ outcome: "failed", error_kind: "lock_timeout" });
      expect(next.error).toContain("it was running borg compact, which goes on in the repository host's borg serve after the drone is gone");
      expect(borg.calls.map(call => call.command)).toEqual(["compact", "compact"]);
    });

    it("borg's warnings make the outcome `warning`, kept in the result", async () => {
      const { engine } = await engineWith({
        ...healthyCommands(),
        prune: () => Promise.resolve(ran({ kept: [], pruned: ["laptop@old"], dryRun: false }, ["file changed while we read it"])),
      });
      const result = await engine.run("prune", "button");
      expect(result).toMatchObject({ outcome: "warning", warnings: ["file changed while we read it"], pruned: ["laptop@old"] });
    });

    it("the run history counts every warning of a run, not only those the result event lists", async () => {
      const many = Array.from({ length: EVENT_LIMITS.warnings + 5 }, (_, index) => `file ${index} changed while we read it`);
      const { engine } = await engineWith({
        ...healthyCommands(),
        prune: () => Promise.resolve(ran({ kept: [], pruned: [], dryRun: false }, many)),
      });
      const result = await engine.run("prune", "button");
      expect(result.outcome).toBe("warning");
      expect(result.warnings.length).toBeLessThanOrEqual(EVENT_LIMITS.warnings);
      expect(engine.history()).toEqual([expect.objectContaining({ runId: result.run_id, warnings: many.length })]);
    });
  });

  describe("hook policies", () => {
    const failedHook: HookOutcome = { ok: false, summary: "before hook exited with 3", output: [], interrupted: false };
    const hooks = (outcome: HookOutcome) => {
      const hookRuns: { stage: string; env: Record<string, string> }[] = [];
      const runHook: HookRunner = (stage, _hook, _timeout, env) => {
        hookRuns.push({ stage, env });
        return Promise.resolve(stage === "before" ? outcome : { ok: true, summary: `${stage} hook succeeded`, output: [], interrupted: false });
      };
      return { hookRuns, runHook };
    };
    const withHooks = (policy: string, outcome: HookOutcome) => {
      const { hookRuns, runHook } = hooks(outcome);
      return engineWith(healthyCommands(), {
        values: { HOOK_BEFORE: "dump", HOOK_BEFORE_POLICY: policy, HOOK_ON_ERROR: "notify", CHECK_FREQUENCY_DAYS: 0, VERIFY_DATA_FREQUENCY_DAYS: 0 },
        runHook,
      }).then(built => ({ ...built, hookRuns }));
    };

    it("break: the run fails before borg starts, and the on_error hook is told why", async () => {
      const { engine, borg, hookRuns } = await withHooks("break", failedHook);
      const result = await engine.run("scheduled", "button");
      expect(result).toMatchObject({ outcome: "failed", error_kind: "hook_failed", error: "before hook exited with 3; the run stopped (policy break)" });
      expect(borg.calls).toEqual([]);
      expect(hookRuns.map(hook => hook.stage)).toEqual(["before", "on_error"]);
      expect(hookRuns[1]?.env).toMatchObject({ BACKUP_STAGE: "on_error", BACKUP_OPERATION: "scheduled", BACKUP_ERROR: result.error });
    });

    it("continue: the run goes on and ends with the hook's failure as a warning", async () => {
      const { engine, borg, hookRuns } = await withHooks("continue", failedHook);
      const result = await engine.run("scheduled", "button");
      expect(result).toMatchObject({ outcome: "warning", warnings: ["before hook exited with 3"] });
      expect(borg.calls.map(call => call.command)).toContain("create");
      expect(hookRuns.map(hook => hook.stage)).toEqual(["before"]);
    });

    it("ignore: the run goes on as if the hook had succeeded", async () => {
      const { engine } = await withHooks("ignore", failedHook);
      await expect(engine.run("scheduled", "button")).resolves.toMatchObject({ outcome: "success", warnings: [] });
    });

    it("whatever the policy, a hook stopped by the run's abort ends the run as interrupted", async () => {
      const { engine, borg } = await withHooks("ignore", { ok: false, summary: "before hook stopped", output: [], interrupted: true });
      await expect(engine.run("scheduled", "button")).resolves.toMatchObject({ outcome: "interrupted", error_kind: "interrupted" });
      expect(borg.calls).toEqual([]);
    });

    it("the on_error hook follows failed backups only, not a failed prune", async () => {
      const { hookRuns, runHook } = hooks(failedHook);
      const { engine } = await engineWith(
        { ...healthyCommands(), prune: () => Promise.reject(new BorgError("integrity", "damaged", { command: "prune" })) },
        { values: { HOOK_ON_ERROR: "notify" }, runHook },
      );
      await expect(engine.run("prune", "button")).resolves.toMatchObject({ outcome: "failed", error_kind: "integrity" });
      expect(hookRuns).toEqual([]);
    });
  });

  describe("settings", () => {
    it("refuses a bad change with a SettingsError naming the setting, and keeps the settings in force", async () => {
      const { engine } = await engineWith(healthyCommands());
      const refused = async (patch: Parameters<DroneEngine["updateSettings"]>[0]) => {
        const error: unknown = await engine.updateSettings(patch).then(
          () => undefined,
          (thrown: unknown) => thrown,
        );
        if (!(error instanceof SettingsError)) throw new Error(`not a SettingsError: ${String(error)}`);
        return error;
      };
      expect((await refused({ keepWithin: "2 weeks" })).setting).toBe("keepWithin");
      expect((await refused({ frequencyMinutes: SETTING_RANGES.minutes.min - 1 })).setting).toBe("frequencyMinutes");
      expect((await refused({ priority: SETTING_RANGES.priority.max + 1 })).message).toMatch(/^priority: /);
      const none = await refused({ keepDaily: 0, keepWeekly: 0, keepMonthly: 0, keepYearly: 0 });
      expect(none.message).toBe("keep rules: at least one rule must keep archives");
      expect((await refused({ restoreArchive: "desktop@2026-01-01T00:00:00.000" })).setting).toBe("restoreArchive");
      expect(engine.settings()).toMatchObject({ keepWithin: "", keepDaily: 7, frequencyMinutes: 1440, priority: 0 });
      await expect(engine.updateSettings({ keepWithin: "14d", keepDaily: 0 })).resolves.toMatchObject({ keepWithin: "14d", keepDaily: 0 });
    });

    it("makes a scheduled run due in standalone mode only, and an offsite run only with an offsite repository", async () => {
      const { engine } = await engineWith(healthyCommands());
      expect(engine.due()).toEqual([]);
      await engine.updateSettings({ mode: "standalone" });
      expect(engine.due()).toEqual(["scheduled"]);
      const offsite = await engineWith(healthyCommands(), { values: { MODE: "standalone", OFFSITE_REPOSITORY: join(dir.path, "offsite") } });
      expect(offsite.engine.due()).toEqual(["scheduled", "offsite"]);
      expect(offsite.engine.settings().offsiteFrequencyMinutes).toBe(10_080);
    });
  });

  describe("cancel", () => {
    const recordingHooks = () => {
      const stages: string[] = [];
      const runHook: HookRunner = stage => {
        stages.push(stage);
        return Promise.resolve({ ok: true, summary: `${stage} hook succeeded`, output: [], interrupted: false });
      };
      return { stages, runHook };
    };
    const hookValues = { HOOK_BEFORE: "dump", HOOK_AFTER: "notify", HOOK_ON_ERROR: "alert", CHECK_FREQUENCY_DAYS: 0, VERIFY_DATA_FREQUENCY_DAYS: 0 };

    it("a create that ends well although the cancel came during it (borg finished first) is followed by nothing: no prune, no after hook, no on_error", async () => {
      const creating = deferred();
      const { stages, runHook } = recordingHooks();
      const { engine, borg } = await engineWith(
        {
          ...healthyCommands(),
          create: async (...args: unknown[]) => {
            creating.resolve();
            const call = args.at(-1) as { signal?: AbortSignal };
            await new Promise(resolve => call.signal?.addEventListener("abort", resolve));
            return (await healthyCommands().create?.(args[0] as never))!;
          },
        },
        { values: hookValues, runHook },
      );
      const answer = engine.request("scheduled", "schedule");
      if (!answer.accepted) throw new Error(answer.reason);
      await creating.promise;
      const { cancelled } = await engine.cancel("a person");
      const result = await answer.done;
      expect(cancelled?.result).toBe(result);
      expect(result).toMatchObject({
        outcome: "interrupted",
        error_kind: "cancelled",
        cancelled_by: "a person",
        error: "cancelled by a person — after backup checks and what follows it did not run",
        pruned: [],
      });
      // the archive borg made before it saw the cancel is reported, not hidden
      expect(result.archive?.name).toMatch(/^laptop@/);
      // borg's last command was that create: no prune, no compact, no stats after it
      expect(borg.calls.map(call => call.command).at(-1)).toBe("create");
      expect(borg.calls.map(call => call.command)).not.toContain("prune");
      expect(stages).toEqual(["before"]);
    });

    it("a failure (not a cancel) still runs the on_error hook", async () => {
      const { stages, runHook } = recordingHooks();
      const { engine } = await engineWith(
        { ...healthyCommands(), create: () => Promise.reject(new BorgError("lock_timeout", "the repository is locked", { command: "create" })) },
        { values: hookValues, runHook },
      );
      const result = await engine.run("scheduled", "schedule");
      expect(result).toMatchObject({ outcome: "failed", error_kind: "lock_timeout", cancelled_by: null });
      expect(stages).toEqual(["before", "on_error"]);
    });

    it("the operation just cancelled may be asked for again while it winds down: it queues and runs after it", async () => {
      let calls = 0;
      const compacting = deferred();
      const { engine } = await engineWith({
        ...healthyCommands(),
        compact: (...args: unknown[]) => {
          calls++;
          return calls === 1 ? untilAborted(() => compacting.resolve())(...args) : healthyCommands().compact!();
        },
      });
      const first = engine.request("compact", "button");
      if (!first.accepted) throw new Error(first.reason);
      await compacting.promise;
      const cancelling = engine.cancel("a person");
      const again = engine.request("compact", "button");
      expect(again).toMatchObject({ accepted: true, queued: true });
      if (!again.accepted) throw new Error(again.reason);
      expect((await cancelling).dropped).toEqual([]);
      expect(await again.done).toMatchObject({ operation: "compact", outcome: "success" });
      expect((await first.done).error_kind).toBe("cancelled");
    });

    it("when idle: nothing cancelled, nothing dropped, and it says so in the log", async () => {
      const { engine, logs } = await engineWith(healthyCommands());
      expect(await engine.cancel("a person")).toEqual({ cancelled: null, dropped: [] });
      expect(logs).toContain("cancel (a person): nothing is running or queued");
    });

    it("a second cancel of the same run answers what the first does, and drops what was queued since", async () => {
      const compacting = deferred();
      const { engine } = await engineWith({ ...healthyCommands(), compact: untilAborted(() => compacting.resolve()) });
      const running = engine.request("compact", "button");
      if (!running.accepted) throw new Error(running.reason);
      await compacting.promise;
      const first = engine.cancel("one");
      const queuedSince = engine.request("stats", "button");
      expect(queuedSince).toMatchObject({ accepted: true, queued: true });
      const second = engine.cancel("two");
      const [one, two] = await Promise.all([first, second]);
      expect(one).toEqual({ cancelled: { runId: running.runId, operation: "compact", result: await running.done }, dropped: [] });
      expect(two).toEqual({ cancelled: one.cancelled, dropped: ["stats"] });
      expect((await running.done).cancelled_by).toBe("one");
    });
  });
});
