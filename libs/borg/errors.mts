/**
 * What a borg exit code and msgid mean. One table decides the outcome of an exit code,
 * one table maps msgids to typed errors; every error says what to do next.
 */
import type { LogMessage } from "./schemas.mjs";

/** How a finished borg process ended. */
export type ExitOutcome = "success" | "warning" | "error" | "signal";

interface ExitRange {
  from: number;
  to: number;
  outcome: ExitOutcome;
}

/**
 * The exit-code policy. 1.2 uses 0/1/2; 1.4 with BORG_EXIT_CODES=modern adds specific
 * error codes (3–99) and warning codes (100–127). 128+N is death by signal N.
 */
export const EXIT_CODE_POLICY: readonly ExitRange[] = [
  { from: 0, to: 0, outcome: "success" },
  { from: 1, to: 1, outcome: "warning" },
  { from: 2, to: 99, outcome: "error" },
  { from: 100, to: 127, outcome: "warning" },
  { from: 128, to: 255, outcome: "signal" },
];

/** Classify an exit code through {@link EXIT_CODE_POLICY}. */
export function classifyExitCode(code: number): ExitOutcome {
  return EXIT_CODE_POLICY.find(range => code >= range.from && code <= range.to)?.outcome ?? "error";
}

/** Every kind of failure the client reports. */
export type BorgErrorKind =
  | "passphrase_wrong"
  | "passphrase_missing"
  | "passcommand_failed"
  | "repository_missing"
  | "repository_invalid"
  | "repository_access_aborted"
  | "lock_timeout"
  | "connection_closed"
  | "archive_exists"
  | "archive_missing"
  | "integrity"
  | "not_installed"
  | "unsupported_version"
  | "interrupted"
  | "timeout"
  | "unknown";

/** Context for building an error message. */
export interface BorgErrorContext {
  /** The repository the command ran against, if any. */
  repository?: string;
  /** The archive the command named, if any. */
  archive?: string;
  /** The borg subcommand. */
  command: string;
  exitCode?: number;
  /** Error-level log lines borg wrote (already free of secrets). */
  details?: string[];
}

/** A borg failure with a kind, what borg said, and what to do. */
export class BorgError extends Error {
  override readonly name = "BorgError";
  constructor(
    readonly kind: BorgErrorKind,
    message: string,
    readonly context: BorgErrorContext,
  ) {
    super(message);
  }
}

const repo = (context: BorgErrorContext) => context.repository ?? "the repository";

/** Message builders, one per kind: what happened and what to do about it. */
const MESSAGES: Record<BorgErrorKind, (context: BorgErrorContext) => string> = {
  passphrase_wrong: c =>
    `The passphrase for ${repo(c)} is wrong. Check the configured passphrase, passcommand or passphrase file; it must be the one the repository was created with.`,
  passphrase_missing: c =>
    c.details?.length
      ? `No passphrase for ${repo(c)}: ${c.details.join("; ")}. Check the passphrase file setting.`
      : `${repo(c)} is encrypted and no passphrase was given. Configure a passphrase, a passcommand or a passphrase file.`,
  passcommand_failed: c =>
    `The passcommand for ${repo(c)} ${c.details?.join("; ") ?? "failed"}, so borg was not started. Run the configured passcommand by hand, as the user the drone runs as: it must print the passphrase and exit without waiting for input.`,
  repository_missing: c =>
    `No borg repository exists at ${repo(c)}. Check the repository setting, or create it first with \`borg init --encryption=repokey ${repo(c)}\`.`,
  repository_invalid: c =>
    `${repo(c)} exists but is not a borg repository. Check the repository path; it must point at the folder borg init created.`,
  repository_access_aborted: c =>
    `borg refused to use ${repo(c)}: it was moved (relocated) or is an unencrypted repository this machine has not seen. If that is expected, allow it explicitly (relocated / unknown unencrypted repository options).`,
  lock_timeout: c =>
    `${repo(c)} is locked by another borg process. Wait for it to finish; if no borg runs any more (for example after a crash on another machine), run \`borg break-lock ${repo(c)}\`.`,
  connection_closed: c =>
    `The connection to ${repo(c)} closed. Check that the host is reachable, that the ssh key is accepted without a prompt (BORG_RSH with BatchMode=yes), and that borg is installed on the remote host.`,
  archive_exists: c =>
    `An archive named ${c.archive ?? "(unknown)"} already exists in ${repo(c)}. Use a unique archive name (the default name carries a timestamp).`,
  archive_missing: c =>
    `No archive named ${c.archive ?? "(unknown)"} exists in ${repo(c)}. List the archives to see the names available.`,
  integrity: c =>
    `borg found damaged data in ${repo(c)}${c.details?.length ? ` (${c.details.join("; ")})` : ""}. Do not prune or compact until it is understood: run \`borg check --verify-data ${repo(c)}\` to see what is affected, check the disk that holds the repository, and see docs/restore.md (a failed check).`,
  not_installed: () =>
    "borg is not installed or not on PATH. Install it (Debian/Ubuntu: `apt-get install borgbackup`) or configure the path of the borg binary.",
  unsupported_version: c =>
    `borg ${c.details?.[0] ?? "of this version"} is not supported. Install borg 1.2 or 1.4.`,
  interrupted: c =>
    `borg ${c.command} was interrupted${c.command === "create" ? "; a checkpoint archive keeps what was uploaded, and the next run reuses it" : ""}.`,
  timeout: c => `borg ${c.command} made no progress for too long and was stopped. Check the repository host and the network.`,
  unknown: c =>
    `borg ${c.command} failed (exit code ${c.exitCode ?? "unknown"})${c.details?.length ? `: ${c.details.join("; ")}` : ""}.`,
};

