/**
 * What a borg exit code and msgid mean. One table decides the outcome of an exit code,
 * one table maps msgids to typed errors; every error says what to do next.
 */
import type { LogMessage } from "./schemas.mjs";
import { type SshFailure, sshFailure, sshNote, sshTarget } from "./ssh.mjs";

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

/** Every kind of failure the client reports (docs/events.md lists them). */
export const BORG_ERROR_KINDS = [
  "passphrase_wrong",
  "passphrase_missing",
  "passcommand_failed",
  "repository_missing",
  "repository_invalid",
  "repository_access_aborted",
  "lock_timeout",
  "connection_closed",
  "connection_lost",
  "ssh_host_unknown",
  "ssh_host_key_changed",
  "ssh_auth_denied",
  "ssh_connection_refused",
  "ssh_unreachable",
  "repository_path_refused",
  "archive_exists",
  "archive_missing",
  "integrity",
  "not_installed",
  "unsupported_version",
  "interrupted",
  "timeout",
  "disk_full",
  "invalid_pattern",
  "borg_crashed",
  "unknown",
] as const;
/** One kind of failure. */
export type BorgErrorKind = (typeof BORG_ERROR_KINDS)[number];

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
  PathNotAllowed: "repository_path_refused",
  "Archive.AlreadyExists": "archive_exists",
  "Archive.DoesNotExist": "archive_missing",
  IntegrityError: "integrity",
  "Repository.IntegrityError": "integrity",
  "Repository.ObjectNotFound": "integrity",
  "Repository.InsufficientFreeSpaceError": "disk_full",
  "Repository.StorageQuotaExceeded": "disk_full",
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

/** How a Python traceback begins. */
const TRACEBACK_START = "Traceback (most recent call last):";

/** borg's traceback among its plain-text stderr lines (a crash before its logging starts), from its first line on. */
export function textTraceback(lines: readonly string[]): string | undefined {
  const start = lines.findIndex(line => line.startsWith(TRACEBACK_START));
  return start === -1 ? undefined : lines.slice(start).join("\n");
}

/** borg's traceback in its log lines: the ERROR line after `Local Exception`. */
export function logTraceback(logs: readonly LogMessage[]): string | undefined {
  return logs.find(log => log.message.startsWith(TRACEBACK_START))?.message;
}

/** Whether a log line is part of how borg reports a crash (`Local Exception` and its traceback). */
export function isCrashReport(log: LogMessage): boolean {
  return log.msgid === "Exception" || log.message.startsWith(TRACEBACK_START);
}

/** What a traceback says: the exception it ended with and the innermost borg source file. */
export interface TracebackFacts {
  /** The exception's class (`OSError`, `re.error`). */
  name: string;
  /** Its message, possibly empty. */
  message: string;
  /** The innermost frame in borg's own code (`borg/cache.py`), if any. */
  borgFile?: string;
}

/** Read the last exception and the innermost borg frame of a Python traceback. */
export function tracebackFacts(traceback: string): TracebackFacts {
  // borg appends a footer (Platform:, Borg:, sys.argv: …) that is not part of the exception
  const body = traceback.split(/\n(?=Platform: )/)[0] ?? traceback;
  const lines = body.split("\n").filter(line => line.trim().length > 0);
  const last =
    lines.findLast(line => !/^\s/.test(line) && !line.startsWith(TRACEBACK_START) && !/^(During handling|The above exception)/.test(line)) ?? "";
  const colon = last.indexOf(": ");
  const files = [...body.matchAll(/File "[^"]*?\/(borg\/[^"]+)"/g)].map(match => match[1] ?? "");
  return {
    name: colon === -1 ? last.trim() : last.slice(0, colon).trim(),
    message: colon === -1 ? "" : last.slice(colon + 2).trim(),
    ...(files.length > 0 ? { borgFile: files.at(-1) } : {}),
  };
}

const NO_SPACE = /No space left on device(?::\s*'([^']+)')?/;
const FREE_SPACE_NEEDED = /required: [^,]+, available: [^)]+/;
/** borg's cache folder: a folder per repository id under the cache directory. */
const CACHE_PATH = /^(.*\/borg)\/[0-9a-f]{64}(?:\/|$)/;

