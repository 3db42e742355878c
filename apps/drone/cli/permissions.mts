/**
 * Files that hold a secret of the drone (a passphrase file, a configuration or env file with
 * a passphrase or token) and that other users can read: each gets a warning that names the
 * file and the `chmod` that fixes it. The drone still runs: the warning is for the person.
 */
import { statSync } from "node:fs";

import { SECRET_VARIABLE_NAME } from "../../../libs/borg/environment.mjs";
import { shellWord } from "../../../libs/borg/ssh.mjs";
import { secretConfigVariables } from "../config.mjs";

/** A file that holds a secret, and what it holds (for the message). */
export interface SecretFile {
  path: string;
  holds: string;
}

/** The warning for a secret file with this mode, when its group or other users can read it. */
export function permissionWarning(file: SecretFile, mode: number): string | undefined {
  if ((mode & 0o044) === 0) return undefined;
  const who = (mode & 0o004) !== 0 ? "every user of this machine" : "its group";
  const octal = (mode & 0o777).toString(8).padStart(4, "0");
  return `${file.path} holds ${file.holds} and ${who} can read it (mode ${octal}); fix it with: chmod 600 ${shellWord(file.path)}`;
}

/** What a configuration file's sections hold that is secret, in words; undefined when nothing. */
export function configFileSecrets(sections: Record<string, Record<string, unknown>>): string | undefined {
  const given = (value: unknown) => typeof value === "string" && value.trim().length > 0;
  const held = [
    given(sections.drone?.PASSPHRASE) || given(sections.drone?.OFFSITE_PASSPHRASE) ? "a repository passphrase" : undefined,
    given(sections.hass?.TOKEN) ? "the Home Assistant token" : undefined,
  ].filter(text => text !== undefined);
  return held.length > 0 ? held.join(" and ") : undefined;
}

/** What an env file's variables hold that is secret, in words; undefined when nothing. */
export function envFileSecrets(variables: NodeJS.Dict<string>): string | undefined {
  const configured = new Set(secretConfigVariables().map(name => name.toUpperCase()));
  const names = Object.entries(variables)
    .filter(([name, value]) => (value ?? "").trim().length > 0 && (SECRET_VARIABLE_NAME.test(name) || configured.has(name.toUpperCase())))
    .map(([name]) => name);
  return names.length > 0 ? `secrets (${names.join(", ")})` : undefined;
}

/** The warnings for the files that exist; a file that cannot be read is reported elsewhere, when it is used. */
export function secretFileWarnings(files: readonly SecretFile[], mode = (path: string) => statSync(path).mode): string[] {
  const warnings: string[] = [];
  for (const file of files) {
    let found: number;
    try {
      found = mode(file.path);
    } catch {
      continue;
    }
    const warning = permissionWarning(file, found);
    if (warning) warnings.push(warning);
  }
  return warnings;
}