/** Build a typed error of one kind. */
export function borgError(kind: BorgErrorKind, context: BorgErrorContext): BorgError {
  return new BorgError(kind, MESSAGES[kind](context), context);
}

/** borg msgids and the error kind each one means. */
export const MSGID_KINDS: Readonly<Record<string, BorgErrorKind>> = {
  PassphraseWrong: "passphrase_wrong",
  NoPassphraseFailure: "passphrase_missing",
  PasswordRetriesExceeded: "passphrase_missing",
  PasscommandFailure: "passphrase_wrong",
  "Repository.DoesNotExist": "repository_missing",
  "Repository.InvalidRepository": "repository_invalid",
  "Repository.InvalidRepositoryConfig": "repository_invalid",
  "Cache.RepositoryAccessAborted": "repository_access_aborted",
  "Cache.CacheInitAbortedError": "repository_access_aborted",
  "Cache.RepositoryIDNotUnique": "repository_invalid",
  LockTimeout: "lock_timeout",
  LockFailed: "lock_timeout",
  ConnectionClosed: "connection_closed",
  ConnectionClosedWithHint: "connection_closed",
  "Archive.AlreadyExists": "archive_exists",
  "Archive.DoesNotExist": "archive_missing",
  IntegrityError: "integrity",
  "Repository.IntegrityError": "integrity",
  "Repository.ObjectNotFound": "integrity",
  "Signal.SIGTERM": "interrupted",
  "Signal.SIGHUP": "interrupted",
};

/**
 * How borg words damaged data when it has no msgid for it: a MAC or checksum failure
 * raised from deep inside (borg 1.2 logs it as a "Local Exception" with a traceback).
 */
const INTEGRITY_TEXT = /(?:IntegrityError|Data integrity error|MAC Authentication failed|Segment entry checksum mismatch)[^\n]*/;

/** The one line of borg's error output that names the damage (not the whole traceback). */
export function integrityDetail(logs: readonly LogMessage[]): string | undefined {
  for (const log of logs) {
    const found = INTEGRITY_TEXT.exec(log.message);
    if (found) return found[0].replace(/^borg\.[\w.]+\.IntegrityError:\s*/, "").trim();
  }
  return undefined;
}

/**
 * Decide the error of a failed run from borg's error log lines: the first msgid that
 * the table knows wins; then damaged data named in the text; otherwise `unknown` with
 * what borg said.
 */
export function errorFromLogs(logs: readonly LogMessage[], context: BorgErrorContext): BorgError {
  for (const log of logs) {
    const kind = log.msgid === undefined ? undefined : MSGID_KINDS[log.msgid];
    if (kind) return borgError(kind, context);
  }
  const damage = integrityDetail(logs);
  if (damage !== undefined) return borgError("integrity", { ...context, details: [damage] });
  return borgError("unknown", context);
}
