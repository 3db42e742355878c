/**
 * Bundles the two bins with esbuild into dist/bin (`npm run build` runs it after tsc):
 * - `backup-drone-program.cjs`: the drone's command line (apps/drone/cli/program.mts: help,
 *   the one-shot commands, `config`) as one CommonJS file, which the bin runs with a V8 code
 *   cache (libs/process/code-cache.mts; Node 20 keeps no compiled code of ES modules);
 * - `backup-drone.mjs` (apps/drone/bin.mts) and `backup-coordinator.mjs` as ES modules, with
 *   shared chunks beside them split at their dynamic imports: the daemon's modules, and its
 *   Home Assistant libraries, load only when the daemon starts.
 * Node 20's module loader spent about 0.15 s of CPU resolving, reading and compiling the ~270
 * files of a one-shot command; from a few chunks it took about half, and from the cached
 * program less again (docs/benchmarks.md, "Where the time goes").
 *
 * The library exports (`./drone`, `./coordinator`, `./borg`, `./protocol`) stay as tsc emits
 * them in dist/apps and dist/libs: a DA application that imports them shares its own copy
 * of Digital Alchemy with them. Everything the bins load is in the bundles except
 * better-sqlite3, a native addon that Node loads from node_modules. Run: `tsx scripts/bundle.mts`.
 */
