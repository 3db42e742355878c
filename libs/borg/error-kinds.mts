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

/**
 * borg 1.4's modern exit codes (BORG_EXIT_CODES=modern, which the client always sets and 1.2
 * ignores) and the kind each means: the same errors as the msgids of errors.mts MSGID_KINDS,
 * for a run whose error lines carry no msgid the client knows. Codes not listed here (2, and
 * the many specific errors the drone has no kind for) leave the decision to borg's output.
 */
export const MODERN_EXIT_KINDS: Readonly<Record<number, BorgErrorKind>> = {
  13: "repository_missing", // Repository.DoesNotExist
  14: "disk_full", // Repository.InsufficientFreeSpaceError
  15: "repository_invalid", // Repository.InvalidRepository
  16: "repository_invalid", // Repository.InvalidRepositoryConfig
  17: "integrity", // Repository.ObjectNotFound
  20: "disk_full", // Repository.StorageQuotaExceeded
  30: "archive_exists", // Archive.AlreadyExists
  31: "archive_missing", // Archive.DoesNotExist
  50: "passphrase_missing", // NoPassphraseFailure
  51: "passphrase_wrong", // PasscommandFailure
  52: "passphrase_wrong", // PassphraseWrong
  53: "passphrase_missing", // PasswordRetriesExceeded
  60: "repository_access_aborted", // Cache.CacheInitAbortedError
  62: "repository_access_aborted", // Cache.RepositoryAccessAborted
  63: "repository_invalid", // Cache.RepositoryIDNotUnique
  72: "lock_timeout", // LockFailed
  73: "lock_timeout", // LockTimeout
  80: "connection_lost", // ConnectionClosed
  81: "connection_closed", // ConnectionClosedWithHint
  83: "repository_path_refused", // PathNotAllowed
  87: "connection_lost", // ConnectionBrokenWithHint
  90: "integrity", // IntegrityError
  91: "integrity", // FileIntegrityError
  92: "integrity", // DecompressionError
};

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
