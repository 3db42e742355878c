/**
 * Repository locations as borg 1.2 and 1.4 read them: `ssh://user@host:port/path`,
 * scp-like `user@host:path`, `file:///path`, and local paths. The rules follow borg's own
 * (its `Location` class), so that what we call a host is the host borg connects to:
 * - `ssh://` needs a path starting with `/` (`/./repo` is relative to the remote home);
 * - an scp-like host is everything before the first `:` and holds no `/`, so `nas:/srv/x`,
 *   `nas:repo` and `nas:~/repo` are remote while `./a:b` and `/srv/a:b` are local; a bare
 *   `a:b` is host `a` (borg reads it so too);
 * - a path that starts with `:`, `//` or `ssh://` cannot follow a host (`nas://x` is local);
 * - IPv6 addresses are written in brackets: `[fe80::1]:repo`, `ssh://[::1]:2222/repo`.
 * Pure: no zod, no I/O.
 */

/** Where a borg repository lives. Hosts are lowercased, IPv6 addresses without brackets; paths as written. */
export type BorgLocation =
  | { kind: "local"; path: string }
  | { kind: "ssh"; user?: string; host: string; port?: number; path: string };

/** A location read, or why borg would not read it as a repository. */
export type LocationReading = { ok: true; location: BorgLocation } | { ok: false; reason: string };

/** `user@`: no `@`, `:` or `/` in the user name. */
const USER = /^([^@:/]+)@/;
/** An IPv6 (or IPv4) address in brackets. */
const BRACKETED = /^\[([0-9a-fA-F:.]+)\]/;
/** A host name or IPv4 address: no `:` or `/`; `[` first or `]` last would be a broken bracketed address. */
const NAME = /^[^:/]+/;
const PORT = /^:(\d+)$/;
const HIGHEST_PORT = 65_535;

interface Authority {
  user?: string;
  host: string;
  /** What follows the host. */
  rest: string;
}

const EXAMPLES = "e.g. /srv/borg/repo, ssh://user@host/./repo or user@host:repo";

/** The host at the start of `text`, and what follows it. */
function hostAt(text: string): { host: string; rest: string } | undefined {
  const bracketed = BRACKETED.exec(text);
  if (bracketed?.[1]) return { host: bracketed[1], rest: text.slice(bracketed[0].length) };
  const name = NAME.exec(text)?.[0];
  if (!name || name.startsWith("[") || name.endsWith("]")) return undefined;
  return { host: name, rest: text.slice(name.length) };
}

/**
 * `[user@]host` at the start of `text`, when what follows it satisfies `accept`. Like borg,
 * a user is tried first and then none (the host may then hold an `@`, as in `u@:repo`).
 */
function authorityAt(text: string, accept: (rest: string) => boolean): Authority | undefined {
  const user = USER.exec(text);
  if (user?.[1]) {
    const found = hostAt(text.slice(user[0].length));
    if (found && accept(found.rest)) return { user: user[1], ...found };
  }
  const found = hostAt(text);
  return found && accept(found.rest) ? found : undefined;
}

/** What `path` may not start with after a host, or in a local path (borg would mistake it for another form). */
const scpPathAllowed = (path: string) => path.length > 0 && !path.startsWith(":") && !path.startsWith("//") && !path.startsWith("ssh://");

/** A path, unless it names an archive too (`repo::archive`), which a repository location must not. */
function pathOf(path: string): LocationReading | string {
  if (path.includes("::")) {
    return { ok: false, reason: `it names an archive (\`::\`); give the repository alone, ${EXAMPLES}` };
  }
  return path;
}

const sshLocation = (authority: Pick<Authority, "user" | "host">, path: string, port?: number): BorgLocation => ({
  kind: "ssh",
  ...(authority.user === undefined ? {} : { user: authority.user }),
  host: authority.host.toLowerCase(),
  ...(port === undefined ? {} : { port }),
  path,
});

/** `ssh://[user@]host[:port]/path`: the authority ends at the first `/` (none of its parts may hold one). */
function readSshUrl(text: string): LocationReading {
  const rest = text.slice("ssh://".length);
  const slash = rest.indexOf("/");
  const invalid = (why: string): LocationReading => ({ ok: false, reason: `not a valid ssh:// location: ${why}; ${EXAMPLES}` });
  if (slash < 0 || slash === rest.length - 1) return invalid("it needs a path after the host, starting with / (/./repo for one in the remote home)");
  const authority = authorityAt(rest.slice(0, slash), after => after === "" || PORT.test(after));
  if (!authority) return invalid("the host must be a name, an IPv4 address or an IPv6 address in brackets, with an optional :port");
  const portText = PORT.exec(authority.rest)?.[1];
  const port = portText === undefined ? undefined : Number(portText);
  if (port !== undefined && port > HIGHEST_PORT) return invalid(`port ${port} is above ${HIGHEST_PORT}`);
  const path = pathOf(rest.slice(slash));
  if (typeof path !== "string") return path;
  // borg treats port 0 as no port
  return { ok: true, location: sshLocation(authority, path, port === 0 ? undefined : port) };
}

/** `file://[server]/path`: borg keeps everything after `file://` as the path. */
function readFileUrl(text: string): LocationReading | undefined {
  const path = text.slice("file://".length);
  const slash = path.indexOf("/");
  if (slash < 0 || slash === path.length - 1) return undefined;
  const checked = pathOf(path);
  return typeof checked === "string" ? { ok: true, location: { kind: "local", path: checked } } : checked;
}

/**
 * Read a repository location as borg 1.2/1.4 do; a text borg would refuse, or one that names an
 * archive, gives the reason (which never repeats the text: a URL may carry a password).
 */
export function parseLocation(text: string): LocationReading {
  if (text === "") return { ok: false, reason: `it is empty; ${EXAMPLES}` };
  // borg would try the scp-like form next, which refuses a path starting with `ssh://` too
  if (text.startsWith("ssh://")) return readSshUrl(text);
  if (text.startsWith("file://")) {
    const file = readFileUrl(text);
    if (file) return file;
  }
  const remote = authorityAt(text, after => after.startsWith(":") && scpPathAllowed(after.slice(1)));
  if (remote) {
    const path = pathOf(remote.rest.slice(1));
    return typeof path === "string" ? { ok: true, location: sshLocation(remote, path) } : path;
  }
  if (!scpPathAllowed(text)) {
    return { ok: false, reason: `not a repository location borg reads (a local path may not start with : or //); ${EXAMPLES}` };
  }
  const path = pathOf(text);
  return typeof path === "string" ? { ok: true, location: { kind: "local", path } } : path;
}
