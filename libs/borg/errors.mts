/**
 * Typed borg errors: one table maps msgids to kinds, and every kind's message says what to
 * do next. The exit-code policy and the kinds are in error-kinds.mts; reading a failed run's
 * output into an error is in failure.mts.
 */
import { type BorgErrorKind } from "./error-kinds.mjs";
import { type SshFailure, sshTarget } from "./ssh.mjs";

/** Context for building an error message. */
export interface BorgErrorContext {
  /** The repository the command ran against, if any. */
  repository?: string;
  /** The archive the command named, if any. */
  archive?: string;
  /** The borg subcommand. */
  command: string;
  exitCode?: number;
  /** Error-level log lines borg wrote (already free of secrets), without a traceback. */
  details?: string[];
  /** borg's Python traceback when it crashed: for the debug log, never for a message. */
  traceback?: string;
  /** The patterns the command gave borg that may be the invalid one (`invalid_pattern`). */
  patterns?: string[];
  /** Where the disk is full (`disk_full`). */
  space?: FullDisk;
  /** What ssh said when it failed (the ssh kinds, `connection_lost`, `connection_closed`). */
  ssh?: SshFailure;
  /** A create committed a checkpoint archive before it failed (borg saved its cache after archive progress). */
  checkpoint?: boolean;
  /** The passphrase file that could not be read (`passphrase_missing` before borg started). */
  passphraseFile?: string;
  /** `borg break-lock` for the repository as it must be pasted (`lock_timeout`), BORG_RSH included. */
  breakLockLine?: string;
}

/** Where a write found no space, as far as borg's output tells. */
export interface FullDisk {
  /** The repository's filesystem, borg's cache folder, the restore target, or not said. */
  place: "repository" | "cache" | "target" | "unknown";
  /** The folder or file borg named, if it did. */
  path?: string;
  /** What borg said, when it says more than "no space" (how much was needed). */
  detail?: string;
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
    c.passphraseFile !== undefined
      ? `No passphrase for ${repo(c)}: ${c.details?.join("; ") ?? `cannot read ${c.passphraseFile}`}. Check the passphrase file setting: the file must exist and be readable by the user the drone runs as.`
      : `${repo(c)} is encrypted and no passphrase reached borg${c.details?.length ? ` (borg: ${c.details.map(line => line.replace(/\.+$/, "")).join("; ")})` : ""}. Configure a passphrase, a passcommand or a passphrase file.`,
  passcommand_failed: c =>
    `The passcommand for ${repo(c)} ${c.details?.join("; ") ?? "failed"}, so borg was not started. Run the configured passcommand by hand, as the user the drone runs as: it must print the passphrase and exit without waiting for input.`,
  repository_missing: c =>
    `No borg repository exists at ${repo(c)}. Check the repository setting, or create it first with \`borg init --encryption=repokey ${repo(c)}\`.`,
  repository_invalid: c =>
    `${repo(c)} exists but is not a borg repository. Check the repository path; it must point at the folder borg init created.`,
  repository_access_aborted: c =>
    `borg refused to use ${repo(c)}: it was moved (relocated) or is an unencrypted repository this machine has not seen. If that is expected, allow it explicitly (relocated / unknown unencrypted repository options).`,
  lock_timeout: c =>
    `${repo(c)} is locked by another borg process. Wait for it to finish; if no borg runs any more (for example after a crash on another machine), run \`${c.breakLockLine ?? `borg break-lock ${repo(c)}`}\`.`,
  connection_closed: c =>
    `${sshSaid(c, `The connection to ${repo(c)} closed before borg could talk to it`)}. Check that the host is reachable, that the ssh key is accepted without a prompt, and that borg is installed on the remote host (BORG_REMOTE_PATH).`,
  connection_lost: c =>
    `${sshSaid(c, `The connection to ${repo(c)} was lost`)} during borg ${c.command}${checkpointNote(c)}. Check the network and the repository host (is it up, did its ssh service restart?), then run again.`,
  ssh_host_unknown: c => {
    const { host, port } = target(c);
    return `${sshSaid(c, "Host key verification failed")}: the host key of ${host} is not in the known_hosts of the user the drone runs as. Check the host's key fingerprint, then add it as that user with \`ssh-keyscan -p ${port} ${host} >> ~/.ssh/known_hosts\` (or connect once by hand with ssh), or set SSH_HOST_KEY_POLICY=accept-new.`;
  },
  ssh_host_key_changed: c => {
    const { host, port } = target(c);
    const name = port === 22 ? host : `[${host}]:${port}`;
    return `${sshSaid(c, "REMOTE HOST IDENTIFICATION HAS CHANGED")}: the repository host sent a different host key${c.ssh?.fingerprint ? ` (${c.ssh.fingerprint})` : ""}. If it was reinstalled or its key replaced, verify the new fingerprint on the host itself (\`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\`), then run \`ssh-keygen -R '${name}'\` as the drone's user and add the new key; otherwise do not connect: someone may be intercepting the connection.`;
  },
  ssh_auth_denied: c =>
    `${sshSaid(c, "Permission denied")}: ${target(c).host} does not accept the drone's ssh key. Add the key's public half to the borg user's authorized_keys on that host (see docs/install.md), and check that BORG_RSH names the right key file (-i) and the URL the right user.`,
  ssh_connection_refused: c => {
    const { host, port } = target(c);
    return `${sshSaid(c, "Connection refused")}: nothing accepts ssh on ${host} port ${port}. Check that the host is up, that its ssh service runs, and the port in the repository URL.`;
  },
  ssh_unreachable: c =>
    `${sshSaid(c, "The host cannot be reached")}: ${target(c).host} is not reachable from here. Check the host name in the repository URL, the network between this machine and the host, and that the host is on.`,
  repository_path_refused: c =>
    `borg serve refused the repository path: ${c.details?.[0] ?? `Repository path not allowed: ${repo(c)}`}. The path in the repository URL must lie inside the --restrict-to-path of this key's line in the host's authorized_keys: fix whichever is wrong.`,
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
  interrupted: c => `borg ${c.command} was interrupted${checkpointNote(c)}.`,
  timeout: c => `borg ${c.command} made no progress for too long and was stopped. Check the repository host and the network.`,
  disk_full: c => diskFullMessage(c),
  invalid_pattern: c => {
    const patterns = c.patterns ?? [];
    const which = patterns.length === 1 ? `the pattern ${patterns[0] ?? ""}` : patterns.length > 1 ? `one of the patterns ${patterns.join(", ")}` : "a pattern";
    const fix = c.command === "create" ? "Fix the exclude pattern" : "Fix the pattern";
    return `borg ${c.command} rejected ${which} as invalid: ${c.details?.[0] ?? "not a pattern borg reads"}. ${fix}: re: is a Python regular expression, sh: and fm: are shell patterns, pp: and pf: are paths.`;
  },
  borg_crashed: c =>
    `borg ${c.command} crashed (exit code ${c.exitCode ?? "unknown"}): ${c.details?.[0] ?? "an unexpected error"}. If it happens again, read borg's traceback in the debug log (LOG_LEVEL=debug) and run \`borg check\`.`,
  unknown: c =>
    `borg ${c.command} failed (exit code ${c.exitCode ?? "unknown"})${c.details?.length ? `: ${c.details.join("; ")}` : ""}.`,
};

