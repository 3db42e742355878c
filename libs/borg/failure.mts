/**
 * What a failed borg run's output says: tracebacks, damaged data, a full disk, a bad pattern,
 * a broken ssh link, stale locks borg removed; and the typed error that output means.
 */
import { type BorgErrorKind, MODERN_EXIT_KINDS } from "./error-kinds.mjs";
import { type BorgError, type BorgErrorContext, borgError, type FullDisk, MSGID_KINDS } from "./errors.mjs";
import type { LogMessage } from "./log-lines.mjs";
import { sshFailure, sshNote } from "./ssh.mjs";

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
 * knows wins (a connect-time close is refined by what ssh said), then borg 1.4's modern exit
 * code (MODERN_EXIT_KINDS); then a broken link, a full
 * disk, damaged data, a rejected pattern, a crash (a Python traceback, kept in the context for
 * the debug log, never in the message); otherwise `unknown` with what borg said.
 */
export function errorFromLogs(logs: readonly LogMessage[], context: BorgErrorContext, output: FailureOutput = {}): BorgError {
  const text = output.text ?? [];
  const ssh = sshFailure([...(output.ssh ?? []), ...logs.filter(isSshRelay).map(log => log.message)]);
  const withSsh = { ...context, ...(ssh ? { ssh } : {}) };
  const space = fullDisk(logs, context, text);
  const typed = (kind: BorgErrorKind) => {
    if (kind === "disk_full") return borgError(kind, { ...context, space: space ?? { place: "repository" } });
    // ssh failed before borg could talk: ssh's own reason names the kind, when it gave one
    if (kind === "connection_closed") return borgError(ssh && ssh.kind !== "connection_lost" ? ssh.kind : kind, withSsh);
    if (kind === "connection_lost") return borgError(kind, withSsh);
    return borgError(kind, context);
  };
  for (const log of logs) {
    const kind = log.msgid === undefined ? undefined : MSGID_KINDS[log.msgid];
    if (kind) return typed(kind);
  }
  // borg 1.4's modern exit code names the error when no line carried a msgid we know
  const byCode = context.exitCode === undefined ? undefined : MODERN_EXIT_KINDS[context.exitCode];
  if (byCode) return typed(byCode);
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
