/**
 * borg's ssh, run so that it never asks: the options the client appends to BORG_RSH, and what
 * ssh's own lines say when a connection fails. Pure: nothing here spawns or reads a file.
 *
 * borg 1.2 relays ssh's stderr as `Remote: …` WARNING lines of the root logger, but only what it
 * reads before it sees the connection close: ssh's last words (`Host key verification failed.`)
 * are usually lost. So the runner also has ssh write its messages to a file of its own (`-E`),
 * and both sources are read here.
 */

import { parseLocation } from "./location.mjs";

/** How ssh treats a host whose key is not in known_hosts. */
export const SSH_HOST_KEY_POLICIES = ["known", "accept-new"] as const;
/** `known`: only hosts already in known_hosts; `accept-new`: record a new host's key, refuse a changed one. */
export type SshHostKeyPolicy = (typeof SSH_HOST_KEY_POLICIES)[number];

/** ssh's keep-alive: a link that answers nothing for INTERVAL × COUNT seconds is given up. */
export const SSH_ALIVE_INTERVAL_SECONDS = 10;
/** Unanswered keep-alives before ssh gives up. */
export const SSH_ALIVE_COUNT = 3;
/** How long ssh waits for the TCP connection and the server's greeting. */
export const SSH_CONNECT_TIMEOUT_SECONDS = 20;

/**
 * The `-o` options the client appends to the configured ssh command. ssh keeps the first value
 * it reads of an option, so whatever the configured command sets itself wins.
 */
export function sshOptions(policy: SshHostKeyPolicy = "known"): string[] {
  return [
    "-o",
    "BatchMode=yes",
    "-o",
    `StrictHostKeyChecking=${policy === "known" ? "yes" : "accept-new"}`,
    "-o",
    `ServerAliveInterval=${SSH_ALIVE_INTERVAL_SECONDS}`,
    "-o",
    `ServerAliveCountMax=${SSH_ALIVE_COUNT}`,
    "-o",
    `ConnectTimeout=${SSH_CONNECT_TIMEOUT_SECONDS}`,
  ];
}

/** Quote one word for Python's `shlex.split`, which is how borg reads BORG_RSH. */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Whether the configured ssh command names its own log file (`-E`): then the client adds none. */
export function hasLogFile(rsh: string): boolean {
  return rsh.split(/\s+/).some(word => word === "-E" || /^-[^-\s]*E/.test(word));
}

/** The effective BORG_RSH: the configured command (default `ssh`), then the client's options (the runner adds `-E logFile`, see {@link withLogFile}). */
export function effectiveRsh(configured: string | undefined, policy: SshHostKeyPolicy = "known"): string {
  const base = configured?.trim() || "ssh";
  return [base, ...sshOptions(policy)].join(" ");
}

/** BORG_RSH with `-E logFile` appended, unless the command names a log file of its own. */
export function withLogFile(rsh: string, logFile: string): string {
  return hasLogFile(rsh) ? rsh : `${rsh} -E ${shellWord(logFile)}`;
}

/** Where an ssh:// (or scp-style `user@host:path`) repository lives; undefined for a local path. */
export interface SshTarget {
  host: string;
  port: number;
}

/** The host and port of a remote repository location; undefined when it is a local path. */
export function sshTarget(location: string): SshTarget | undefined {
  const reading = parseLocation(location);
  if (!reading.ok || reading.location.kind !== "ssh") return undefined;
  return { host: reading.location.host, port: reading.location.port ?? 22 };
}

/** Whether borg reaches this repository over ssh. */
export const isRemote = (location: string) => sshTarget(location) !== undefined;

/** The ssh failure kinds (a subset of the client's error kinds). */
export type SshFailureKind =
  | "ssh_host_unknown"
  | "ssh_host_key_changed"
  | "ssh_auth_denied"
  | "ssh_connection_refused"
  | "ssh_unreachable"
  | "connection_lost";

/** Why ssh failed, in its own words. */
export interface SshFailure {
  kind: SshFailureKind;
  /** The line ssh printed that says it (one line, trimmed). */
  line: string;
  /** The fingerprint of the key the host sent, when ssh printed it (a changed host key). */
  fingerprint?: string;
}

/** ssh's lines and the failure each means; the first rule that matches any line wins. */
const SSH_RULES: readonly { kind: SshFailureKind; pattern: RegExp; reason?: RegExp }[] = [
  // the big banner of a changed key also ends in "Host key verification failed.": check it first
  { kind: "ssh_host_key_changed", pattern: /REMOTE HOST IDENTIFICATION HAS CHANGED|^Host key for .* has changed/, reason: /^Host key for .* has changed/ },
  { kind: "ssh_host_unknown", pattern: /^No \S+ host key is known for |^Host key verification failed/, reason: /^No \S+ host key is known for / },
  { kind: "ssh_auth_denied", pattern: /Permission denied \(|Too many authentication failures/ },
  { kind: "ssh_connection_refused", pattern: /Connection refused/ },
  { kind: "ssh_unreachable", pattern: /Could not resolve hostname|No route to host|Network is unreachable|Connection timed out|connect to host .* timed out|port \d+ timed out|Name or service not known|Temporary failure in name resolution/ },
  { kind: "connection_lost", pattern: /^Timeout, server .* not responding|Connection reset|closed by remote host|Broken pipe|^client_loop: send disconnect/ },
];

/** The lines ssh wrote: borg's `Remote: ` relays from the root logger, and its own log file. */
export function sshLines(lines: readonly string[]): string[] {
  return lines
    .flatMap(line => line.split(/\r?\n|\r/))
    .map(line => line.replace(/^Remote: /, "").trim())
    .filter(line => line.length > 0 && !/^@+$/.test(line));
}

/** What ssh's lines say about a failure; undefined when they name none. */
export function sshFailure(lines: readonly string[]): SshFailure | undefined {
  const clean = sshLines(lines);
  for (const rule of SSH_RULES) {
    const found = clean.find(line => rule.pattern.test(line));
    if (found === undefined) continue;
    const line = (rule.reason ? clean.find(candidate => rule.reason?.test(candidate)) : undefined) ?? found;
    const fingerprint = rule.kind === "ssh_host_key_changed" ? clean.map(text => /^(SHA256:[\w+/=]+)\.?$/.exec(text)?.[1]).find(Boolean) : undefined;
    return { kind: rule.kind, line: line.length > 300 ? `${line.slice(0, 299)}…` : line, ...(fingerprint ? { fingerprint } : {}) };
  }
  return undefined;
}

/** ssh's note that it recorded a new host key (`SSH_HOST_KEY_POLICY=accept-new`), as a note; undefined otherwise. */
export function sshNote(line: string): string | undefined {
  const found = /^(?:Remote: )?Warning: Permanently added (\S+) \((\S+)\) to the list of known hosts\.?/.exec(line.trim());
  return found ? `ssh recorded the ${found[2] ?? ""} host key of ${(found[1] ?? "").replace(/^'|'$/g, "")} in known_hosts (first connection)` : undefined;
}