import { createHash } from "node:crypto";
import { chmod, cp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";

import { build, type BuildOptions, type Metafile, type Plugin } from "esbuild";

const ROOT = join(import.meta.dirname, "..");
/** Where the bins and their chunks go; package.json `bin` points here. */
const BUNDLE_DIR = join(ROOT, "dist", "bin");
/** esbuild's record of which source went into which output (read by the start-up test); not packed. */
const BUNDLE_META = join(BUNDLE_DIR, "meta.json");
const SYNAPSE = join(ROOT, "node_modules", "@digital-alchemy", "synapse");

/**
 * Modules replaced in the bundle:
 * - `@dotenvx/dotenvx`: DA core imports it and calls its `config()`, which would read `./.env`
 *   over the exported environment; both bins read their env file themselves. The stand-in is
 *   the one libs/config/defer-dotenvx.mts puts into Node's cache for the unbundled code.
 * - `bun:sqlite`: synapse imports it only when it runs under Bun; under Node the branch never
 *   runs, and the name would not resolve.
 */
const STAND_INS: Record<string, string> = {
  "@dotenvx/dotenvx": "export default { config: () => undefined };",
  "bun:sqlite": 'export class Database { constructor() { throw new Error("bun:sqlite exists only under Bun"); } }',
};

const standIns: Plugin = {
  name: "stand-ins",
  setup(context) {
    const filter = new RegExp(`^(${Object.keys(STAND_INS).map(name => name.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")).join("|")})$`);
    context.onResolve({ filter }, args => ({ path: args.path, namespace: "stand-in" }));
    context.onLoad({ filter: /.*/, namespace: "stand-in" }, args => ({ contents: STAND_INS[args.path] ?? "", loader: "js" }));
  },
};

/**
 * synapse finds its migrations and its package.json relative to its own files
 * (`import.meta.url`). In a chunk that URL is the chunk's: each synapse module gets the URL it
 * would have in a copy of the package at dist/bin/synapse, where the build copies those files.
 */
const synapseFiles: Plugin = {
  name: "synapse-files",
  setup(context) {
    context.onLoad({ filter: /[\\/]@digital-alchemy[\\/]synapse[\\/]dist[\\/].*\.mjs$/ }, async args => {
      const text = await readFile(args.path, "utf8");
      if (!text.includes("import.meta.url")) return undefined;
      const where = `./synapse/${relative(SYNAPSE, args.path).split(sep).join("/")}`;
      return { contents: text.replaceAll("import.meta.url", `new URL(${JSON.stringify(where)}, import.meta.url).href`), loader: "js" };
    });
  },
};

/**
 * Digital Alchemy's environment loader (`ConfigLoaderEnvironment`) matches every configuration
 * key against every environment variable and switch with regular expressions built per key
 * (6–9 ms of CPU at each start here, more with a larger environment), and only then looks at
 * `configSources`: with `env` and `argv` both off, as both bins boot (libs/config/load.mts
 * reads those sources itself), it returns nothing. In the bundles it is wrapped to return that
 * at once; DA's own function runs for any other setting. The start-up test checks that the
 * wrapper is in the bundles, and test/unit/config that DA's function returns nothing then.
 */
const DA_ENVIRONMENT_LOADER = /[\\/]@digital-alchemy[\\/]core[\\/]dist[\\/]helpers[\\/]config-environment-loader\.mjs$/;
/** The namespace of DA's own module behind the wrapper (meta.json names it `da-environment-loader:…`). */
const DA_ORIGINAL = "da-environment-loader";
const daEnvironmentLoader: Plugin = {
  name: "da-environment-loader",
  setup(context) {
    context.onLoad({ filter: DA_ENVIRONMENT_LOADER, namespace: "file" }, args => ({
      contents: [
        `import { ConfigLoaderEnvironment as readEverySource } from ${JSON.stringify(`${args.path}?all-sources`)};`,
        "export async function ConfigLoaderEnvironment(params) {",
        "  const sources = params.internal.boot.options?.configSources;",
        "  if (sources?.env === false && sources?.argv === false) return {};",
        "  return readEverySource(params);",
        "}",
      ].join("\n"),
      resolveDir: dirname(args.path),
      loader: "js",
    }));
    context.onResolve({ filter: /\?all-sources$/ }, args => ({ path: args.path.slice(0, -"?all-sources".length), namespace: DA_ORIGINAL }));
    context.onLoad({ filter: /.*/, namespace: DA_ORIGINAL }, async args => ({ contents: await readFile(args.path, "utf8"), resolveDir: dirname(args.path), loader: "js" }));
  },
};

/** esbuild's options shared by the two builds. */
const COMMON = {
  absWorkingDir: ROOT,
  bundle: true,
  platform: "node",
  target: "node20",
  outdir: BUNDLE_DIR,
  external: ["better-sqlite3"],
  metafile: true,
  logLevel: "warning",
} satisfies BuildOptions;

/** Sources that must not be in the command line's bundle: Home Assistant's libraries load only with the daemon. */
const NOT_IN_PROGRAM = /node_modules\/@digital-alchemy\/(hass|synapse)\/|node_modules\/(mysql2|postgres|drizzle-orm)\//;

/**
 * The command line of `backup-drone` (apps/drone/cli/program.mts) as one CommonJS file,
 * `backup-drone-program.cjs`, which the bin runs through `vm.Script` with a V8 code cache
 * (libs/process/code-cache.mts): Node 20 caches no compiled code for ES modules. Its
 * commands' modules are evaluated when a command runs; the daemon is not in it. Returns the
 * metafile and the content hash that keys the cache.
 */
async function bundleProgram(): Promise<{ metafile: Metafile; buildId: string }> {
  const result = await build({
    ...COMMON,
    entryPoints: { "backup-drone-program": "apps/drone/cli/program.mts" },
    format: "cjs",
    outExtension: { ".js": ".cjs" },
    // CommonJS has no import.meta: the history finds better-sqlite3 and the version its package.json from the file's own place
    define: { "import.meta.url": "__programUrl", "import.meta.dirname": "__dirname" },
    banner: { js: 'const __programUrl = require("node:url").pathToFileURL(__filename).href;' },
    // the code cache's loader reads the file as Latin-1 (cheaper than UTF-8): esbuild escapes every non-ASCII character
    charset: "ascii",
    // comments (which esbuild keeps as written, non-ASCII too) and layout are not needed to run it
    minifyWhitespace: true,
    plugins: [standIns, daEnvironmentLoader],
  });
  const file = join(BUNDLE_DIR, "backup-drone-program.cjs");
  const bytes = await readFile(file);
  if (bytes.some(byte => byte > 0x7f)) throw new Error(`${relative(ROOT, file)} is not pure ASCII: the code cache's loader reads it as Latin-1`);
  const misplaced = Object.keys(result.metafile.inputs).filter(input => NOT_IN_PROGRAM.test(input));
  if (misplaced.length > 0) throw new Error(`the command line's bundle took in the daemon's libraries: ${misplaced.slice(0, 5).join(", ")}`);
  return { metafile: result.metafile, buildId: createHash("sha256").update(bytes).digest("hex").slice(0, 16) };
}

/**
 * The pre-scan's worker (apps/drone/core/prescan-worker.mts) as one small ES module,
 * `prescan-worker.mjs`, beside the bundles that start it (apps/drone/core/prescan-beside.mts
 * finds it next to itself): on its own, not split, so that the worker loads the walk and
 * nothing else.
 */
async function bundlePrescanWorker(): Promise<Metafile> {
  const result = await build({ ...COMMON, entryPoints: { "prescan-worker": "apps/drone/core/prescan-worker.mts" }, format: "esm", outExtension: { ".js": ".mjs" } });
  const inputs = Object.keys(result.metafile.inputs);
  const unexpected = inputs.filter(input => !/^apps\/drone\/core\/(prescan|prescan-worker|borg-walk)\.mts$/.test(input));
  if (unexpected.length > 0) throw new Error(`the pre-scan's worker took in more than the walk: ${unexpected.slice(0, 5).join(", ")}`);
  return result.metafile;
}

/** Build dist/bin; returns the files written. */
async function bundleBins(): Promise<string[]> {
  const program = await bundleProgram();
  const worker = await bundlePrescanWorker();
  const result = await build({
    ...COMMON,
    entryPoints: { "backup-drone": "apps/drone/bin.mts", "backup-coordinator": "apps/backup_coordinator/main.mts" },
    splitting: true,
    format: "esm",
    outExtension: { ".js": ".mjs" },
    // the chunks sit beside the entries: synapse's files are found from any of them (synapseFiles)
    chunkNames: "[name]-[hash]",
    define: { DRONE_PROGRAM_BUILD: JSON.stringify(program.buildId) },
    // bundled CommonJS packages (ws, mysql2…) call require for Node's modules and optional packages
    banner: { js: 'import { createRequire as __bundleRequire } from "node:module"; const require = __bundleRequire(import.meta.url);' },
    plugins: [standIns, daEnvironmentLoader, synapseFiles],
  });
  await cp(join(SYNAPSE, "migrations"), join(BUNDLE_DIR, "synapse", "migrations"), { recursive: true });
  await cp(join(SYNAPSE, "package.json"), join(BUNDLE_DIR, "synapse", "package.json"));
  const metafile = {
    inputs: { ...program.metafile.inputs, ...result.metafile.inputs, ...worker.inputs },
    outputs: { ...program.metafile.outputs, ...result.metafile.outputs, ...worker.outputs },
  };
  await writeFile(BUNDLE_META, JSON.stringify(metafile));
  const written = Object.keys(metafile.outputs).map(file => join(ROOT, file));
  // chunks of an earlier build (their names carry a hash of their contents) would be packed too
  const keep = new Set([...written, BUNDLE_META]);
  for (const entry of await readdir(BUNDLE_DIR, { withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isFile() && !keep.has(path)) await rm(path);
  }
  for (const bin of ["backup-drone.mjs", "backup-coordinator.mjs"]) await chmod(join(BUNDLE_DIR, bin), 0o755);
  return written;
}

const started = performance.now();
const written = await bundleBins();
console.log(`bundled the bins into ${relative(ROOT, BUNDLE_DIR)} (${written.length} files, ${Math.round(performance.now() - started)} ms)`);
