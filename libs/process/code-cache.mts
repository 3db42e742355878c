/**
 * Runs a CommonJS bundle with a V8 code cache, so that a command does not compile the same
 * code at every start. Node 20 has no compile cache for ES modules (`module.enableCompileCache`
 * is Node 22's), but `vm.Script` takes V8's cached data: the compiled top level and every
 * function the run compiled, kept in a per-user folder after the first run and handed back to
 * V8 on the next ones. A one-shot `backup-drone create` spent about 40 ms of its 0.2 s before
 * borg starts compiling the bundle (docs/benchmarks.md, "Where the time goes").
 *
 * The cache can only cost time, never the command: V8 checks the data against its own version,
 * its flags and the source's length and rejects what does not fit (then the run rewrites it),
 * but it does not checksum the code itself (Node 20 runs without V8's checksum check), and code
 * damaged at the same length crashes node as it compiles; so the file starts with a SHA-256 of
 * the data, and data that does not match is never handed to V8. The file's name carries the
 * bundle's content hash, size and mtime and Node's version, so a changed bundle never meets old
 * code; a file is written under a random temporary name, created exclusively, and renamed, so
 * that two writers (two PID namespaces sharing a home, say) never mix their output (a cache
 * unused for a month goes at the next write, and so does a temporary file left by a crash); and
 * a folder or file that another user owns or may write is neither read nor written (compiled
 * code from there would run as this user). Any error reading or writing it is ignored.
 */
import { createHash, randomUUID } from "node:crypto";
import { lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import nodeModule, { createRequire } from "node:module";
import { homedir } from "node:os";
import { basename, dirname, isAbsolute, join } from "node:path";
import vm from "node:vm";

/** A CommonJS bundle, run. */
export interface CachedScript {
  /** What the bundle exported (`module.exports`). */
  exports: unknown;
  /** Whether V8 took the cached data (false on a first run, or when the data did not fit). */
  cacheUsed: boolean;
  /** Write the cache when it was missing or rejected; call once the command's code has run, so that it holds what was compiled. */
  saveCache: () => void;
}

/** The per-user folder of code caches: $XDG_CACHE_HOME (when absolute) or ~/.cache, then backup-coordinator/v8. */
export function codeCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  try {
    const xdg = env.XDG_CACHE_HOME;
    const base = xdg !== undefined && isAbsolute(xdg) ? xdg : join(homedir(), ".cache");
    return isAbsolute(base) ? join(base, "backup-coordinator", "v8") : undefined;
  } catch {
    return undefined;
  }
}

/** A cache unused this long (by another build, or another Node) is removed when a cache is written. */
const STALE_MS = 30 * 24 * 3600 * 1000;
/** A cache in use gets its mtime renewed at most this often (so that it never looks stale). */
const RENEW_MS = 24 * 3600 * 1000;

/** What a cache file starts with: this tag (the layout's version), then the SHA-256 of the data that follows. */
const TAG = Buffer.from("bcv8 1\n", "latin1");
const DIGEST_BYTES = 32;
const HEADER_BYTES = TAG.length + DIGEST_BYTES;

/** A cache file's bytes: the tag, the data's SHA-256, the data. */
export function sealCache(data: Buffer): Buffer {
  return Buffer.concat([TAG, createHash("sha256").update(data).digest(), data]);
}

/** The data of a cache file when its tag and SHA-256 match (a file damaged, cut short or of another layout gives undefined). */
export function openCache(file: Buffer): Buffer | undefined {
  if (file.length <= HEADER_BYTES || !file.subarray(0, TAG.length).equals(TAG)) return undefined;
  const data = file.subarray(HEADER_BYTES);
  return createHash("sha256").update(data).digest().equals(file.subarray(TAG.length, HEADER_BYTES)) ? data : undefined;
}

