/**
 * What a borg exit code means, and every kind of failure the client reports: data without
 * imports, so that libs/protocol can name the kinds on the wire.
 */

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
