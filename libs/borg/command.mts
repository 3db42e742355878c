/**
 * One borg invocation as data, and what every command run against a repository shares: the
 * passphrase source, the environment, the common options, archive names and prefixes.
 */
import { homedir } from "node:os";
import { join } from "node:path";

import type { LogMessage } from "./log-lines.mjs";
import { type Secret } from "./secret.mjs";
import { effectiveRsh, isRemote, shellWord, type SshHostKeyPolicy } from "./ssh.mjs";

/** Where borg gets the repository passphrase from. */
export type PassphraseSource =
  | { kind: "passphrase"; value: Secret }
  | { kind: "file"; path: string }
  | { kind: "command"; command: string };

/** A repository and how to reach it: everything shared by the commands run against it. */
export interface BorgRepository {
  /** Path or URL (`/srv/borg`, `ssh://user@host:22/./repo`). */
  location: string;
  passphrase?: PassphraseSource;
  /** How a passphrase or passphrase file reaches borg; default `fd` (never visible in /proc/PID/environ). */
  passphraseTransport?: "fd" | "env";
  /** BORG_RSH, e.g. `ssh -i /root/.ssh/borg`; the client appends options so that ssh never asks (see ssh.mts). */
  rsh?: string;
  /** Whether ssh accepts a host not yet in known_hosts (`accept-new`) or refuses it (`known`, the default). */
  sshHostKeyPolicy?: SshHostKeyPolicy;
  /** `--remote-path`: the borg binary on the remote host. */
  remotePath?: string;
  /** BORG_BASE_DIR: where borg keeps its cache, config and security data. */
  baseDir?: string;
  /** BORG_HOST_ID: a stable host id for lock ownership (containers). */
  hostId?: string;
  /** `--lock-wait` seconds (borg's default is 1). */
  lockWaitSeconds?: number;
  /** Answer yes to "the repository was moved" (BORG_RELOCATED_REPO_ACCESS_IS_OK). */
  allowRelocated?: boolean;
  /** Answer yes to "unknown unencrypted repository" (BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK). */
  allowUnknownUnencrypted?: boolean;
}

/** What a command's parser receives from the runner. */
export interface BorgOutput {
  stdout: string;
  exitCode: number;
  /** Every log_message line borg wrote, in order. */
  logs: readonly LogMessage[];
}

/** One borg invocation, as data. */
export interface BorgCommand<T> {
  /** The borg subcommand, for messages (`create`, `list`, …). */
  readonly command: string;
  /** argv after the borg binary. Never holds a secret. */
  readonly args: readonly string[];
  /** Environment variables for borg (no secrets; the runner adds the passphrase). */
  readonly env: Readonly<Record<string, string>>;
  readonly passphrase?: PassphraseSource;
  readonly passphraseTransport: "fd" | "env";
  /** Working directory (extract writes into it). */
  readonly cwd?: string;
  /** For messages: the repository and archive this command names. */
  readonly repository?: string;
  readonly archive?: string;
  /** For a lock timeout's message: `borg break-lock` for this repository, as a person must paste it. */
  readonly breakLockLine?: string;
  readonly parse: (output: BorgOutput) => T;
}

const yesNo = (value: boolean | undefined) => (value ? "yes" : "no");

/**
 * Where borg keeps its cache (borg's `get_cache_dir`): BORG_CACHE_DIR; else `borg` in
 * `<BORG_BASE_DIR>/.cache`; without a BORG_BASE_DIR, in XDG_CACHE_HOME or `~/.cache`.
 * `env` is the environment borg inherits; the repository's base folder is set over it.
 * Undefined when there is no home to find (no HOME, and a user the system does not know).
 */
export function cacheDirOf(repository: Pick<BorgRepository, "baseDir">, env: NodeJS.ProcessEnv, home: () => string = homedir): string | undefined {
  if (env.BORG_CACHE_DIR !== undefined) return env.BORG_CACHE_DIR;
  const base = repository.baseDir ?? env.BORG_BASE_DIR;
  if (base) return join(base, ".cache", "borg");
  if (env.XDG_CACHE_HOME !== undefined) return join(env.XDG_CACHE_HOME, "borg");
  try {
    return join(env.HOME || home(), ".cache", "borg");
  } catch {
    return undefined;
  }
}

/**
 * Environment for a repository; unattended answers are always explicit. A remote repository's
 * ssh runs with options that make it fail at once rather than ask (see {@link effectiveRsh}).
 */
export function repositoryEnv(repository: BorgRepository): Record<string, string> {
  const env: Record<string, string> = {
    BORG_EXIT_CODES: "modern",
    BORG_DISPLAY_PASSPHRASE: "no",
    BORG_RELOCATED_REPO_ACCESS_IS_OK: yesNo(repository.allowRelocated),
    BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: yesNo(repository.allowUnknownUnencrypted),
    BORG_CHECK_I_KNOW_WHAT_I_AM_DOING: "NO",
    BORG_DELETE_I_KNOW_WHAT_I_AM_DOING: "NO",
  };
  if (isRemote(repository.location)) env.BORG_RSH = effectiveRsh(repository.rsh, repository.sshHostKeyPolicy);
  else if (repository.rsh !== undefined) env.BORG_RSH = repository.rsh;
  if (repository.baseDir !== undefined) env.BORG_BASE_DIR = repository.baseDir;
  if (repository.hostId !== undefined) env.BORG_HOST_ID = repository.hostId;
  return env;
}

/**
 * `borg break-lock` for a repository as a person must paste it on this machine: with the
 * drone's BORG_BASE_DIR, its BORG_RSH (ssh command, key, options) and `--remote-path` when it is remote. No
 * passphrase: break-lock reads no key.
 */
export function breakLockLine(repository: BorgRepository): string {
  const remote = isRemote(repository.location);
  const words: string[] = [];
  // break-lock also frees borg's cache lock, which lives under the drone's BORG_BASE_DIR
  if (repository.baseDir !== undefined) words.push(`BORG_BASE_DIR=${shellWord(repository.baseDir)}`);
  if (remote && repository.rsh !== undefined) words.push(`BORG_RSH=${shellWord(repository.rsh)}`);
  words.push("borg", "break-lock");
  if (remote && repository.remotePath !== undefined) words.push("--remote-path", shellWord(repository.remotePath));
  words.push(shellWord(repository.location));
  return words.join(" ");
}

/** Options every repository command shares, placed after the subcommand. */
export function commonArgs(repository: BorgRepository): string[] {
  const args = ["--log-json"];
  if (repository.lockWaitSeconds !== undefined) args.push("--lock-wait", String(repository.lockWaitSeconds));
  if (repository.remotePath !== undefined) args.push("--remote-path", repository.remotePath);
  return args;
}

/** `REPO::ARCHIVE`. */
export const archiveLocation = (repository: BorgRepository, archive: string) =>
  `${repository.location}::${archive}`;

/**
 * A glob that matches archive names starting with `prefix` and nothing else: the
 * prefix's own glob characters are escaped so that a name can never widen the match.
 */
export function prefixGlob(prefix: string): string {
  if (prefix.length === 0) throw new Error("an archive prefix must not be empty");
  return `${prefix.replace(/[*?[\]]/g, char => `[${char}]`)}*`;
}
