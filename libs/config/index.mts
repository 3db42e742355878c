/** What both apps share about configuration. */

/** Invalid configuration: every problem, each naming its key; the process exits non-zero. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map(problem => `  - ${problem}`).join("\n")}`);
  }
}