/** Where the disk is full, from everything borg wrote; undefined when no write ran out of space. */
export function fullDisk(logs: readonly LogMessage[], context: Pick<BorgErrorContext, "command" | "repository" | "traceback">, text: readonly string[] = []): FullDisk | undefined {
  const needed = logs.find(log => log.msgid !== undefined && MSGID_KINDS[log.msgid] === "disk_full");
  if (needed) {
    const detail = FREE_SPACE_NEEDED.exec(needed.message)?.[0];
    return { place: "repository", ...(detail ? { detail } : {}) };
  }
  const mentions = [...logs.map(log => log.message), context.traceback ?? "", ...text].flatMap(line => {
    const found = NO_SPACE.exec(line);
    return found ? [{ line, path: found[1] }] : [];
  });
  if (mentions.length === 0) return undefined;
  const path = mentions.find(mention => mention.path !== undefined)?.path;
  if (path !== undefined) {
    const cache = CACHE_PATH.exec(path);
    if (cache) return { place: "cache", path: cache[1] ?? path };
    if (context.repository !== undefined && path.startsWith(`${context.repository}/`)) return { place: "repository" };
    return context.command === "extract" ? { place: "target", path } : { place: "unknown", path };
  }
  const inRepository =
    logs.some(log => log.logger === "borg.repository" && NO_SPACE.test(log.message)) ||
    (context.traceback !== undefined && tracebackFacts(context.traceback).borgFile === "borg/repository.py");
  if (inRepository) return { place: "repository" };
  return { place: context.command === "extract" ? "target" : "unknown" };
}

/** The argparse complaint of borg 1.2 about a pattern it cannot parse. */
const PATTERN_USAGE = /invalid parse_\w*pattern value: '(.*)'$/;
/** A pattern's style prefix (after a `+`/`-`/`!` of --pattern). */
const STYLE = /^(?:[+\-!]\s*)?([a-z]{2}):/;

/**
 * Why borg rejected a pattern, and which of the command's patterns it may be; undefined
 * when the failure is not about a pattern.
 */
export function patternProblem(traceback: string | undefined, text: readonly string[], patterns: readonly string[]): { reason: string; patterns: string[] } | undefined {
  for (const line of text) {
    const found = PATTERN_USAGE.exec(line);
    if (found) return { reason: "unknown pattern style", patterns: [found[1] ?? ""] };
  }
  if (traceback === undefined) return undefined;
  const facts = tracebackFacts(traceback);
  const style = /^Unknown pattern style: (\w+)/.exec(facts.message)?.[1];
  if (style !== undefined) return { reason: facts.message, patterns: patterns.filter(pattern => STYLE.exec(pattern)?.[1] === style) };
  const regex = (facts.name === "re.error" || facts.name === "re.PatternError") && traceback.includes("borg/patterns.py");
  if (regex) return { reason: facts.message, patterns: patterns.filter(pattern => STYLE.exec(pattern)?.[1] === "re") };
  return undefined;
}

/** A crash's one line: the exception and where in borg it happened, at most 300 characters. */
function crashLine(traceback: string): string {
  const facts = tracebackFacts(traceback);
  const line = `${facts.name}${facts.message ? `: ${facts.message}` : ""}${facts.borgFile ? ` (in ${facts.borgFile})` : ""}`;
  return line.length > 300 ? `${line.slice(0, 299)}…` : line;
}

/** What else a failed run left behind, beyond its log lines. */
export interface FailureOutput {
  /** borg's plain-text stderr lines (usage errors, a traceback before logging started). */
  text?: readonly string[];
  /** The patterns the command gave borg (exclude patterns, path patterns). */
  patterns?: readonly string[];
  /** What ssh wrote to its own log file (`-E`), when the runner gave it one. */
  ssh?: readonly string[];
}