/** What ssh printed, quoted, or `fallback` when it printed nothing the drone could read. */
const sshSaid = (c: BorgErrorContext, fallback: string) => (c.ssh ? `ssh: ${c.ssh.line.replace(/\.$/, "")}` : fallback);

/** The host and port of the repository, for the commands a message suggests. */
function target(c: BorgErrorContext): { host: string; port: number } {
  return (c.repository === undefined ? undefined : sshTarget(c.repository)) ?? { host: "the repository host", port: 22 };
}

/** What a failed create left: a checkpoint (only when borg committed one during the run), or nothing. */
function checkpointNote(c: BorgErrorContext): string {
  if (c.command !== "create") return "";
  return c.checkpoint
    ? "; a checkpoint archive keeps what was uploaded until borg's last checkpoint, and the next run reuses it"
    : "; borg wrote no checkpoint during this run, so the next run uploads its data again";
}

/** What a full disk means for the run, by where it is full. */
function diskFullMessage(c: BorgErrorContext): string {
  const space = c.space ?? { place: "unknown" };
  const detail = space.detail ? ` (${space.detail})` : "";
  switch (space.place) {
    case "repository":
      return `No space left on device on the repository's filesystem: ${repo(c)}${detail}. Free space there (remove other files, or prune and compact old archives), then run again.`;
    case "cache":
      return `No space left on device for borg's cache (${space.path ?? "BORG_BASE_DIR"})${detail}. Free space there or point BORG_BASE_DIR at a filesystem with room, then run again.`;
    case "target":
      return `No space left on device in the restore target${space.path ? ` (${space.path})` : ""}${detail}. Free space there or restore into a folder on another filesystem.`;
    case "unknown":
      return `No space left on device${space.path ? ` writing ${space.path}` : ""}${detail}: the repository's filesystem or borg's cache (BORG_BASE_DIR) is full. Free space, then run again.`;
  }
}

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
  // at connect time (borg's hint: "Is borg working on the server?"); ssh's own lines say more
  ConnectionClosedWithHint: "connection_closed",
  // after borg and borg serve had begun to talk
  ConnectionClosed: "connection_lost",
  // borg 1.4: a write to borg serve met a broken pipe ("Connection to remote host is broken")
  ConnectionBrokenWithHint: "connection_lost",
  PathNotAllowed: "repository_path_refused",
  "Archive.AlreadyExists": "archive_exists",
  "Archive.DoesNotExist": "archive_missing",
  IntegrityError: "integrity",
  FileIntegrityError: "integrity",
  DecompressionError: "integrity",
  "Repository.IntegrityError": "integrity",
  "Repository.ObjectNotFound": "integrity",
  "Repository.InsufficientFreeSpaceError": "disk_full",
  "Repository.StorageQuotaExceeded": "disk_full",
  "Signal.SIGTERM": "interrupted",
  "Signal.SIGHUP": "interrupted",
};
