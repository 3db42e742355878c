/**
 * create: `borg create` of the sources into a new archive of this drone, with live progress
 * (estimated from the previous archive, or a pre-scan of a first backup). Sources with nothing
 * to back up refuse the run; an archive of no file is deleted again; the prune guard judges the
 * new archive against the previous one and holds prune when it looks wrong.
 */
import dayjs from "dayjs";

import { type ArchiveFigures, addToHold, describeSources, dumpsHeldAfter, holdMessage, inspectSources, judgeArchive, nothingToBackUp } from "../guard.mjs";
import { type BorgRun, cacheDirOf, type CreateResult, parseLocation } from "../../../../libs/borg/index.mjs";
import { inheritedEnv } from "../../../../libs/borg/environment.mjs";
import { secretConfigVariables } from "../../config.mjs";
import { type DumpResult, DumpsFailed, prepareRunFolder, readyDumps, removeRunFolder, runFolderOf, streamDumps } from "../dumps/stream.mjs";
import { errorText } from "../../../../libs/config/index.mjs";
import { type ApplicationState } from "../../../../libs/protocol/index.mjs";
import { RECENT_ARCHIVES, storedTotals } from "../archives.mjs";
import { DroneError } from "../errors.mjs";
import { type Expectation } from "../estimate.mjs";
import { prescanBeside } from "../prescan-beside.mjs";
import { createOptionsOf, repositoryOf, type RepositoryRole } from "../repositories.mjs";
import { type CallOptions, type RunContext, toIso } from "../run-context.mjs";

const STATE: Record<RepositoryRole, ApplicationState> = { primary: "creating", offsite: "offsite_creating" };

/** Hold prune for a suspicious archive (added to a standing hold). */
export async function holdPrune(context: RunContext, archive: string, reasons: readonly string[]): Promise<void> {
  await context.store.update(state => void (state.pruneHold = addToHold(state.pruneHold, archive, reasons, toIso(new Date()))));
  context.log.warn(`prune guard: ${holdMessage(reasons)}`);
  context.notify();
}

/**
 * An archive of no file (every file excluded or unreadable) is deleted at once and the run
 * fails: kept, it would count as a fresh backup and push real ones out of the keep rules.
 */
async function discardEmptyArchive(context: RunContext, role: RepositoryRole, requested: string, created: string): Promise<never> {
  const message =
    `the backup read no file from ${context.config.sources.join(", ")}, so its archive was deleted and nothing was pruned; ` +
    "check that the sources are mounted and readable and that EXCLUDES does not exclude everything";
  // only the very archive this run asked borg to create
  if (created !== requested || !created.startsWith(context.archivePrefix)) throw new DroneError("empty_archive", message);
  const why = await deleteRunArchive(context, role, created, `the empty archive ${created}`);
  if (why !== null) throw new DroneError("empty_archive", `${message.replace("so its archive was deleted and nothing was pruned", "and nothing was pruned")}; ${why}`);
  throw new DroneError("empty_archive", message);
}

/**
 * Delete an archive this run made that must not stand for a backup (checked by the caller to be
 * the very one it asked for). When borg cannot, prune is held until a person deletes it: kept,
 * the archive could stand for its day in the keep rules. Returns why it was kept, or null.
 */
async function deleteRunArchive(context: RunContext, role: RepositoryRole, created: string, subject: string): Promise<string | null> {
  try {
    await context.borg(role).deleteArchive(created, context.call());
    return null;
  } catch (error) {
    const why = `${subject} could not be deleted (${errorText(error)}); delete it with \`borg delete ${repositoryOf(context.config, role).location}::${created}\``;
    await holdPrune(context, created, [why]);
    return why;
  }
}

/**
 * The archive the guard compares a new one with: the last one recorded, or, when the state
 * has none (a new STATE_DIR, a lost state file), this drone's newest archive in the repository.
 * None without looking when the state records that this drone's `init` created the repository
 * (one borg process less on a first backup): a lost state file loses that record too.
 */
async function previousArchive(context: RunContext, role: RepositoryRole): Promise<ArchiveFigures | null> {
  const persisted = context.store.get();
  const recorded = role === "primary" ? persisted.lastArchive : persisted.lastOffsiteArchive;
  if (recorded) return recorded;
  if (role === "primary" && persisted.createdRepository?.location === repositoryOf(context.config, role).location) return null;
  try {
    const info = await context.borg(role).info({ prefix: context.archivePrefix, last: 1 }, context.call());
    const newest = info.value.archives.at(-1);
    if (!newest) return null;
    context.log.info(`no archive recorded in the state file: the prune guard compares with ${newest.name} from the repository`);
    return { name: newest.name, ...newest.stats };
  } catch (error) {
    // the create that follows reports what is wrong with the repository
    context.log.debug(`reading the newest archive for the prune guard failed: ${errorText(error)}`);
    return null;
  }
}

