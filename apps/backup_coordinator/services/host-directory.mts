/**
 * What DNS says of the drones' repository hosts, kept fresh in the background. Scheduling
 * never waits for it: a name not resolved yet (or whose lookup failed) counts as itself,
 * and an answer that arrives later only changes how hosts group from then on. A failed
 * refresh keeps the previous answer (a DNS hiccup must not split a NAS into two hosts).
 */
import { lookup } from "node:dns/promises";

import { withDeadline } from "../../../libs/ha/deadline.mjs";
import { needsLookup, type Resolutions } from "../core/hosts.mjs";
import { errorText } from "../../../libs/config/errors.mjs";

/** A name looked up again after this long. */
export const HOST_REFRESH_MS = 10 * 60_000;
/** A name whose lookup failed is tried again after this long. */
export const HOST_RETRY_MS = 60_000;
/** A lookup not answered within this is given up (the resolver may hang on a dead DNS server). */
export const HOST_LOOKUP_DEADLINE_MS = 5_000;

/** How the directory looks names up, and whom it tells. */
export interface HostDirectoryOptions {
  /** The addresses of a name; rejects when it has none. */
  resolve?: (name: string) => Promise<string[]>;
  /** Milliseconds, monotonic. */
  clock?: () => number;
  /** The resolutions changed (a name resolved, or its addresses changed). */
  onChange: () => void;
  /** A lookup failed (the name then counts as itself). */
  onFailure?: (name: string, reason: string) => void;
}

/** The directory's API. */
export interface HostDirectory {
  /** Look up the names that are due (new, stale, or failed a while ago); returns at once. */
  refresh(names: Iterable<string>): void;
  /** The addresses known so far, by name. */
  resolutions(): Resolutions;
  /** A name's first lookup is under way (at most HOST_LOOKUP_DEADLINE_MS): its drones wait for it. */
  pending(name: string): boolean;
  /** Resolves once the lookups under way have settled (tests, shutdown). */
  settled(): Promise<void>;
}

/** Every address of a name, as the system resolver (/etc/hosts, DNS, mDNS…) gives them. */
export const systemResolve = async (name: string): Promise<string[]> => (await lookup(name, { all: true })).map(entry => entry.address);

const sameAddresses = (a: readonly string[] | undefined, b: readonly string[]) =>
  a !== undefined && a.length === b.length && [...a].sort().join(" ") === [...b].sort().join(" ");

/** Create a host directory. */
export function createHostDirectory({ resolve = systemResolve, clock = () => performance.now(), onChange, onFailure }: HostDirectoryOptions): HostDirectory {
  const known = new Map<string, string[]>();
  const nextAt = new Map<string, number>();
  const inflight = new Map<string, Promise<void>>();

  const look = async (name: string) => {
    const outcome = await withDeadline(resolve(name), HOST_LOOKUP_DEADLINE_MS);
    if (!outcome.ok || outcome.value.length === 0) {
      const first = !nextAt.has(name);
      nextAt.set(name, clock() + HOST_RETRY_MS);
      onFailure?.(name, outcome.ok ? "no address" : outcome.reason);
      // a first lookup settled: drones waiting for it count the name as itself now
      if (first) onChange();
      return;
    }
    nextAt.set(name, clock() + HOST_REFRESH_MS);
    if (sameAddresses(known.get(name), outcome.value)) return;
    known.set(name, outcome.value);
    onChange();
  };

  return {
    refresh: names => {
      const now = clock();
      for (const name of new Set(names)) {
        if (!needsLookup(name) || inflight.has(name) || (nextAt.get(name) ?? Number.NEGATIVE_INFINITY) > now) continue;
        const running = look(name)
          .catch((error: unknown) => onFailure?.(name, errorText(error)))
          .finally(() => inflight.delete(name));
        inflight.set(name, running);
      }
    },
    resolutions: () => known,
    pending: name => inflight.has(name) && !nextAt.has(name),
    settled: async () => {
      await Promise.allSettled([...inflight.values()]);
    },
  };
}
