/**
 * `@digital-alchemy/core` imports `@dotenvx/dotenvx` when it loads, and calls its `config()`
 * at every boot to read `--env-file` or `./.env` into the environment, overriding what was
 * exported. Both bins read their env file themselves (only `--env-file`, never overriding an
 * exported variable: libs/config/sources.mts), so DA's reading must never run; and loading
 * dotenvx (undici, ajv, conf, systeminformation and more) costs about 0.17 s and 30 MB on
 * every start of every command, measured on a 2-core machine (docs/benchmarks.md).
 *
 * {@link deferDotenvx} puts a stand-in for dotenvx into Node's CommonJS module cache
 * (`require.cache`, which Node documents as writable): an object whose `config` does nothing.
 * An ESM `import` of a CommonJS package is served from that cache, so DA gets the stand-in. It
 * must run before `@digital-alchemy/core` is loaded, which is why both bins import their
 * commands dynamically after calling it.
 */
import nodeModule, { createRequire } from "node:module";

/** What DA uses of dotenvx. */
interface Dotenvx {
  config: (options?: object) => unknown;
}

/**
 * Install the stand-in. Throws when dotenvx is already loaded: something imported DA before
 * this call, and DA would read `./.env` over the exported environment (an import-order mistake
 * in a bin, which every test of that bin then shows). Does nothing when dotenvx cannot be
 * found from `@digital-alchemy/core`: then DA cannot import it either.
 */
export function deferDotenvx(): void {
  let require: NodeJS.Require;
  let path: string;
  try {
    require = createRequire(import.meta.resolve("@digital-alchemy/core"));
    path = require.resolve("@dotenvx/dotenvx");
  } catch {
    return;
  }
  if (require.cache[path] !== undefined) {
    throw new Error(
      "@dotenvx/dotenvx was loaded before deferDotenvx() ran: import @digital-alchemy/core only after it, or Digital Alchemy reads ./.env over the exported environment",
    );
  }
  const standIn = new nodeModule(path);
  standIn.filename = path;
  standIn.loaded = true;
  standIn.exports = { config: () => undefined } satisfies Dotenvx;
  require.cache[path] = standIn;
}
