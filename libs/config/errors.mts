/** Errors as people read them: the configuration error, any thrown value, a schema's complaints. */
import { type z } from "zod";

/** Invalid configuration: every problem, each naming its key; the process exits non-zero. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map(problem => `  - ${problem}`).join("\n")}`);
  }
}

/** What went wrong, in one text: an Error's message, or anything else thrown as text. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Each of a schema's complaints as `path: message` (`(payload)` when the whole value is wrong). */
export function issueLines(error: z.ZodError): string[] {
  return error.issues.map(issue => `${issue.path.join(".") || "(payload)"}: ${issue.message}`);
}

// the exit code both apps document for an invalid configuration
const CONFIG_EXIT_CODE = 2;

/**
 * Read an app's configuration at boot: an invalid one is logged as fatal (every problem with
 * its key) and sets exit code 2 before the error ends the boot; any other error passes as it is.
 */
export function parseConfigOrExit<T>(parse: () => T, logger: { fatal(message: string): void }): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof ConfigError) {
      logger.fatal(error.message);
      process.exitCode = CONFIG_EXIT_CODE;
    }
    throw error;
  }
}
