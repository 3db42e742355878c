/** borg version detection and the features that differ between 1.2 and 1.4. */
import { borgError } from "./errors.mjs";

/** A parsed `borg --version`. */
export interface BorgVersion {
  major: number;
  minor: number;
  patch: number;
  /** The version as borg printed it, e.g. `1.2.4`. */
  text: string;
}

/** What the client may use with a given borg. */
export interface BorgFeatures {
  /** `BORG_EXIT_CODES=modern`: specific exit codes per error (1.4). */
  modernExitCodes: boolean;
  /** `--keep-13weekly` and `--keep-3monthly` in prune (1.4). */
  quarterlyKeepRules: boolean;
}

const VERSION_PATTERN = /^borg(?:\.exe)?\s+(\d+)\.(\d+)\.(\d+)\S*/m;

/** Parse the output of `borg --version`; throws for text that is not a borg version. */
export function parseVersion(output: string): BorgVersion {
  const match = VERSION_PATTERN.exec(output.trim());
  if (!match) throw new Error(`cannot read a borg version from ${JSON.stringify(output.slice(0, 80))}`);
  const [text, major, minor, patch] = match;
  return {
    major: Number(major),
    minor: Number(minor),
    patch: Number(patch),
    text: text.replace(/^borg(?:\.exe)?\s+/, ""),
  };
}

const atLeast = (version: BorgVersion, major: number, minor: number) =>
  version.major > major || (version.major === major && version.minor >= minor);

/** The supported range is 1.2.x to 1.4.x; anything else is refused with a clear message. */
export function assertSupported(version: BorgVersion): void {
  if (version.major !== 1 || version.minor < 2 || version.minor > 4) {
    throw borgError("unsupported_version", { command: "version", details: [version.text] });
  }
}

/** The feature gates of a version. */
export function featuresOf(version: BorgVersion): BorgFeatures {
  return {
    modernExitCodes: atLeast(version, 1, 4),
    quarterlyKeepRules: atLeast(version, 1, 4),
  };
}
