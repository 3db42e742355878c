/**
 * Repository hosts that are one machine under two names (`nas` and `192.168.1.10`): the
 * per-host limit counts runs by a canonical key, so that the drones naming the NAS either
 * way share its slot. Pure: the addresses each name resolved to come in (the fleet service
 * asks DNS); a name not resolved (yet, or at all) is its own key.
 */
import { isIP } from "node:net";

/** The addresses a host name resolved to, by name; a name without an entry is unresolved. */
export type Resolutions = ReadonlyMap<string, readonly string[]>;

/** Names found to be one machine: the key they count under and what made them one. */
export interface HostAlias {
  /** The smallest address the names share (directly or through a third name). */
  key: string;
  /** Two or more repository host names, sorted. */
  names: string[];
}

/** How the coordinator counts repository hosts. */
export interface HostGrouping {
  /** The key runs on this host count under: the group's smallest address, else the name itself. */
  keyOf: (name: string) => string;
  /** Groups of names that are one machine, sorted by key. */
  aliases: HostAlias[];
}

/** Hosts the coordinator makes up (`local:<drone>`, `offsite:<drone>`): never a machine to look up. */
export const isPlaceholderHost = (name: string) => name.includes(":") && isIP(name) === 0;

/** An IP literal in one spelling (`0:0::1` and `::1` are one address); undefined for a name. */
export function canonicalAddress(text: string): string | undefined {
  const version = isIP(text);
  if (version === 4) return text;
  // the URL parser writes IPv6 in its shortest, lowercase form
  if (version === 6) return new URL(`http://[${text}]/`).hostname.slice(1, -1);
  return undefined;
}

/** Whether a name should be looked up in DNS: not an IP literal and not a made-up host. */
export const needsLookup = (name: string) => canonicalAddress(name) === undefined && !isPlaceholderHost(name);

/** The addresses a name stands for: itself for an IP literal, what it resolved to for a name. */
function addressesOf(name: string, resolutions: Resolutions): string[] {
  const literal = canonicalAddress(name);
  if (literal !== undefined) return [literal];
  if (isPlaceholderHost(name)) return [];
  return (resolutions.get(name) ?? []).flatMap(address => canonicalAddress(address) ?? []);
}

/**
 * Group host names that share an address. Shared in part is enough: a NAS with two
 * interfaces resolves to both, and a drone that names one of them reaches the same disk.
 */
export function groupHosts(names: Iterable<string>, resolutions: Resolutions): HostGrouping {
  const parent = new Map<string, string>();
  const root = (name: string): string => {
    let current = name;
    for (let up = parent.get(current); up !== undefined && up !== current; up = parent.get(current)) current = up;
    return current;
  };
  const join = (a: string, b: string) => {
    const [ra, rb] = [root(a), root(b)];
    if (ra !== rb) parent.set(rb, ra);
  };

  const addresses = new Map<string, string[]>();
  const byAddress = new Map<string, string>();
  for (const name of new Set(names)) {
    parent.set(name, name);
    const found = addressesOf(name, resolutions);
    addresses.set(name, found);
    for (const address of found) {
      const first = byAddress.get(address);
      if (first === undefined) byAddress.set(address, name);
      else join(first, name);
    }
  }

  const groups = new Map<string, { names: string[]; addresses: string[] }>();
  for (const [name, found] of addresses) {
    const group = groups.get(root(name)) ?? { names: [], addresses: [] };
    group.names.push(name);
    group.addresses.push(...found);
    groups.set(root(name), group);
  }
  const keys = new Map<string, string>();
  const aliases: HostAlias[] = [];
  for (const group of groups.values()) {
    const smallest = [...group.addresses].sort()[0];
    for (const name of group.names) keys.set(name, smallest ?? name);
    if (smallest !== undefined && group.names.length > 1) aliases.push({ key: smallest, names: group.names.sort() });
  }
  aliases.sort((a, b) => a.key.localeCompare(b.key));
  return {
    keyOf: name => keys.get(name) ?? canonicalAddress(name) ?? name,
    aliases,
  };
}

/** One line for the log and Home Assistant: which names are one machine, and what to do. */
export function aliasWarning(alias: HostAlias, dronesByHost: ReadonlyMap<string, readonly string[]>): string {
  const named = alias.names.map(name => `${name} (${(dronesByHost.get(name) ?? []).join(", ") || "no drone now"})`);
  return (
    `repository hosts ${named.join(" and ")} are one machine (${alias.key}): their drones share the per-host limit; ` +
    `name it one way in every drone's REPOSITORY, or set the same REPOSITORY_HOST`
  );
}
