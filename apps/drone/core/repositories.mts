/**
 * The drone's repositories (the primary and, optionally, an offsite one): how the
 * configuration describes each to borg, the host it lives on, this drone's archive prefix,
 * and the real borg client the engine uses unless it is given another.
 */
import { join } from "node:path";

import {
  type BorgClient,
  type BorgRepository,
  createBorgClient,
  type CreateOptions,
  parseLocation,
} from "../../../libs/borg/index.mjs";
import { type RepositoryRole } from "../../../libs/protocol/index.mjs";
import { type DroneConfig, secretConfigVariables } from "../config.mjs";
import { DroneError } from "./errors.mjs";
import { type DroneLog } from "./run-context.mjs";

/** Which repository a step works on (primary or offsite), as the protocol names it. */
export type { RepositoryRole };


/** Archive names: `<drone id>@<local time>`; `@` cannot occur in a drone id, so prefixes never overlap. */
export const archivePrefixOf = (droneId: string) => `${droneId}@`;

/**
 * The host a repository lives on, as borg reads the location (`nas` for `ssh://borg@nas/./x`,
 * `borg@nas:/srv/x` or `nas:x`; an IPv6 address without brackets); `local:<drone id>` for a
 * local path, and for a location borg would refuse (the configuration refuses it first).
 */
export function repositoryHost(location: string, droneId: string): string {
  const reading = parseLocation(location);
  return reading.ok && reading.location.kind === "ssh" ? reading.location.host : `local:${droneId}`;
}

/** The failure of asking for the offsite repository of a drone that has none. */
export const noOffsite = () => new DroneError("no_offsite", "no offsite repository is configured (OFFSITE_REPOSITORY)");

/** The borg repository of a role, as the drone's configuration describes it. */
export function repositoryOf(config: DroneConfig, role: RepositoryRole): BorgRepository {
  const location = role === "offsite" ? config.offsite?.repository : config.repository;
  if (!location) throw noOffsite();
  return {
    location,
    passphrase: role === "offsite" ? config.offsite?.passphrase : config.passphrase,
    passphraseTransport: config.passphraseTransport,
    rsh: config.rsh,
    sshHostKeyPolicy: config.sshHostKeyPolicy,
    remotePath: config.remotePath,
    baseDir: config.borgBaseDir,
    lockWaitSeconds: config.lockWaitSeconds,
    allowRelocated: config.allowRelocated,
    allowUnknownUnencrypted: config.allowUnknownUnencrypted,
  };
}

/** What the drone asks `borg create` for, on a role's repository, from its configuration. */
export function createOptionsOf(config: DroneConfig, role: RepositoryRole, archive: string): CreateOptions {
  return {
    archive,
    paths: config.sources,
    compression: config.compression,
    excludes: config.excludes,
    excludeIfPresent: config.excludeIfPresent,
    oneFileSystem: config.oneFileSystem,
    checkpointIntervalSeconds: config.checkpointIntervalSeconds,
    uploadRateLimitKiB: (role === "offsite" ? config.offsite?.uploadRateLimitKiB : config.uploadRateLimitKiB) || undefined,
  };
}

/** Makes the borg client of a role; the engine takes another one in tests (a fake that runs no borg). */
export type BorgClientFactory = (config: DroneConfig, role: RepositoryRole, log: DroneLog) => BorgClient;

/** The real borg client of a role. */
export const realBorgClient: BorgClientFactory = (config, role, log) =>
  createBorgClient(repositoryOf(config, role), {
    binary: config.borgBinary,
    nice: config.nice > 0 ? config.nice : undefined,
    ionice: config.ionice,
    graceMs: 8000,
    // borg and a passcommand inherit none of the drone's own secrets
    dropEnv: secretConfigVariables(),
    passcommandTimeoutMs: config.passcommandTimeoutSeconds * 1000,
    // a one-shot prune would otherwise start borg twice: `borg --version`, then prune
    versionCacheFile: join(config.stateDir, "borg-version.json"),
    // the error says what crashed in one line; the whole traceback is for whoever debugs it
    onTraceback: traceback => log.debug(`borg's traceback:\n${traceback}`),
  });
