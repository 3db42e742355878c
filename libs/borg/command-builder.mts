/**
 * The parts the command builders are made of (not part of libs/borg's public API): an option
 * pushed when set, the `--json` parser, a repository command with everything it shares.
 */
import { z } from "zod";

import { type BorgCommand, type BorgOutput, type BorgRepository, breakLockLine, commonArgs, repositoryEnv } from "./command.mjs";
import { borgError } from "./errors.mjs";

/** Push `--flag value` when the value is set. */
export function option(args: string[], flag: string, value: string | number | undefined): void {
  if (value !== undefined) args.push(flag, String(value));
}

/** A parser of borg's `--json` result: one schema, then the normalising step; anything else is a typed `unknown` error. */
export function jsonParser<S extends z.ZodType, T>(command: string, schema: S, normalise: (raw: z.infer<S>) => T) {
  return ({ stdout, exitCode }: BorgOutput): T => {
    let json: unknown;
    try {
      json = JSON.parse(stdout);
    } catch {
      throw borgError("unknown", { command, exitCode, details: ["borg printed no JSON result"] });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw borgError("unknown", {
        command,
        exitCode,
        details: [`unexpected JSON from borg: ${z.prettifyError(parsed.error)}`],
      });
    }
    return normalise(parsed.data);
  };
}

/** A command against a repository: the subcommand, the common options, the environment and the passphrase. */
export function repositoryCommand<T>(
  repository: BorgRepository,
  command: string,
  args: string[],
  parse: (output: BorgOutput) => T,
  extra: { archive?: string; cwd?: string; readsKey?: boolean } = {},
): BorgCommand<T> {
  const { readsKey = true, ...named } = extra;
  return {
    command,
    args: [command, ...commonArgs(repository), ...args],
    env: repositoryEnv(repository),
    // a command that never opens the key gets no passphrase (and runs no passcommand)
    passphrase: readsKey ? repository.passphrase : undefined,
    passphraseTransport: repository.passphraseTransport ?? "fd",
    repository: repository.location,
    breakLockLine: breakLockLine(repository),
    ...named,
    parse,
  };
}