/** The path's stats when it is this user's and nobody else may write it. */
function ownedAndPrivate(path: string, kind: "directory" | "file") {
  const stats = lstatSync(path);
  const isKind = kind === "directory" ? stats.isDirectory() : stats.isFile();
  return isKind && stats.uid === process.getuid?.() && (stats.mode & 0o022) === 0 ? stats : undefined;
}

/** The stats of the path or of its nearest existing parent. */
function nearestExisting(path: string) {
  for (let current = path; ; current = dirname(current)) {
    try {
      return lstatSync(current);
    } catch {
      if (dirname(current) === current) return undefined;
    }
  }
}

/**
 * The cache folder, created (0700) when missing; undefined when it cannot be trusted or made.
 * Nothing is created inside another user's folder: `sudo backup-drone …` that keeps the
 * caller's HOME must not leave root's folders in their home.
 */
function usableDir(dir: string | undefined): string | undefined {
  if (dir === undefined) return undefined;
  try {
    if (nearestExisting(dir)?.uid !== process.getuid?.()) return undefined;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return ownedAndPrivate(dir, "directory") ? dir : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Compile and run the CommonJS bundle `file` (pure ASCII, as esbuild writes it) with the code
 * cache in `cacheDir`. `buildId` is the bundle's content hash from the build.
 */
export function runCachedScript(file: string, buildId: string, cacheDir: string | undefined = codeCacheDir()): CachedScript {
  const source = readFileSync(file, "latin1");
  const dir = usableDir(cacheDir);
  let cacheFile: string | undefined;
  let cachedData: Buffer | undefined;
  if (dir !== undefined) {
    const stats = statSync(file);
    const name = `${basename(file)}-${buildId}-${stats.size}-${Math.trunc(stats.mtimeMs)}-${process.version}-${process.arch}.v8cache`;
    cacheFile = join(dir, name);
    try {
      const cache = ownedAndPrivate(cacheFile, "file");
      if (cache !== undefined) {
        cachedData = openCache(readFileSync(cacheFile));
        if (Date.now() - cache.mtimeMs > RENEW_MS) utimesSync(cacheFile, new Date(), new Date());
      }
    } catch {
      // no cache yet
    }
  }
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    ...(cachedData === undefined ? {} : { cachedData }),
  });
  const cacheUsed = cachedData !== undefined && script.cachedDataRejected === false;
  // a CommonJS module like any other: in require.cache under its file, its require resolving from there
  const module = new nodeModule(file);
  module.filename = file;
  module.paths = (nodeModule as unknown as { _nodeModulePaths: (from: string) => string[] })._nodeModulePaths(dirname(file));
  const require = createRequire(file);
  require.cache[file] = module;
  const wrapper = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: NodeJS.Module, filename: string, dirname: string) => void;
  wrapper.call(module.exports, module.exports, require, module, file, dirname(file));
  module.loaded = true;
  let saved = cacheUsed;
  return {
    exports: module.exports,
    cacheUsed,
    saveCache: () => {
      if (saved || dir === undefined || cacheFile === undefined) return;
      saved = true;
      const temporary = `${cacheFile}.${randomUUID()}.tmp`;
      try {
        try {
          writeFileSync(temporary, sealCache(script.createCachedData()), { mode: 0o600, flag: "wx" });
          renameSync(temporary, cacheFile);
        } catch (error) {
          // what this run began (a disk full halfway, say) goes; a file of that name it did not create stays
          if ((error as NodeJS.ErrnoException).code !== "EEXIST") rmSync(temporary, { force: true });
          throw error;
        }
        // another build of this bundle or another Node may still run here (two installs, one
        // user): its cache goes only once unused for a month
        const prefix = `${basename(file)}-`;
        for (const entry of readdirSync(dir)) {
          const path = join(dir, entry);
          if (entry.startsWith(prefix) && path !== cacheFile && Date.now() - lstatSync(path).mtimeMs > STALE_MS) unlinkSync(path);
        }
      } catch {
        // a full disk or a read-only home: the next run compiles again
      }
    },
  };
}
