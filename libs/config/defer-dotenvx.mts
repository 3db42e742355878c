/**
 * `@digital-alchemy/core` imports `@dotenvx/dotenvx` when it loads, and dotenvx loads undici,
 * ajv, conf, systeminformation and more at import: about 0.17 s and 30 MB on every start of
 * every command, measured on a 2-core machine (docs/benchmarks.md). DA itself only ever calls
 * `config()`, and only when there is an env file to read (`./.env` or `--env-file`).
 *
 * {@link deferDotenvx} puts a stand-in for dotenvx into Node's CommonJS module cache
 * (`require.cache`, which Node documents as writable): an object whose `config` loads the
 * real package on its first call and hands over. An ESM `import` of a CommonJS package is
 * served from that cache, so DA gets the stand-in. It must run before `@digital-alchemy/core`
 * is loaded, which is why both bins import their commands dynamically after calling it.
 *
 * With `{ envFiles: "own" }` the stand-in's `config` does nothing at all: the caller reads
 * its env file itself (the drone: only `--env-file`, never overriding an exported variable,
 * see apps/drone/cli/sources.mts), and DA's own loading, which overrides the environment
 * with `./.env`, never runs.
 */
import nodeModule, { createRequire } from "node:module";

/** What DA uses of dotenvx. */
interface Dotenvx {
  config: (options?: object) => unknown;
}

/**
 * Install the stand-in. Returns false, and changes nothing, when dotenvx is already loaded or
 * cannot be found from `@digital-alchemy/core` (then DA loads it as it always does).
 */
export function deferDotenvx(options: { envFiles: "dotenvx" | "own" } = { envFiles: "dotenvx" }): boolean {
  let require: NodeJS.Require;
  let path: string;
  try {
    require = createRequire(import.meta.resolve("@digital-alchemy/core"));
    path = require.resolve("@dotenvx/dotenvx");
  } catch {
    return false;
  }
  if (require.cache[path] !== undefined) return false;
  let real: Dotenvx | undefined;
  const load = (): Dotenvx => {
    if (real === undefined) {
      delete require.cache[path];
      real = require(path) as Dotenvx;
    }
    return real;
  };
  const standIn = new nodeModule(path);
  standIn.filename = path;
  standIn.loaded = true;
  standIn.exports = {
    config: (config?: object) => (options.envFiles === "own" ? undefined : load().config(config)),
  } satisfies Dotenvx;
  require.cache[path] = standIn;
  return true;
}
