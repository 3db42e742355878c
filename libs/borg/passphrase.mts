/**
 * How the passphrase reaches borg: from the setting, a file or a passcommand (run here, in a
 * process group of its own with a deadline), then by file descriptor or environment, never
 * argv; and borg's whole environment, without our secrets.
 */
import { readFile } from "node:fs/promises";

import { runShell } from "../process/index.mjs";

import { type BorgCommand } from "./command.mjs";
import { BORG_PASSPHRASE_VARIABLE, inheritedEnv } from "./environment.mjs";
import { BorgError, borgError } from "./errors.mjs";
import { type RunOptions } from "./runner.mjs";
import { Secret } from "./secret.mjs";

/** The descriptor borg reads the passphrase from (BORG_PASSPHRASE_FD). */
export const PASSPHRASE_FD = 3;
const DEFAULT_PASSCOMMAND_TIMEOUT_MS = 60_000;
/** What a passcommand wrote to stderr that a message quotes, at most. */
const MAX_QUOTED = 200;

type PassphraseOptions = Pick<RunOptions, "passcommandTimeoutMs" | "dropEnv" | "signal">;

/**
 * Run the passcommand in a process group of its own, with a deadline and the run's abort, and
 * read the passphrase from its stdout (trailing newlines dropped, as borg does). It runs
 * through `sh -c` with our environment less the drone's own secret settings and borg's
 * passphrase variables: a passcommand fetches a secret, and may need a credential of its
 * own to do it (`VAULT_TOKEN`, `OP_SERVICE_ACCOUNT_TOKEN`), which borg and hooks do not get.
 */
/** The passcommand's environment: see {@link passcommandValue}. */
export function passcommandEnv(env: NodeJS.ProcessEnv, drop: readonly string[]): Record<string, string> {
  return inheritedEnv(env, { drop, secretNames: BORG_PASSPHRASE_VARIABLE });
}

async function passcommandValue(command: BorgCommand<unknown>, passcommand: string, options: PassphraseOptions): Promise<Secret> {
  const context = { command: command.command, repository: command.repository };
  const timeoutMs = options.passcommandTimeoutMs ?? DEFAULT_PASSCOMMAND_TIMEOUT_MS;
  const run = await runShell(passcommand, {
    env: passcommandEnv(process.env, options.dropEnv ?? []),
    timeoutMs,
    signal: options.signal,
  });
  const text = run.stdout.replace(/\n+$/, "");
  const secret = text.length > 0 ? new Secret(text) : undefined;
  const said = (secret ? secret.redact(run.stderr) : run.stderr)
    .split("\n")
    .map(line => line.trim())
    .filter(line => line.length > 0)
    .at(-1)
    ?.slice(0, MAX_QUOTED);
  const fail = (detail: string) => borgError("passcommand_failed", { ...context, details: [detail] });
  const { end } = run;
  switch (end.kind) {
    case "exited":
      if (end.code === 0) {
        if (secret) return secret;
        throw fail("printed nothing");
      }
      if (end.code === null) throw fail(`was killed by ${end.signal ?? "a signal"}`);
      throw fail(`exited with ${end.code}${said ? ` (${said})` : ""}`);
    case "timed_out":
      throw fail(
        `did not finish within ${Math.round(timeoutMs / 1000)} s and was stopped${run.stopped?.groupGone === false ? " (some of its processes could not be stopped)" : ", with its processes"}`,
      );
    case "aborted":
      throw new BorgError(
        "interrupted",
        `The passcommand for ${command.repository ?? "the repository"} was stopped: the run was interrupted before borg ${command.command} started.`,
        context,
      );
    case "not_started":
      throw fail(`could not start (${end.code})`);
  }
}

/** The passphrase of a command's repository: given, read from its file, or printed by its passcommand. */
export async function passphraseValue(command: BorgCommand<unknown>, options: PassphraseOptions): Promise<Secret | undefined> {
  const source = command.passphrase;
  if (!source) return undefined;
  if (source.kind === "passphrase") return source.value;
  if (source.kind === "command") return await passcommandValue(command, source.command, options);
  const text = await readFile(source.path, "utf8").catch((error: NodeJS.ErrnoException) => {
    throw borgError("passphrase_missing", {
      command: command.command,
      repository: command.repository,
      details: [`cannot read the passphrase file ${source.path}: ${error.code ?? "error"}`],
      passphraseFile: source.path,
    });
  });
  return new Secret(text.replace(/\r?\n$/, ""));
}

/**
 * borg's whole environment: ours without our secrets (see {@link inheritedEnv}) and without
 * `dropEnv`, then the run's and the command's variables, then the passphrase's descriptor (or,
 * with the `env` transport, the passphrase). A passcommand never reaches borg: the runner has
 * run it already.
 */
export function borgEnvironment(
  command: BorgCommand<unknown>,
  options: Pick<RunOptions, "env" | "dropEnv">,
  secret: Secret | undefined,
  inherited: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const env = inheritedEnv(inherited, { drop: options.dropEnv });
  Object.assign(env, options.env, command.env);
  for (const key of Object.keys(env)) {
    // borg's own passphrase variables: only what the runner sets below may reach borg
    if (BORG_PASSPHRASE_VARIABLE.test(key)) delete env[key];
  }
  if (secret && command.passphraseTransport === "env") env.BORG_PASSPHRASE = secret.reveal();
  if (secret && command.passphraseTransport === "fd") env.BORG_PASSPHRASE_FD = String(PASSPHRASE_FD);
  return env;
}