/** ssh's lines as borg relays them: WARNINGs of the root logger that start with `Remote: `. */
export const isSshRelay = (log: LogMessage) => log.logger === "root" && log.message.startsWith("Remote: ");

/** Exceptions of a link that broke under borg (in borg/remote.py), not of borg itself. */
const LINK_EXCEPTIONS = new Set(["BrokenPipeError", "ConnectionResetError", "ConnectionAbortedError", "borg.remote.ConnectionClosed", "ConnectionClosed"]);

/** Whether a traceback is a broken link to borg serve rather than a crash of borg. */
export function isLinkBreak(traceback: string): boolean {
  const facts = tracebackFacts(traceback);
  return LINK_EXCEPTIONS.has(facts.name) && (facts.borgFile === undefined || facts.borgFile === "borg/remote.py");
}

/**
 * Decide the error of a failed run from what borg wrote: the first msgid that the table
 * knows wins (a connect-time close is refined by what ssh said); then a broken link, a full
 * disk, damaged data, a rejected pattern, a crash (a Python traceback, kept in the context for
 * the debug log, never in the message); otherwise `unknown` with what borg said.
 */
export function errorFromLogs(logs: readonly LogMessage[], context: BorgErrorContext, output: FailureOutput = {}): BorgError {
  const text = output.text ?? [];
  const ssh = sshFailure([...(output.ssh ?? []), ...logs.filter(isSshRelay).map(log => log.message)]);
  const withSsh = { ...context, ...(ssh ? { ssh } : {}) };
  const space = fullDisk(logs, context, text);
  for (const log of logs) {
    const kind = log.msgid === undefined ? undefined : MSGID_KINDS[log.msgid];
    if (kind === "disk_full") return borgError(kind, { ...context, space: space ?? { place: "repository" } });
    // ssh failed before borg could talk: ssh's own reason names the kind, when it gave one
    if (kind === "connection_closed") return borgError(ssh && ssh.kind !== "connection_lost" ? ssh.kind : kind, withSsh);
    if (kind === "connection_lost") return borgError(kind, withSsh);
    if (kind) return borgError(kind, context);
  }
  if (context.traceback !== undefined && isLinkBreak(context.traceback)) return borgError("connection_lost", withSsh);
  if (ssh && ssh.kind !== "connection_lost" && context.traceback === undefined) return borgError(ssh.kind, withSsh);
  if (space) return borgError("disk_full", { ...context, space });
  const damage = integrityDetail(logs);
  if (damage !== undefined) return borgError("integrity", { ...context, details: [damage] });
  const pattern = patternProblem(context.traceback, text, output.patterns ?? []);
  if (pattern) return borgError("invalid_pattern", { ...context, details: [pattern.reason], patterns: pattern.patterns });
  if (context.traceback !== undefined) return borgError("borg_crashed", { ...context, details: [crashLine(context.traceback)] });
  return borgError("unknown", context);
}

const STALE_LOCK = /^(?:Killed stale lock \S+\.(\d+)-\d+\.|Removed stale \w+ roster lock for host \S+ pid (\d+) thread \d+\.)$/;

/**
 * A WARNING of borg's that needs nothing from anyone, as a note; undefined for a real
 * warning. ssh says when it recorded a new host's key (SSH_HOST_KEY_POLICY=accept-new). borg removes the lock of one of its processes on this host that no longer
 * runs (a run killed, a machine that lost power) by itself, and says so as a warning.
 */
export function noteOf(log: LogMessage): string | undefined {
  if (log.level === "WARNING" && isSshRelay(log)) return sshNote(log.message);
  if (log.level !== "WARNING" || log.logger !== "borg.locking") return undefined;
  const found = STALE_LOCK.exec(log.message);
  if (!found) return undefined;
  return `borg removed a stale lock of its process ${found[1] ?? found[2] ?? "?"} on this host, which no longer runs (an earlier run was killed or crashed)`;
}
