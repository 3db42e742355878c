/**
 * Bundles the two bins with esbuild into dist/bin (`npm run build` runs it after tsc): one
 * entry per bin, `backup-drone.mjs` and `backup-coordinator.mjs`, and shared chunks beside
 * them, split at the bins' dynamic imports so that a one-shot command never loads the
 * daemon's Home Assistant libraries. Node 20's module loader spent about 0.15 s of CPU
 * resolving, reading and compiling the ~270 files of a one-shot command; from a few chunks
 * the same command starts in about half the CPU time (docs/benchmarks.md, "Where the time goes").
 *
 * The library exports (`./drone`, `./coordinator`, `./borg`, `./protocol`) stay as tsc emits
 * them in dist/apps and dist/libs: a DA application that imports them shares its own copy
 * of Digital Alchemy with them. Everything the bins load is in the bundle (one copy of DA
 * core for the drone, hass and synapse) except better-sqlite3, a native addon that Node
 * loads from node_modules. Run: `tsx scripts/bundle.mts`.
 */
import { chmod, cp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, relative, sep } from "node:path";

import { build, type Plugin } from "esbuild";

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

/** Build dist/bin; returns the files written. */
async function bundleBins(): Promise<string[]> {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: { "backup-drone": "apps/drone/main.mts", "backup-coordinator": "apps/backup_coordinator/main.mts" },
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    outdir: BUNDLE_DIR,
    outExtension: { ".js": ".mjs" },
    // the chunks sit beside the entries: synapse's files are found from any of them (synapseFiles)
    chunkNames: "[name]-[hash]",
    external: ["better-sqlite3"],
    // bundled CommonJS packages (ws, mysql2…) call require for Node's modules and optional packages
    banner: { js: 'import { createRequire as __bundleRequire } from "node:module"; const require = __bundleRequire(import.meta.url);' },
    plugins: [standIns, synapseFiles],
    metafile: true,
    logLevel: "warning",
  });
  await cp(join(SYNAPSE, "migrations"), join(BUNDLE_DIR, "synapse", "migrations"), { recursive: true });
  await cp(join(SYNAPSE, "package.json"), join(BUNDLE_DIR, "synapse", "package.json"));
  await writeFile(BUNDLE_META, JSON.stringify(result.metafile));
  const written = Object.keys(result.metafile.outputs).map(file => join(ROOT, file));
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