/**
 * Delete an archive borg made without one of the dumps (it never read its FIFO): the exact
 * archive this run asked for, never another. Kept, it would stand for a whole backup.
 */
async function discardPartialArchive(context: RunContext, role: RepositoryRole, requested: string, failure: DumpsFailed): Promise<void> {
  const created = failure.archive;
  if (created === undefined || created !== requested || !created.startsWith(context.archivePrefix)) return;
  await deleteRunArchive(context, role, created, `the archive ${created} lacks a dump and`);
}

/**
 * `borg create` of the sources and the dumps, streamed in (dumps/stream.mts). A dump that
 * fails stops borg before it stores anything; by its policy the run fails (`break`), or the
 * archive is made again without it and the failure is a warning (`continue`).
 */
async function createWithDumps(context: RunContext, role: RepositoryRole, archive: string, call: CallOptions): Promise<BorgRun<CreateResult>> {
  const { config, log } = context;
  const dir = runFolderOf(config.stateDir, config.droneId);
  const env = inheritedEnv(process.env, { drop: secretConfigVariables() });
  const skipped: DumpResult[] = [];
  let remaining = [...config.dumps];
  const settle = (failed: DumpsFailed["failed"], results: readonly DumpResult[]) => {
    context.dumps = [...results.filter(result => !failed.some(dump => dump.name === result.name)), ...skipped, ...failed.map(({ policy: _policy, ...result }) => result)];
    const breaking = failed.filter(dump => dump.policy === "break");
    if (breaking.length > 0) throw new DumpsFailed(breaking, context.dumps);
    for (const dump of failed) {
      const warning = `${dump.error ?? `dump ${dump.name} failed`} (policy continue: the archive was made without it)`;
      log.warn(warning);
      context.warnings.push(warning);
      skipped.push({ ...dump });
    }
    remaining = remaining.filter(dump => !failed.some(gone => gone.name === dump.name));
  };
  for (;;) {
    const { ready, failed } = await readyDumps(remaining);
    settle(failed, []);
    if (ready.length === 0) {
      context.dumps = [...skipped];
      if (config.sources.length === 0) throw new DroneError("dump_failed", `every dump failed and SOURCES is empty: nothing was backed up (${skipped.map(dump => dump.error).join("; ")})`);
      return context.borg(role).create(createOptionsOf(config, role, archive), call);
    }
    try {
      const sources = await prepareRunFolder(dir, ready.map(entry => entry.dump), config, context.signal);
      if (sources.specialFiles > 0) log.info(`${sources.specialFiles} special files (FIFOs, devices) in the sources are excluded: with dumps, borg would read them`);
      const base = createOptionsOf(config, role, archive);
      const options = { ...base, paths: [...config.sources, sources.path], includes: sources.includes, excludeFrom: sources.excludeFrom, readSpecial: true, cwd: sources.cwd };
      const { value, results } = await streamDumps(
        // borg's own failure keeps the dumps' results too (those borg never reached: not_run)
        { dir, dumps: ready, env, signal: context.signal, log, onResults: results => (context.dumps = [...results, ...skipped]) },
        // if the drone dies, its FIFOs close as if each dump had ended: borg must die with it, not store cut dumps
        terminate => context.borg(role).create(options, { ...call, terminate, parentDeathSignal: "SIGTERM" }),
        run => run.value.archive.name,
      );
      context.dumps = [...results, ...skipped];
      return value;
    } catch (error) {
      if (!(error instanceof DumpsFailed)) throw error;
      await discardPartialArchive(context, role, archive, error);
      settle(error.failed, error.results);
    } finally {
      await removeRunFolder(dir);
    }
  }
}

/** Create an archive of the sources in a role's repository, and record it. */
export async function create(context: RunContext, role: RepositoryRole): Promise<CreateResult> {
  const { config, store, log } = context;
  context.setState(STATE[role]);
  const sourcesNow = await inspectSources(config.sources);
  // a drone of dumps only has no folder to look for
  const refusal = config.sources.length > 0 ? nothingToBackUp(sourcesNow, { dumps: config.dumps.length > 0 }) : undefined;
  if (refusal) throw new DroneError("sources_missing", refusal);
  const unusable = describeSources(sourcesNow);
  if (unusable) context.warnings.push(`sources with nothing to back up: ${unusable}`);
  const persisted = store.get();
  const previous = await previousArchive(context, role);
  const expectation: { value?: Expectation } = {};
  if (previous) expectation.value = { originalSize: previous.originalSize, nfiles: previous.nfiles };
  // measured alongside the create, started once borg runs so that it never delays borg:
  // the estimate appears when the scan is done
  let prescanStarted = false;
  const startPrescan = () => {
    // once, though borg may start twice (after a broken orphaned lock)
    if (previous || !config.prescan || prescanStarted) return;
    prescanStarted = true;
    const repository = repositoryOf(config, role);
    const location = parseLocation(repository.location);
    const cacheDir = cacheDirOf(repository, process.env);
    void prescanBeside({
      sources: config.sources,
      excludes: config.excludes,
      excludeIfPresent: config.excludeIfPresent,
      oneFileSystem: config.oneFileSystem,
      // borg leaves out its cache and the repository it writes to, where they lie in a source
      skip: [...(cacheDir === undefined ? [] : [cacheDir]), ...(location.ok && location.location.kind === "local" ? [location.location.path] : [])],
      signal: context.signal,
    })
      .then(found => {
        expectation.value ??= found;
      })
      .catch((error: unknown) => log.debug(`pre-scan failed: ${String(error)}`));
  };
  const tracker = context.progress(role, expectation);
  const options = context.call(tracker.onEvent);
  const archive = `${context.archivePrefix}${dayjs().format("YYYY-MM-DDTHH:mm:ss.SSS")}`;
  try {
    const call = {
      ...options,
      onSpawn: (pid: number, command: string) => {
        options.onSpawn(pid, command);
        startPrescan();
      },
    };
    const run = config.dumps.length > 0 ? await createWithDumps(context, role, archive, call) : await context.borg(role).create(createOptionsOf(config, role, archive), call);
    tracker.finish(true);
    const stats = run.value.archive.stats;
    // borg's warnings (a folder it could not read) explain an empty archive: keep them first
    context.warnings.push(...run.warnings.map(warning => warning.message));
    if (stats.nfiles === 0) await discardEmptyArchive(context, role, archive, run.value.archive.name);
    context.archive = {
      name: run.value.archive.name,
      original_size: stats.originalSize,
      compressed_size: stats.compressedSize,
      deduplicated_size: stats.deduplicatedSize,
      nfiles: stats.nfiles,
    };
    const facts = {
      name: run.value.archive.name,
      originalSize: stats.originalSize,
      nfiles: stats.nfiles,
      durationSeconds: run.value.archive.durationSeconds,
      compressedSize: stats.compressedSize,
      deduplicatedSize: stats.deduplicatedSize,
    };
    // every configured dump with its outcome: a failed one (policy continue) is not in the archive
    const dumps = { expected: persisted.dumpsHeld[role], results: context.dumps };
    const reasons = judgeArchive({
      settings: config.guard,
      previous,
      current: facts,
      sourcesBefore: persisted.lastSources,
      sourcesNow,
      dumps,
    });
    const totals = storedTotals(run.value.totals);
    await store.update(state => {
      state.lastSources = sourcesNow.map(source => ({ ...source }));
      state.dumpsHeld[role] = dumpsHeldAfter(dumps);
      // in the same write as the archive's record: a crash cannot leave one without the other
      if (reasons.length > 0) state.pruneHold = addToHold(state.pruneHold, facts.name, reasons, toIso(new Date()));
      if (role === "primary") {
        state.lastBackup = toIso(new Date());
        state.cancelledAt.primary = null;
        state.failedBackups.primary = null;
        state.lastArchive = facts;
        state.createdRepository = null;
        state.totals = totals;
        if (state.archiveCount !== null) state.archiveCount += 1;
        state.recentArchives = [facts.name, ...state.recentArchives.filter(name => name !== facts.name)].slice(0, RECENT_ARCHIVES);
      } else {
        state.lastOffsiteBackup = toIso(new Date());
        state.cancelledAt.offsite = null;
        state.failedBackups.offsite = null;
        state.lastOffsiteArchive = facts;
        state.offsiteTotals = totals;
      }
    });
    log.info(`archive ${archive} created: ${stats.nfiles} files, ${stats.originalSize} B read, ${stats.deduplicatedSize} B new`);
    if (reasons.length > 0) {
      log.warn(`prune guard: ${holdMessage(reasons)}`);
      // every operation that made the archive says so (a create alone, too: exit 7, outcome held)
      context.held = holdMessage(store.get().pruneHold?.reasons ?? reasons);
    }
    context.notify();
    return run.value;
  } catch (error) {
    tracker.finish(false);
    throw error;
  }
}
